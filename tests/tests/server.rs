//! The walking skeleton over real TCP sockets, on both backends.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use ember_runtime::Backend;
use ember_tests::{BACKENDS, Client, start};

fn each_backend(f: impl Fn(Backend)) {
    for b in BACKENDS {
        f(b);
    }
}

#[test]
fn starts_on_the_requested_backend() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 2);
        assert_eq!(server.backend(), b);
        assert_eq!(server.workers(), 2);
        assert!(server.local_addr().ip().is_loopback());
    });
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        for _ in 0..5 {
            let r = c.get("/plaintext");
            assert_eq!(r.status, 200, "{b}");
            assert_eq!(r.text(), "Hello, World!");
            assert_eq!(r.header("content-length"), Some("13"));
            assert_eq!(r.header("server"), Some("ember"));
            assert!(r.header("date").is_some_and(|d| d.ends_with(" GMT")));
            assert_eq!(
                r.header("connection"),
                None,
                "HTTP/1.1 keep-alive is implicit"
            );
        }
    });
}

#[test]
fn ten_pipelined_requests_in_one_write_get_ten_responses_in_order() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let batch: String = (0..10)
            .map(|i| format!("GET /n/{i} HTTP/1.1\r\nHost: t\r\n\r\n"))
            .collect();
        c.send(batch.as_bytes());
        for i in 0..10 {
            let r = c.read_reply(false).expect("a response");
            assert_eq!((r.status, r.text()), (200, format!("n={i}")), "{b}");
        }
    });
}

#[test]
fn pipelined_responses_are_written_in_one_batch() {
    // The 10 answers must arrive together: read them all with one read after a pause.
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut s = std::net::TcpStream::connect(server.local_addr()).expect("connect");
        let batch: String = (0..10)
            .map(|i| format!("GET /n/{i} HTTP/1.1\r\nHost: t\r\n\r\n"))
            .collect();
        s.write_all(batch.as_bytes()).expect("write");
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = vec![0u8; 64 * 1024];
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let n = loop {
            match s.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r.expect("read"),
            }
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 10, "{b}: {text}");
    });
}

#[test]
fn not_found_method_not_allowed_and_head() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        assert_eq!(c.get("/nope").status, 404);
        assert_eq!(c.get("/plaintext/extra").status, 404);
        assert_eq!(
            c.get("/n").status,
            404,
            "a parameter never matches an empty segment"
        );

        c.send(b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        let r = c.read_reply(false).expect("405");
        assert_eq!(r.status, 405, "{b}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));

        c.send(b"POST /users/me HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        let r = c.read_reply(false).expect("405");
        assert_eq!(
            (r.status, r.header("allow")),
            (405, Some("GET, HEAD, OPTIONS"))
        );

        c.send(b"POST /users/3 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        let r = c.read_reply(false).expect("405");
        assert_eq!(
            (r.status, r.header("allow")),
            (405, Some("GET, HEAD, DELETE, OPTIONS"))
        );

        c.send(b"HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read_reply(true).expect("HEAD response");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-length"),
            Some("13"),
            "HEAD keeps the GET length"
        );
        // No body bytes may follow a HEAD answer: the next response must parse cleanly.
        assert_eq!(c.get("/plaintext").text(), "Hello, World!");
    });
}

#[test]
fn typed_params_parse_or_answer_400() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let cases: &[(&str, u16, &str)] = &[
            ("/n/42", 200, "n=42"),
            ("/n/abc", 400, "invalid path parameter `n`: expected u64"),
            ("/n/-1", 400, "invalid path parameter `n`: expected u64"),
            (
                "/n/18446744073709551616",
                400,
                "invalid path parameter `n`: expected u64",
            ),
            ("/i/-7", 200, "i=-7"),
            (
                "/u/67e55044-10b1-426f-9247-bb680e5fe0c8",
                200,
                "uuid=67e55044-10b1-426f-9247-bb680e5fe0c8",
            ),
            (
                "/u/not-a-uuid",
                400,
                "invalid path parameter `id`: expected uuid",
            ),
            ("/files/a/b%20c", 200, "rest=a/b c"),
            ("/files/", 200, "rest="),
            ("/users/me", 200, "me"),
            ("/users/7", 200, "user 7"),
            ("/users/x", 400, "invalid path parameter `id`: expected u64"),
            ("/", 200, "index"),
            (
                "/n/%ZZ",
                400,
                "invalid path parameter `n`: expected a valid percent-encoded UTF-8 string",
            ),
        ];
        for (path, status, body) in cases {
            let r = c.get(path);
            assert_eq!(
                (r.status, r.text().as_str()),
                (*status, *body),
                "{b} {path}"
            );
        }
        c.send(b"PUT /things/gear/parts/3 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(c.read_reply(false).expect("reply").text(), "PUT gear 3");
        c.send(b"DELETE /users/9 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.read_reply(false).expect("reply").text(), "deleted 9");
    });
}

#[test]
fn request_bodies_by_content_length_even_when_split() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        c.send(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
        assert_eq!(
            c.read_reply(false).expect("reply").text(),
            "len=11 body=hello world"
        );
        // Head, then the body in pieces.
        c.send(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 6000\r\n\r\n");
        std::thread::sleep(Duration::from_millis(30));
        let body = "x".repeat(6000);
        c.send(&body.as_bytes()[..2500]);
        std::thread::sleep(Duration::from_millis(30));
        c.send(&body.as_bytes()[2500..]);
        let r = c.read_reply(false).expect("reply");
        assert!(
            r.text().starts_with("len=6000 body=xxx"),
            "{b}: {}",
            &r.text()[..20]
        );
        // Byte by byte.
        let req = b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
        for byte in req {
            c.send(&[*byte]);
        }
        assert_eq!(c.read_reply(false).expect("reply").text(), "len=3 body=abc");
    });
}

#[test]
fn two_hundred_concurrent_connections() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 2);
        let addr = server.local_addr();
        // Open all 200 first, so they are concurrent, then use each.
        let mut clients: Vec<Client> = (0..200).map(|_| Client::connect(addr)).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(format!("GET /n/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
        for (i, c) in clients.iter_mut().enumerate() {
            let r = c.read_reply(false).expect("reply");
            assert_eq!(r.text(), format!("n={i}"), "{b}");
        }
        // And from 200 threads at once.
        let handles: Vec<_> = (0..200)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut c = Client::connect(addr);
                    for _ in 0..3 {
                        assert_eq!(c.get(&format!("/n/{i}")).text(), format!("n={i}"));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("client thread");
        }
    });
}

#[test]
fn handlers_can_await_tokio_io() {
    each_backend(|b| {
        let upstream = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = upstream.local_addr().expect("addr");
        let t = std::thread::spawn(move || {
            let (mut s, _) = upstream.accept().expect("accept");
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).expect("read ping");
            assert_eq!(&buf, b"ping");
            s.write_all(b"pong").expect("write pong");
        });
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let r = c.get(&format!("/upstream?addr={addr}"));
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "upstream said pong"),
            "{b}"
        );
        t.join().expect("upstream thread");
    });
}

#[test]
fn a_slow_handler_does_not_block_other_connections() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let addr = server.local_addr();
        let slow = std::thread::spawn(move || Client::connect(addr).get("/sleep/1500").text());
        std::thread::sleep(Duration::from_millis(100));
        let t0 = Instant::now();
        assert_eq!(Client::connect(addr).get("/plaintext").status, 200);
        // Generous bound: the point is "not after the 1.5 s sleep", not a latency target.
        assert!(
            t0.elapsed() < Duration::from_millis(1000),
            "{b}: blocked {:?}",
            t0.elapsed()
        );
        assert_eq!(slow.join().expect("slow client"), "slept 1500");
    });
}

#[test]
fn a_panicking_handler_answers_500_and_closes() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        let r = c.get("/panic");
        assert_eq!(
            (r.status, r.header("connection")),
            (500, Some("close")),
            "{b}"
        );
        assert!(c.is_closed());
        // The worker survives.
        assert_eq!(
            Client::connect(server.local_addr())
                .get("/plaintext")
                .status,
            200
        );
    });
}

#[test]
fn malformed_requests_get_400_and_a_closed_connection() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            let mut c = Client::connect(server.local_addr());
            c.send(raw);
            let r = c.read_reply(false).expect("a 400");
            assert_eq!(
                (r.status, r.header("connection")),
                (400, Some("close")),
                "{b}"
            );
            assert!(c.is_closed(), "{b}: connection must close after an error");
        }
        // A smuggled second request after an error is never answered.
        let mut c = Client::connect(server.local_addr());
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.read_reply(false).expect("400").status, 400);
        assert!(
            c.read_reply(false).is_none(),
            "{b}: smuggled request answered"
        );
    });
}

#[test]
fn http10_closes_unless_keep_alive() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        c.send(b"GET /plaintext HTTP/1.0\r\n\r\n");
        let r = c.read_reply(false).expect("reply");
        assert_eq!(
            (r.status, r.header("connection")),
            (200, Some("close")),
            "{b}"
        );
        assert!(c.is_closed());

        let mut c = Client::connect(server.local_addr());
        for _ in 0..2 {
            c.send(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            let r = c.read_reply(false).expect("reply");
            assert_eq!(r.header("connection"), Some("keep-alive"), "{b}");
        }
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let r = c.read_reply(false).expect("reply");
        assert_eq!(r.header("connection"), Some("close"));
        assert!(c.is_closed());
    });
}

#[test]
fn shutdown_closes_idle_connections_promptly() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 2);
        let mut c = Client::connect(server.local_addr());
        assert_eq!(c.get("/plaintext").status, 200);
        let t0 = Instant::now();
        server.shutdown().expect("clean shutdown");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{b}: shutdown took {:?}",
            t0.elapsed()
        );
        assert!(c.is_closed(), "{b}: idle connection left open");
    });
}

#[test]
fn shutdown_lets_an_in_flight_request_finish() {
    each_backend(|b| {
        let server = start(ember_tests::App, b, 1);
        let addr = server.local_addr();
        let slow = std::thread::spawn(move || Client::connect(addr).get("/sleep/300"));
        std::thread::sleep(Duration::from_millis(100));
        server.shutdown().expect("clean shutdown");
        let r = slow.join().expect("client");
        assert_eq!((r.status, r.text().as_str()), (200, "slept 300"), "{b}");
    });
}

/// Starting a server probes io_uring; closing the probe's ring queues kernel work on the
/// thread that made it, which used to interrupt that thread's next blocking call with
/// `EINTR`. The caller's thread must see no such thing.
#[test]
fn starting_does_not_interrupt_the_callers_blocking_calls() {
    for backend in [Backend::IoUring, Backend::Auto] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut idle =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        idle.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let server = start(ember_tests::App, backend, 1);
        // Nothing is ever sent on `idle`: the read can only time out.
        let err = idle
            .read(&mut [0u8; 1])
            .expect_err("no data arrives on the idle socket");
        assert_ne!(
            err.kind(),
            std::io::ErrorKind::Interrupted,
            "{backend}: the caller's read was interrupted"
        );
        drop(server);
    }
}
