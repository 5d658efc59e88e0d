//! Backend settings that change how bytes are read, over real sockets: tiny io_uring
//! provided-buffer rings, the single-shot receive path, and `auto` falling back to tokio
//! when io_uring is refused.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ember_runtime::{Backend, Server, Service, UringConfig, Workers};
use ember_tests::{Client, start_with};

/// A body of `len` bytes that differs per `seed`, so a mixed-up read shows.
fn body(seed: usize, len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + ((i * 7 + seed) % 26) as u8))
        .collect()
}

/// POSTs `body` to `/body` and checks the echo.
fn post_and_check(c: &mut Client, body: &str, what: &str) {
    c.send(
        format!(
            "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.read_reply(false).expect("a response");
    assert_eq!(r.status, 200, "{what}");
    assert_eq!(
        r.text(),
        format!("len={} body={body}", body.len()),
        "{what}: body mangled"
    );
}

/// Many clients at once, each sending requests far larger than one receive buffer.
fn many_large_requests(addr: std::net::SocketAddr, what: &str) {
    let threads: Vec<_> = (0..24)
        .map(|t| {
            let what = what.to_owned();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..5 {
                    let b = body(t * 31 + i, 200 + (t * 997 + i * 4001) % 20_000);
                    post_and_check(&mut c, &b, &format!("{what}: client {t} request {i}"));
                }
                // Pipelined: three requests in one write.
                let bodies: Vec<String> = (0..3).map(|i| body(t + i, 300 + i * 100)).collect();
                let mut wire = Vec::new();
                for b in &bodies {
                    wire.extend_from_slice(
                        format!(
                            "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{b}",
                            b.len()
                        )
                        .as_bytes(),
                    );
                }
                c.send(&wire);
                for b in &bodies {
                    let r = c.read_reply(false).expect("pipelined response");
                    assert_eq!(r.text(), format!("len={} body={b}", b.len()), "{what}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
}

#[test]
fn a_tiny_provided_buffer_ring_serves_large_requests_and_many_connections() {
    // 4 buffers of 64 bytes: every request spans many buffers and two dozen connections
    // keep exhausting the ring (ENOBUFS), which must cost no data.
    let server = start_with(ember_tests::App, Backend::IoUring, 1, |c| {
        c.io_uring(UringConfig::new().num_bufs(4).buf_size(64))
    });
    assert_eq!(server.backend(), Backend::IoUring);
    many_large_requests(server.local_addr(), "4×64 B ring");
}

#[test]
fn the_single_shot_receive_path_serves_real_requests() {
    let server = start_with(ember_tests::App, Backend::IoUring, 2, |c| {
        c.io_uring(UringConfig::new().provided_buffers(false))
    });
    assert_eq!(server.backend(), Backend::IoUring);
    many_large_requests(server.local_addr(), "single-shot");
    // A request dribbled in byte by byte, and a client closing mid-request.
    let mut s = TcpStream::connect(server.local_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    for b in b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" {
        s.write_all(&[*b]).expect("write");
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed early");
        got.extend_from_slice(&chunk[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let mut half = Client::connect(server.local_addr());
    half.send(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
    drop(half);
    assert_eq!(
        Client::connect(server.local_addr())
            .get("/plaintext")
            .status,
        200
    );
}

#[test]
fn auto_falls_back_to_tokio_when_io_uring_is_refused() {
    let server = start_with(ember_tests::App, Backend::Auto, 2, |c| {
        c.simulate_io_uring_unavailable(true)
    });
    assert_eq!(server.backend(), Backend::Tokio);
    many_large_requests(server.local_addr(), "auto→tokio");
    // Asking for io_uring explicitly is an error, not a silent fallback.
    let config = ember_tests::App
        .config()
        .listen("127.0.0.1:0")
        .backend(Backend::IoUring)
        .workers(Workers::Count(1))
        .simulate_io_uring_unavailable(true);
    let err = Server::new(ember_tests::App)
        .with_config(config)
        .start()
        .expect_err("io_uring started although refused");
    assert!(err.to_string().contains("io_uring unavailable"), "{err}");
    // Without the simulation, auto picks io_uring wherever the kernel allows it.
    let config = ember_tests::App
        .config()
        .listen("127.0.0.1:0")
        .backend(Backend::IoUring)
        .workers(Workers::Count(1));
    if Server::new(ember_tests::App)
        .with_config(config)
        .start()
        .is_ok()
    {
        let server = start_with(ember_tests::App, Backend::Auto, 1, |c| c);
        assert_eq!(server.backend(), Backend::IoUring);
    } else {
        eprintln!("skip: io_uring is unavailable here, so auto cannot be seen choosing it");
    }
}
