//! A stale-while-revalidate refresh computes the entry as the request that found it stale
//! would have: with the identity the bearer middleware accepted and the client's address
//! (issue 11, point 1). Two users share a route whose cache varies on `authorization`;
//! after the entries go stale each user keeps getting their own answer, and so do the
//! entries the background refreshes store. On both backends, each with a fresh server and
//! its own tags; in process and in Redis.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ember_runtime::Backend;
use ember_tests::{App, BACKENDS, Client, Reply, require_service, start};

/// The two users of `fixtures/tokens.txt`.
const USERS: [(&str, &str); 2] = [("alice", "alice-token"), ("bob", "bob-token")];

/// The caches' `ttl` in `ember.yaml` (`swr_ctx`, `swr_ctx_redis`): long enough that the
/// first answers stay fresh while the test checks them on a loaded machine.
const TTL: Duration = Duration::from_secs(2);

fn get_as(addr: SocketAddr, path: &str, token: &str) -> Reply {
    let mut c = Client::connect(addr);
    c.send(
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    );
    c.read_reply(false).expect("a response")
}

fn x_cache(r: &Reply) -> &str {
    r.header("x-cache").unwrap_or("-")
}

/// A tag no other run (of this test, on this machine) uses.
fn unique(what: &str, backend: Backend) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{what}-{}-{}-{nanos}", backend.as_str(), std::process::id())
}

/// Asks as `user` until `done(reply)` (or 10 s), checking every answer on the way.
fn until(
    addr: SocketAddr,
    path: &str,
    (user, token): (&str, &str),
    check: impl Fn(&Reply),
    done: impl Fn(&Reply) -> bool,
) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get_as(addr, path, token);
        check(&r);
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "{path} as {user}: last {r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run(kind: &str, backend: Backend) {
    let server = start(App, backend, 2);
    let addr = server.local_addr();
    let tag = unique(kind, backend);
    let path = format!("/swr-ctx/{kind}/{tag}");
    let peer = addr.ip().to_string();
    let expect = |user: &str, n: u64| format!("id={user} peer={peer} n={n}");

    // Middleware runs in front of the cache: no token, no answer.
    let anon = Client::connect(addr).get(&path);
    assert_eq!(anon.status, 401, "{backend} {kind}");

    // Each user's first answer is computed and stored (a remote write lands a little
    // after the answer: wait for the hit).
    for (user, token) in USERS {
        let first = get_as(addr, &path, token);
        assert_eq!(
            (first.status, x_cache(&first), first.text()),
            (200, "MISS", expect(user, 1)),
            "{backend} {kind}"
        );
        until(
            addr,
            &path,
            (user, token),
            |r| assert_eq!(r.text(), expect(user, 1), "{backend} {kind}"),
            |r| x_cache(r) == "HIT",
        );
    }

    // Stale: each user gets their stale entry, and that starts the refresh of it.
    std::thread::sleep(TTL + Duration::from_millis(300));
    for (user, token) in USERS {
        let stale = get_as(addr, &path, token);
        assert_eq!(
            (x_cache(&stale), stale.text()),
            ("STALE", expect(user, 1)),
            "{backend} {kind}"
        );
    }

    // The refreshed entries (the handler's second call for that user) carry the user's
    // identity and address, like every answer on the way.
    for (user, token) in USERS {
        let refreshed = until(
            addr,
            &path,
            (user, token),
            |r| {
                assert_eq!(r.status, 200, "{backend} {kind}");
                let text = r.text();
                assert!(
                    text.starts_with(&format!("id={user} peer={peer} n=")),
                    "{backend} {kind}: {user} got `{text}` ({})",
                    x_cache(r)
                );
            },
            |r| !r.text().ends_with(" n=1"),
        );
        assert!(
            matches!(x_cache(&refreshed), "HIT" | "STALE"),
            "{backend} {kind}: the refresh's answer comes from the cache, got {}",
            x_cache(&refreshed)
        );
    }
}

#[test]
fn swr_refresh_keeps_identity_and_peer_in_process() {
    for backend in BACKENDS {
        run("mem", backend);
    }
}

#[test]
fn swr_refresh_keeps_identity_and_peer_in_redis() {
    if require_service("Redis", "REDIS_URL", "redis://127.0.0.1:6379").is_none() {
        return;
    }
    for backend in BACKENDS {
        run("redis", backend);
    }
}
