//! A fresh server answers its first request at once: whatever a worker loads at start-up
//! (the AI section's token tables take about a second in a debug build) is loaded before
//! the port opens, not while connections queue behind a busy worker.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ember_runtime::Backend;
use ember_tests::Client;

#[test]
fn the_first_request_to_a_fresh_process_is_answered_at_once() {
    // The e2e app (which has an `ai:` section) as its own process, so nothing is warm.
    // The e2e app's top-level `redis:` is `required`.
    let Some(redis) =
        ember_tests::require_service("cold start", "REDIS_URL", "redis://127.0.0.1:6379")
    else {
        return;
    };
    for backend in [Backend::IoUring, Backend::Tokio] {
        let port = ember_runtime::test_util::free_port().expect("a free port");
        let mut child = Command::new(env!("CARGO_BIN_EXE_scale_instance"))
            .env("EMBER_LISTEN", format!("127.0.0.1:{port}"))
            .env("EMBER_WORKERS", "1")
            .env("EMBER_BACKEND", backend.as_str())
            .env("EMBER_SCALE_REDIS", &redis)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the e2e app");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{backend}: the port never opened"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let t0 = Instant::now();
        let r =
            Client::connect(format!("127.0.0.1:{port}").parse().expect("addr")).get("/plaintext");
        let took = t0.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(r.status, 200, "{backend}");
        // Generous: the point is "not after a start-up load", not a latency target.
        assert!(
            took < Duration::from_millis(300),
            "{backend}: first answer took {took:?}"
        );
    }
}
