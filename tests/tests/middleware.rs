//! Middleware over real HTTP, on both backends: CORS, bearer tokens, API keys, rate limits
//! (in process and in Redis) and user hooks. The routes live under `/mw` in `ember.yaml`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ember_runtime::test_util::require_or_skip;
use ember_tests::{App, BACKENDS, Client, Reply, parse_reply, start};

fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut c = Client::connect(addr);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    c.send(head.as_bytes());
    c.read_reply(method == "HEAD").expect("a response")
}

fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, headers)
}

/// A counter for [`unique`] and [`fresh_loopback`]: rate-limit buckets live as long as the
/// process, so every test run (and every backend in it) takes values of its own.
static NEXT: AtomicU32 = AtomicU32::new(2);

/// A value no other test (in this process or another one) uses, for rate-limit keys.
fn unique(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{}-{n}", std::process::id())
}

/// A loopback address (127.0.0.N, N ≥ 2) no other request of this process came from:
/// Linux routes all of 127/8 to `lo`, so a client bound to it reaches the server on
/// 127.0.0.1 with a peer address whose rate-limit bucket is untouched.
fn fresh_loopback() -> Ipv4Addr {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(n < 255 * 250, "out of loopback addresses");
    Ipv4Addr::new(127, 0, (n / 250) as u8, (n % 250 + 2) as u8)
}

/// A GET sent from source address `from`.
fn get_from(from: Ipv4Addr, addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(from, 0)).into())
        .unwrap_or_else(|e| panic!("bind {from}: {e}"));
    socket.connect(&addr.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    parse_reply(&buf, false).map(|(r, _)| r).unwrap_or_else(|| {
        panic!(
            "no response from {from}: {:?}",
            String::from_utf8_lossy(&buf)
        )
    })
}

/// Asserts the headers of an allowed request: `limit` and `remaining`.
fn assert_allowed(r: &Reply, limit: &str, remaining: &str, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    assert_eq!(r.header("ratelimit-limit"), Some(limit), "{what}");
    assert_eq!(r.header("ratelimit-remaining"), Some(remaining), "{what}");
    assert!(r.header("ratelimit-reset").is_some(), "{what}");
    assert_eq!(r.header("retry-after"), None, "{what}");
}

/// Asserts a refusal: 429 with `Retry-After` within `retry` seconds and the `RateLimit-*`
/// headers of an empty bucket.
fn assert_refused(r: &Reply, limit: &str, retry: std::ops::RangeInclusive<u64>, what: &str) {
    assert_eq!(r.status, 429, "{what}: {}", r.text());
    let after: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no Retry-After in {:?}", r.headers));
    assert!(
        retry.contains(&after),
        "{what}: Retry-After {after}, not in {retry:?}"
    );
    assert_eq!(r.header("ratelimit-limit"), Some(limit), "{what}");
    assert_eq!(r.header("ratelimit-remaining"), Some("0"), "{what}");
    assert!(r.header("ratelimit-reset").is_some(), "{what}");
}

#[test]
fn cors_actual_requests() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let a = server.local_addr();
        let r = get(a, "/mw/cors", &[("Origin", "https://app.test")]);
        assert_eq!(r.status, 200, "{backend}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.test")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("x-request-id")
        );
        assert_eq!(r.header("vary"), Some("Origin"));
        assert_eq!(r.text(), "Hello, World!");
        // Suffix match.
        let r = get(a, "/mw/cors", &[("Origin", "https://api.example.com:8443")]);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://api.example.com:8443")
        );
        // Not allowed: served, but no CORS headers (the browser blocks it); never reflected.
        for bad in [
            "https://evil.test",
            "https://example.com",
            "https://evilexample.com",
            "null",
        ] {
            let r = get(a, "/mw/cors", &[("Origin", bad)]);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("access-control-allow-origin"), None, "{bad}");
            assert_eq!(r.header("vary"), Some("Origin"));
        }
        // No Origin: a plain request.
        let r = get(a, "/mw/cors", &[]);
        assert_eq!(r.header("access-control-allow-origin"), None);
        // Skipped on this route.
        let r = get(a, "/mw/nocors", &[("Origin", "https://app.test")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), None);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn cors_preflight() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let a = server.local_addr();
        let pre = |origin: &str, method: &str, headers: &str| {
            let mut h = vec![
                ("Origin", origin),
                ("Access-Control-Request-Method", method),
            ];
            if !headers.is_empty() {
                h.push(("Access-Control-Request-Headers", headers));
            }
            request(a, "OPTIONS", "/mw/cors", &h)
        };
        let r = pre("https://app.test", "PUT", "Content-Type, Authorization");
        assert_eq!(r.status, 204, "{backend}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.test")
        );
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET, POST, PUT")
        );
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type, authorization")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-max-age"), Some("600"));
        assert!(r.header("vary").unwrap_or("").contains("Origin"));
        assert_eq!(r.text(), "", "the handler is not called");
        // A preflight reaches routes behind auth without credentials.
        let r = request(
            a,
            "OPTIONS",
            "/mw/bearer/whoami",
            &[
                ("Origin", "https://app.test"),
                ("Access-Control-Request-Method", "GET"),
            ],
        );
        assert_eq!(r.status, 204);
        // Refused: origin, method, header.
        assert_eq!(pre("https://evil.test", "PUT", "").status, 403);
        assert_eq!(pre("https://app.test", "DELETE", "").status, 403);
        assert_eq!(pre("https://app.test", "GET", "x-secret").status, 403);
        assert_eq!(
            pre("https://evil.test", "PUT", "").header("access-control-allow-origin"),
            None
        );
        // A plain OPTIONS is 204 with Allow, as on any path.
        let r = request(a, "OPTIONS", "/mw/cors", &[]);
        assert_eq!(r.status, 204);
        assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, OPTIONS"));
        // Routes without CORS answer OPTIONS with the router's 204, without CORS headers.
        let r = request(
            a,
            "OPTIONS",
            "/plaintext",
            &[
                ("Origin", "https://app.test"),
                ("Access-Control-Request-Method", "GET"),
            ],
        );
        assert_eq!(r.status, 204);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(r.header("access-control-allow-origin"), None);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn bearer_tokens() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let a = server.local_addr();
        let r = get(a, "/mw/bearer/whoami", &[]);
        assert_eq!(r.status, 401, "{backend}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"tests\""));
        let r = get(a, "/mw/bearer/whoami", &[("Authorization", "Bearer nope")]);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"tests\", error=\"invalid_token\"")
        );
        for (tok, id) in [
            ("alice-token", "alice"),
            ("bob-token", "bob"),
            ("bare-token", "#3"),
        ] {
            let auth = format!("Bearer {tok}");
            let r = get(a, "/mw/bearer/whoami", &[("Authorization", &auth)]);
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), format!("id={id}"));
        }
        // The scheme is case-insensitive; a prefix of a token is not the token.
        let r = get(
            a,
            "/mw/bearer/whoami",
            &[("authorization", "bearer alice-token")],
        );
        assert_eq!(r.text(), "id=alice");
        let r = get(
            a,
            "/mw/bearer/whoami",
            &[("Authorization", "Bearer alice-toke")],
        );
        assert_eq!(r.status, 401);
        let r = get(
            a,
            "/mw/bearer/whoami",
            &[("Authorization", "Basic YWxpY2U6eA==")],
        );
        assert_eq!(r.status, 401);
        // CORS (outer) still decorates the 401 from the bearer layer (inner).
        let r = get(a, "/mw/bearer/whoami", &[("Origin", "https://app.test")]);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.test")
        );
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn bearer_verify_function() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let a = server.local_addr();
        let r = get(
            a,
            "/mw/verify/whoami",
            &[("Authorization", "Bearer letmein")],
        );
        assert_eq!(r.status, 200, "{backend}");
        assert_eq!(r.text(), "id=verified-user");
        let r = get(a, "/mw/verify/whoami", &[("Authorization", "Bearer wrong")]);
        assert_eq!(r.status, 401);
        assert_eq!(get(a, "/mw/verify/whoami", &[]).status, 401);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn api_key_header() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let a = server.local_addr();
        let r = get(a, "/mw/key/whoami", &[("X-Api-Key", "key-123")]);
        assert_eq!(r.status, 200, "{backend}");
        assert_eq!(r.text(), "id=svc");
        let r = get(a, "/mw/key/whoami", &[("X-Api-Key", "key-12")]);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some("ApiKey realm=\"api\", header=\"x-api-key\"")
        );
        assert_eq!(get(a, "/mw/key/whoami", &[]).status, 401);
        // The key in the query does not count for a header key.
        assert_eq!(get(a, "/mw/key/whoami?api_key=key-123", &[]).status, 401);
        server.shutdown().expect("clean shutdown");
    }
}

// Rate limits: the buckets are process-wide (a `static` per route in the generated code,
// shared by every server of this test binary), so each backend's pass counts against a key
// of its own (a unique header value, forwarded address, source address or identity) and
// asserts exact counts: with burst B, exactly B requests are allowed, then 429.

#[test]
fn rate_limit_by_header() {
    for backend in BACKENDS {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        let me = unique("h");
        for left in ["2", "1", "0"] {
            let r = get(a, "/mw/rl/header", &[("X-Client", &me)]);
            assert_allowed(&r, "3", left, &format!("{backend}: {me}"));
        }
        let r = get(a, "/mw/rl/header", &[("X-Client", &me)]);
        // rate 3/min: a token every 20 s.
        assert_refused(&r, "3", 19..=20, &format!("{backend}: {me}"));
        // Another key has its own bucket.
        let other = unique("h2");
        let r = get(a, "/mw/rl/header", &[("X-Client", &other)]);
        assert_allowed(&r, "3", "2", &format!("{backend}: {other}"));
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn rate_limit_by_forwarded_address_from_a_trusted_proxy() {
    for backend in BACKENDS {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        // 127.0.0.1 is a trusted proxy on /proxied: the forwarded address is the key.
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let ip = Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff));
        let xff = format!("{ip}, 127.0.0.1");
        let what = format!("{backend}: {xff}");
        for left in ["1", "0"] {
            let r = get(a, "/mw/rl/proxied", &[("X-Forwarded-For", &xff)]);
            assert_allowed(&r, "2", left, &what);
        }
        let r = get(a, "/mw/rl/proxied", &[("X-Forwarded-For", &xff)]);
        // rate 2/min: a token every 30 s.
        assert_refused(&r, "2", 29..=30, &what);
        // Another forwarded address has its own bucket...
        let other = format!("{}, 127.0.0.1", Ipv4Addr::from(u32::from(ip) ^ 0x0080_0000));
        let r = get(a, "/mw/rl/proxied", &[("X-Forwarded-For", &other)]);
        assert_allowed(&r, "2", "1", &format!("{backend}: {other}"));
        // ...but only when the peer is a trusted proxy: from 127.0.0.N the header is
        // ignored and the peer is the key (a fresh one, so a full bucket).
        let peer = fresh_loopback();
        let what = format!("{backend}: from {peer} with {xff}");
        for left in ["1", "0"] {
            let r = get_from(peer, a, "/mw/rl/proxied", &[("X-Forwarded-For", &xff)]);
            assert_allowed(&r, "2", left, &what);
        }
        let r = get_from(peer, a, "/mw/rl/proxied", &[("X-Forwarded-For", &other)]);
        assert_refused(&r, "2", 29..=30, &what);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn rate_limit_by_client_ip_ignores_a_forged_forwarded_for() {
    for backend in BACKENDS {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        // /direct trusts no proxy: the TCP peer is the key, whatever X-Forwarded-For says,
        // so a forged header does not buy a new bucket.
        let peer = fresh_loopback();
        let what = format!("{backend}: from {peer}");
        for (i, left) in ["1", "0"].into_iter().enumerate() {
            let forged = format!("192.0.2.{i}");
            let r = get_from(peer, a, "/mw/rl/direct", &[("X-Forwarded-For", &forged)]);
            assert_allowed(&r, "2", left, &what);
        }
        let r = get_from(
            peer,
            a,
            "/mw/rl/direct",
            &[("X-Forwarded-For", "192.0.2.9")],
        );
        assert_refused(&r, "2", 29..=30, &what);
        let r = get_from(peer, a, "/mw/rl/direct", &[]);
        assert_refused(&r, "2", 29..=30, &what);
        // Another client address has its own bucket.
        let other = fresh_loopback();
        let r = get_from(other, a, "/mw/rl/direct", &[]);
        assert_allowed(&r, "2", "1", &format!("{backend}: from {other}"));
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn rate_limit_global() {
    // `/honest/rl/global`: rate 10/s, burst 5, one bucket for the process. Each pass waits
    // until the bucket is full again (5 tokens at 10/s: 500 ms), whatever ran before, then
    // pipelines 8 requests on one connection: exactly 5 are allowed, and the rest refused,
    // unless the machine was so slow that a token came back meanwhile (one per 100 ms of
    // the measured time, which is then allowed for).
    for backend in BACKENDS {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        std::thread::sleep(Duration::from_millis(700));
        let mut c = Client::connect(a);
        let began = Instant::now();
        c.send(&b"GET /honest/rl/global HTTP/1.1\r\nHost: t\r\n\r\n".repeat(8));
        let replies: Vec<Reply> = (0..8)
            .map(|_| c.read_reply(false).expect("a response"))
            .collect();
        let elapsed = began.elapsed();
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        let what = format!("{backend}: {statuses:?} in {elapsed:?}");
        for (r, left) in replies.iter().zip(["4", "3", "2", "1", "0"]) {
            assert_allowed(r, "5", left, &what);
        }
        let refilled = (elapsed.as_millis() / 100) as usize;
        let allowed = statuses.iter().filter(|s| **s == 200).count();
        assert!(allowed <= 5 + refilled, "{what}");
        if refilled == 0 {
            assert_eq!(statuses[5..], [429, 429, 429], "{what}");
            assert_refused(&replies[5], "5", 1..=1, &what);
        }
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn rate_limit_by_identity() {
    // Keyed by identity (behind bearer): each pass signs in as a user of its own, whose
    // budget is their own.
    for backend in BACKENDS {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        let user = unique("u");
        let token = format!("Bearer user-{user}");
        let what = format!("{backend}: {user}");
        for left in ["1", "0"] {
            let r = get(a, "/honest/bearer/limited", &[("Authorization", &token)]);
            assert_allowed(&r, "2", left, &what);
            assert_eq!(r.text(), format!("id={user}"), "{what}");
        }
        let r = get(a, "/honest/bearer/limited", &[("Authorization", &token)]);
        assert_refused(&r, "2", 29..=30, &what);
        // Another user is not limited by the first one's requests.
        let other = unique("u");
        let r = get(
            a,
            "/honest/bearer/limited",
            &[("Authorization", &format!("Bearer user-{other}"))],
        );
        assert_allowed(&r, "2", "1", &format!("{backend}: {other}"));
        assert_eq!(r.text(), format!("id={other}"));
        // Unauthenticated requests are refused before the limiter.
        assert_eq!(get(a, "/honest/bearer/limited", &[]).status, 401);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn rate_limit_by_identity_with_a_tokens_file() {
    // The same on the tokens-file route: its identities are fixed (alice, bob), so each
    // backend's pass uses one of them, and a fresh process is the clean start.
    for (backend, user) in BACKENDS.into_iter().zip(["alice", "bob"]) {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        let token = format!("Bearer {user}-token");
        let what = format!("{backend}: {user}");
        for left in ["1", "0"] {
            let r = get(a, "/mw/bearer/limited", &[("Authorization", &token)]);
            assert_allowed(&r, "2", left, &what);
            assert_eq!(r.text(), format!("id={user}"), "{what}");
        }
        let r = get(a, "/mw/bearer/limited", &[("Authorization", &token)]);
        assert_refused(&r, "2", 29..=30, &what);
        assert_eq!(get(a, "/mw/bearer/limited", &[]).status, 401);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn hooks_before_and_after() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let a = server.local_addr();
        let r = get(a, "/mw/hook", &[]);
        assert_eq!(r.status, 200, "{backend}");
        assert_eq!(r.text(), "Hello, World!");
        assert_eq!(r.header("x-after"), Some("/mw/hook"));
        let r = get(a, "/mw/hook", &[("X-Block", "1")]);
        assert_eq!(r.status, 403);
        assert_eq!(r.text(), "blocked");
        // The after hook still sees the short-circuited answer? No: `before` answers for
        // the whole hook, so `after` does not run.
        assert_eq!(r.header("x-after"), None);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn hook_extension_reaches_the_handler() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let a = server.local_addr();
        let r = get(a, "/mw/ext", &[("X-Tenant", "acme")]);
        assert_eq!(r.status, 200, "{backend}");
        assert_eq!(r.text(), "tenant=acme");
        let r = get(a, "/mw/ext", &[]);
        assert_eq!(r.status, 400);
        assert_eq!(r.text(), "no tenant");
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn rate_limit_fails_open_when_redis_is_down() {
    for backend in BACKENDS {
        let server = start(App, backend, 1);
        let a = server.local_addr();
        // burst 1, but nothing answers at port 1: every request is let through.
        for _ in 0..3 {
            assert_eq!(get(a, "/mw/rl/redis-down", &[]).status, 200, "{backend}");
        }
        server.shutdown().expect("clean shutdown");
    }
}

/// `redis://host:port[/db]` → `host:port`.
fn redis_addr() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// Sends one command to Redis in RESP; the first line of the reply.
fn redis_cmd(addr: &str, args: &[&str]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(cmd.as_bytes())?;
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned())
}

#[test]
fn rate_limit_in_redis_shared_by_two_servers() {
    let addr = redis_addr();
    if let Err(e) = redis_cmd(&addr, &["PING"]) {
        require_or_skip("Redis", &format!("{addr}: {e}"));
        return;
    }
    for backend in BACKENDS {
        // Two instances, as two hosts of a fleet would be: one limit between them.
        let s1 = start(App, backend, 1);
        let s2 = start(App, backend, 1);
        let me = unique("redis");
        let key = format!("ember:test:rl:k:{me}");
        redis_cmd(&addr, &["DEL", &key]).expect("DEL");
        let (a1, a2) = (s1.local_addr(), s2.local_addr());
        let what = format!("{backend}: {me}");
        // rate 3/min, burst 3, alternating between the two servers.
        for (server, left) in [(a1, "2"), (a2, "1"), (a1, "0")] {
            let r = get(server, "/mw/rl/redis", &[("X-Client", &me)]);
            assert_allowed(&r, "3", left, &what);
        }
        let r = get(a2, "/mw/rl/redis", &[("X-Client", &me)]);
        assert_refused(&r, "3", 19..=20, &what);
        let r = get(a1, "/mw/rl/redis", &[("X-Client", &me)]);
        assert_refused(&r, "3", 19..=20, &what);
        // The state is in Redis: removing the key resets the limit for both.
        assert_eq!(redis_cmd(&addr, &["EXISTS", &key]).expect("EXISTS"), ":1");
        redis_cmd(&addr, &["DEL", &key]).expect("DEL");
        assert_eq!(get(a1, "/mw/rl/redis", &[("X-Client", &me)]).status, 200);
        redis_cmd(&addr, &["DEL", &key]).expect("DEL");
        s1.shutdown().expect("clean shutdown");
        s2.shutdown().expect("clean shutdown");
    }
}
