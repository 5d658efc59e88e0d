//! Middleware over real HTTP, on both backends: CORS, bearer tokens, API keys, rate limits
//! (in process and in Redis) and user hooks. The routes live under `/mw` in `ember.yaml`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ember_tests::{App, BACKENDS, Client, Reply, start};

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

/// A value unique to this run, for rate-limit keys.
fn unique(tag: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{tag}-{n}")
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

#[test]
fn rate_limit_by_header() {
    for backend in BACKENDS {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        let me = unique("h");
        for left in ["2", "1", "0"] {
            let r = get(a, "/mw/rl/header", &[("X-Client", &me)]);
            assert_eq!(r.status, 200, "{backend}");
            assert_eq!(r.header("ratelimit-limit"), Some("3"));
            assert_eq!(r.header("ratelimit-remaining"), Some(left));
        }
        let r = get(a, "/mw/rl/header", &[("X-Client", &me)]);
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("20"));
        assert_eq!(r.header("ratelimit-remaining"), Some("0"));
        assert!(r.header("ratelimit-reset").is_some());
        // Another key has its own bucket.
        let other = unique("h2");
        assert_eq!(get(a, "/mw/rl/header", &[("X-Client", &other)]).status, 200);
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn rate_limit_by_client_ip_and_trusted_proxy() {
    for backend in BACKENDS {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        // 127.0.0.1 is a trusted proxy on /proxied: the forwarded address is the key.
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
        let xff = format!("{ip}, 127.0.0.1");
        for _ in 0..2 {
            assert_eq!(
                get(a, "/mw/rl/proxied", &[("X-Forwarded-For", &xff)]).status,
                200
            );
        }
        assert_eq!(
            get(a, "/mw/rl/proxied", &[("X-Forwarded-For", &xff)]).status,
            429
        );
        // /direct trusts no proxy: a forged X-Forwarded-For does not buy a new bucket.
        let mut allowed = 0;
        for i in 0..3 {
            let forged = format!("192.0.2.{i}");
            if get(a, "/mw/rl/direct", &[("X-Forwarded-For", &forged)]).status == 200 {
                allowed += 1;
            }
        }
        assert!(allowed <= 2, "{backend}: {allowed} allowed");
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn rate_limit_global_and_identity() {
    for backend in BACKENDS {
        let server = start(App, backend, 2);
        let a = server.local_addr();
        let mut statuses = Vec::new();
        for _ in 0..8 {
            statuses.push(get(a, "/mw/rl/global", &[]).status);
        }
        assert!(statuses.contains(&429), "{backend}: {statuses:?}");
        // Keyed by identity (behind bearer): bob's budget is his own.
        let r = get(
            a,
            "/mw/bearer/limited",
            &[("Authorization", "Bearer bob-token")],
        );
        if r.status == 200 {
            assert_eq!(r.text(), "id=bob");
        }
        let mut last = 0;
        for _ in 0..3 {
            last = get(
                a,
                "/mw/bearer/limited",
                &[("Authorization", "Bearer bob-token")],
            )
            .status;
        }
        assert_eq!(last, 429);
        // Unauthenticated requests are refused before the limiter.
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
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("Redis at {addr} is required under CI: {e}");
        }
        eprintln!("skipping: no Redis at {addr} ({e})");
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
        assert_eq!(
            get(a1, "/mw/rl/redis", &[("X-Client", &me)]).status,
            200,
            "{backend}"
        );
        let r = get(a2, "/mw/rl/redis", &[("X-Client", &me)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("ratelimit-remaining"), Some("1"));
        assert_eq!(get(a1, "/mw/rl/redis", &[("X-Client", &me)]).status, 200);
        let r = get(a2, "/mw/rl/redis", &[("X-Client", &me)]);
        assert_eq!(r.status, 429);
        assert!(r.header("retry-after").is_some());
        // The state is in Redis: removing the key resets the limit for both.
        assert_eq!(redis_cmd(&addr, &["EXISTS", &key]).expect("EXISTS"), ":1");
        redis_cmd(&addr, &["DEL", &key]).expect("DEL");
        assert_eq!(get(a1, "/mw/rl/redis", &[("X-Client", &me)]).status, 200);
        redis_cmd(&addr, &["DEL", &key]).expect("DEL");
        s1.shutdown().expect("clean shutdown");
        s2.shutdown().expect("clean shutdown");
    }
}
