//! A Redis cache whose server stops mid-test: requests still succeed (the cache fails
//! open), and are cached again once the server is back. The test runs its own
//! `redis-server` on a free port, stopped and restarted by PID; the shared one on 6379 is
//! never touched. Its own test binary, so that setting the cache's URL variable before
//! the app first reads it affects no other test.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ember_runtime::test_util::{RedisServer, free_port, require_or_skip};
use ember_tests::{BACKENDS, Client, Reply, start};

fn get(addr: SocketAddr, path: &str) -> Reply {
    Client::connect(addr).get(path)
}

fn x_cache(r: &Reply) -> &str {
    r.header("x-cache").unwrap_or("-")
}

#[test]
fn redis_stopped_mid_test_fails_open_and_caching_resumes_after_restart() {
    let port = free_port().expect("a free port");
    let Some(mut redis) = RedisServer::start(port) else {
        require_or_skip(
            "redis-server",
            &format!("it did not start on port {port} (installed?)"),
        );
        return;
    };
    // SAFETY: this test binary has this one test, and the app reads the variable only when
    // its workers start, after this line.
    unsafe {
        std::env::set_var(
            "EMBER_TEST_FLAKY_REDIS",
            format!("redis://127.0.0.1:{port}"),
        )
    };
    let run = std::process::id();
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 2);
        let addr = server.local_addr();
        let path = format!("/c/flaky/up-{b}-{run}");
        assert_eq!(x_cache(&get(addr, &path)), "MISS", "{b}");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(x_cache(&get(addr, &path)), "HIT", "{b}: cached in Redis");

        redis.stop();
        let down = format!("/c/flaky/down-{b}-{run}");
        for i in 1..=5u64 {
            let t = Instant::now();
            let r = get(addr, &down);
            assert_eq!(r.status, 200, "{b}: request {i} with Redis down");
            // Nothing can be stored, so the handler answers every request: its call count
            // for this tag is this request's number. (A miss's answer is shared only with
            // the requests that waited for it, never served to later ones as a HIT.)
            let text = r.text();
            let n: Option<u64> = text
                .split_whitespace()
                .find_map(|w| w.strip_prefix("n="))
                .and_then(|v| v.parse().ok());
            assert_eq!(
                (x_cache(&r), n),
                ("MISS", Some(i)),
                "{b}: request {i} with Redis down comes from the handler: {text}"
            );
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{b}: no long wait on a dead backend"
            );
        }

        redis = RedisServer::start(port).expect("redis-server restarts on its port");
        let back = format!("/c/flaky/back-{b}-{run}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut hit = false;
        while Instant::now() < deadline && !hit {
            let r = get(addr, &back);
            assert_eq!(r.status, 200, "{b}");
            hit = x_cache(&r) == "HIT";
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(hit, "{b}: caching resumed after Redis came back");
        drop(server);
    }
    redis.stop();
}
