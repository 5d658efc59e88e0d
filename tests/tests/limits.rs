//! Limits and timeouts from `tests/ember.yaml`, over real sockets on both backends.
//!
//! The spec sets: header and body timeouts 1 s, keep-alive 3 s, handler 1 s (5 s for
//! `/sleep`, none under `/g`), bodies 64 KiB (1 MiB for `/upload`), heads 8 KiB. Timers are
//! coarse (a 250 ms sweep), so the bounds below leave room; they check "closed at the
//! timeout, not never", not latency.

use std::time::{Duration, Instant};

use ember_runtime::{Backend, Limits};
use ember_tests::{BACKENDS, Client, start, start_with};

fn each_backend(f: impl Fn(Backend)) {
    for b in BACKENDS {
        f(b);
    }
}

#[test]
fn a_body_over_the_limit_is_refused_from_the_headers() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        // No body is sent at all: the 413 must come from the head alone.
        c.send(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n");
        let r = c.read_reply(false).expect("413");
        assert_eq!(
            (r.status, r.header("connection")),
            (413, Some("close")),
            "{b}"
        );
        assert!(c.is_closed());
    });
}

#[test]
fn a_route_can_raise_its_body_limit() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let body = vec![b'a'; 100_000];
        c.send(
            format!(
                "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        c.send(&body);
        let r = c.read_reply(false).expect("reply");
        assert_eq!(r.status, 200, "{b}");
        assert!(r.text().starts_with("len=100000 "), "{b}");
        c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n");
        assert_eq!(c.read_reply(false).expect("413").status, 413, "{b}");
    });
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        c.send(
            b"POST /body HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        );
        let interim = c.read_reply(true).expect("100 Continue");
        assert_eq!(interim.status, 100, "{b}");
        c.send(b"hello");
        let r = c.read_reply(false).expect("reply");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "len=5 body=hello"),
            "{b}"
        );
        // Too large: 413 instead of 100, and the body is never read.
        c.send(b"POST /body HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 999999\r\n\r\n");
        assert_eq!(c.read_reply(false).expect("413").status, 413, "{b}");
    });
}

#[test]
fn a_head_over_the_limit_is_431() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let big = "x".repeat(9000);
        c.send(format!("GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes());
        let r = c.read_reply(false).expect("431");
        assert_eq!(r.status, 431, "{b}");
        assert!(c.is_closed());
    });
}

#[test]
fn slowloris_heads_are_cut_off_at_the_header_timeout() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let t0 = Instant::now();
        // One byte every 200 ms: each arrival must not extend the deadline.
        let head = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaa";
        let mut closed_at = None;
        for byte in head {
            if c.try_send(&[*byte]).is_err() {
                closed_at = Some(t0.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            if t0.elapsed() > Duration::from_secs(4) {
                break;
            }
        }
        let r = c.read_reply(false);
        let elapsed = closed_at.unwrap_or(t0.elapsed());
        if let Some(r) = r {
            assert_eq!(r.status, 408, "{b}");
        }
        assert!(c.is_closed(), "{b}: slow head not closed");
        assert!(
            elapsed < Duration::from_millis(3500),
            "{b}: closed only after {elapsed:?}"
        );
    });
}

#[test]
fn slow_bodies_are_cut_off_at_the_body_timeout() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let t0 = Instant::now();
        c.send(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
        let r = c.read_reply(false).expect("408");
        assert_eq!(r.status, 408, "{b}");
        assert!(
            t0.elapsed() >= Duration::from_millis(700),
            "{b}: too early {:?}",
            t0.elapsed()
        );
        assert!(
            t0.elapsed() < Duration::from_millis(2500),
            "{b}: too late {:?}",
            t0.elapsed()
        );
        assert!(c.is_closed());
    });
}

#[test]
fn idle_keep_alive_connections_close_at_the_keep_alive_timeout() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        assert_eq!(c.get("/plaintext").status, 200);
        let t0 = Instant::now();
        assert!(c.is_closed(), "{b}");
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(2500),
            "{b}: closed early {waited:?}"
        );
        assert!(
            waited < Duration::from_millis(4500),
            "{b}: closed late {waited:?}"
        );
    });
}

#[test]
fn handler_timeouts_follow_route_group_and_server_limits() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let addr = server.local_addr();
        // The route raises its own limit to 5 s.
        assert_eq!(
            Client::connect(addr).get("/sleep/1300").text(),
            "slept 1300",
            "{b}"
        );
        // Under /g the group turns it off.
        assert_eq!(
            Client::connect(addr).get("/g/sleep/1300").status,
            200,
            "{b}"
        );
        // No route or group limit: the server's 1 s, then 503 and close.
        let mut c = Client::connect(addr);
        let t0 = Instant::now();
        let r = c.get("/slow/3000");
        let waited = t0.elapsed();
        assert_eq!(
            (r.status, r.header("connection")),
            (503, Some("close")),
            "{b}"
        );
        assert!(
            waited >= Duration::from_millis(700),
            "{b}: too early {waited:?}"
        );
        assert!(
            waited < Duration::from_millis(2500),
            "{b}: too late {waited:?}"
        );
        assert!(c.is_closed());
        // The worker is fine afterwards.
        assert_eq!(Client::connect(addr).get("/plaintext").status, 200);
    });
}

#[test]
fn connections_over_max_connections_are_closed() {
    each_backend(|b| {
        let server = start_with(ember_tests::App, b, 1, |c| {
            c.limits(Limits::new().max_connections(2))
        });
        let addr = server.local_addr();
        let mut a = Client::connect(addr);
        let mut bb = Client::connect(addr);
        assert_eq!(a.get("/plaintext").status, 200);
        assert_eq!(bb.get("/plaintext").status, 200);
        let mut third = Client::connect(addr);
        assert!(third.is_closed(), "{b}: third connection served");
        drop(a);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(Client::connect(addr).get("/plaintext").status, 200, "{b}");
    });
}
