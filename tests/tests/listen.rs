//! Listening: an address held by another socket is refused unless `reuse_port` says to
//! share it, and `max_connections` is one limit across all workers. Real sockets, both
//! backends.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use ember_runtime::{Backend, Server, ServerConfig, Service, Workers};
use ember_tests::{BACKENDS, Client, start_with};

/// Starts the test app on `addr` (no panic on failure: the error is what some tests check).
fn try_start(
    backend: Backend,
    addr: &str,
    adjust: impl FnOnce(ServerConfig) -> ServerConfig,
) -> std::io::Result<ember_runtime::ServerHandle> {
    let config = ember_tests::App
        .config()
        .listen(addr)
        .backend(backend)
        .workers(Workers::Count(2));
    Server::new(ember_tests::App)
        .with_config(adjust(config))
        .start()
}

#[test]
fn a_second_server_on_the_same_port_is_refused_naming_the_address() {
    for b in BACKENDS {
        let first = try_start(b, "127.0.0.1:0", |c| c).expect("first server");
        let addr = first.local_addr();
        let err = try_start(b, &addr.to_string(), |c| c).expect_err("second server started");
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{b}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&addr.to_string()) && msg.contains("already in use"),
            "{b}: {msg}"
        );
        // The first server was not disturbed.
        assert_eq!(Client::connect(addr).get("/plaintext").status, 200, "{b}");
    }
}

#[test]
fn reuse_port_lets_a_second_server_join_on_purpose() {
    for b in BACKENDS {
        let first = try_start(b, "127.0.0.1:0", |c| c).expect("first server");
        let addr = first.local_addr();
        let second = try_start(b, &addr.to_string(), |c| c.reuse_port(true))
            .unwrap_or_else(|e| panic!("{b}: reuse_port refused: {e}"));
        assert_eq!(second.local_addr(), addr);
        // The handover: the old server stops, the new one serves the port alone.
        first.shutdown().expect("first stops");
        assert_eq!(Client::connect(addr).get("/plaintext").status, 200, "{b}");
    }
}

#[test]
fn the_env_override_enables_reuse_port() {
    let c = ServerConfig::new()
        .apply_vars(|k| (k == "EMBER_REUSE_PORT").then(|| "1".to_owned()))
        .expect("valid");
    assert!(c.reuse_port_setting());
    let e = ServerConfig::new()
        .apply_vars(|k| (k == "EMBER_REUSE_PORT").then(|| "maybe".to_owned()))
        .expect_err("bad value");
    assert!(e.to_string().contains("EMBER_REUSE_PORT"), "{e}");
}

#[test]
fn a_plain_listener_holding_the_port_is_refused() {
    for b in BACKENDS {
        let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = holder.local_addr().expect("addr");
        let err = try_start(b, &addr.to_string(), |c| c).expect_err("started over a listener");
        assert!(err.to_string().contains(&addr.to_string()), "{b}: {err}");
        // Even reuse_port cannot share a socket that did not opt in.
        assert!(try_start(b, &addr.to_string(), |c| c.reuse_port(true)).is_err());
    }
}

#[test]
fn port_zero_still_works_with_several_workers() {
    for b in BACKENDS {
        let server = try_start(b, "127.0.0.1:0", |c| c.workers(Workers::Count(3))).expect("start");
        assert_eq!(server.workers(), 3);
        assert_ne!(server.local_addr().port(), 0);
        for _ in 0..6 {
            assert_eq!(
                Client::connect(server.local_addr())
                    .get("/plaintext")
                    .status,
                200
            );
        }
    }
}

/// Connects and asks for `/plaintext`: `true` if served, `false` if the server closed the
/// connection at once.
fn served(addr: std::net::SocketAddr) -> bool {
    let mut c = Client::connect(addr);
    c.set_read_timeout(Duration::from_secs(5));
    if c.try_send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        .is_err()
    {
        return false;
    }
    c.read_reply(false).is_some_and(|r| r.status == 200)
}

#[test]
fn max_connections_is_one_limit_across_workers() {
    const N: usize = 8;
    for b in BACKENDS {
        let server = start_with(ember_tests::App, b, 2, |c| {
            let limits = c.limit_settings().max_connections(N);
            c.limits(limits)
        });
        let addr = server.local_addr();
        // Several rounds with fresh source ports: the kernel spreads connections over the
        // two workers unevenly in most rounds, and every connection must still be served (a
        // per-worker split of N/2 would refuse some).
        for round in 0..4 {
            let mut open = Vec::new();
            for i in 0..N {
                let mut c = Client::connect(addr);
                let r = c.get("/plaintext");
                assert_eq!(r.status, 200, "{b}: round {round}, connection {i}");
                open.push(c);
            }
            // One more is over the limit: closed at once.
            let mut extra = Client::connect(addr);
            extra.set_read_timeout(Duration::from_secs(5));
            let _ = extra.try_send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
            assert!(
                extra.read_reply(false).is_none(),
                "{b}: round {round}: connection {} was served",
                N + 1
            );
            // Closing one lets a new one in (once the server has seen the close).
            open.remove(0);
            let deadline = Instant::now() + Duration::from_secs(5);
            while !served(addr) {
                assert!(
                    Instant::now() < deadline,
                    "{b}: round {round}: no room after a close"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(open);
            // Let the server count every close before the next round.
            std::thread::sleep(Duration::from_millis(1000));
        }
    }
}
