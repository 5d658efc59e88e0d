//! Streamed responses: chunked for HTTP/1.1, close-delimited for HTTP/1.0, HEAD, pipelining
//! behind a stream, and shutdown ending a stream with its final event — on both backends.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ember_tests::{BACKENDS, start};

/// Reads a whole response whose body uses the chunked coding: (head, decoded body).
fn read_chunked(s: &mut TcpStream, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    let mut fill = |buf: &mut Vec<u8>| {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => panic!("closed early: {:?}", String::from_utf8_lossy(buf)),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("read: {e}"),
            }
        }
    };
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(buf);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end);
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            fill(buf);
        };
        let size = usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).expect("hex"), 16)
            .expect("size");
        while buf.len() < line_end + 2 + size + 2 {
            fill(buf);
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        assert_eq!(&buf[line_end + 2 + size..line_end + 4 + size], b"\r\n");
        buf.drain(..line_end + 4 + size);
        if size == 0 {
            return (head, body);
        }
    }
}

/// One read, retried on EINTR.
fn read_some(s: &mut TcpStream, chunk: &mut [u8]) -> usize {
    loop {
        match s.read(chunk) {
            Ok(n) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

#[test]
fn http11_streams_are_chunked_and_keep_the_connection() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut s = connect(server.local_addr());
        let mut buf = Vec::new();
        s.write_all(b"GET /stream/5 HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("write");
        let (head, body) = read_chunked(&mut s, &mut buf);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{b}: {head}");
        assert!(
            head.contains("\r\nTransfer-Encoding: chunked\r\n"),
            "{b}: {head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("content-length"),
            "{b}: {head}"
        );
        assert_eq!(
            String::from_utf8_lossy(&body),
            "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n"
        );
        // Pipelined behind a stream: answered in order, on the same connection.
        s.write_all(
            b"GET /stream/2 HTTP/1.1\r\nHost: t\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .expect("write");
        let (_, body) = read_chunked(&mut s, &mut buf);
        assert_eq!(String::from_utf8_lossy(&body), "chunk 0\nchunk 1\n", "{b}");
        while !buf.windows(13).any(|w| w == b"Hello, World!") {
            let mut chunk = [0u8; 1024];
            let n = read_some(&mut s, &mut chunk);
            assert!(n > 0, "{b}: closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[test]
fn head_of_a_stream_has_no_body() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut s = connect(server.local_addr());
        s.write_all(
            b"HEAD /stream/3 HTTP/1.1\r\nHost: t\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .expect("write");
        let mut got = Vec::new();
        while !got.windows(13).any(|w| w == b"Hello, World!") {
            let mut chunk = [0u8; 1024];
            let n = read_some(&mut s, &mut chunk);
            assert!(n > 0, "{b}: closed");
            got.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        let second = text
            .find("HTTP/1.1 200 OK")
            .and_then(|i| text[i + 1..].find("HTTP/1.1 200 OK").map(|j| i + 1 + j));
        let first = &text[..second.expect("two responses")];
        assert!(first.contains("Transfer-Encoding: chunked"), "{b}: {first}");
        assert!(
            first.ends_with("\r\n\r\n"),
            "{b}: a HEAD answer carried a body: {first:?}"
        );
    }
}

#[test]
fn http10_streams_end_with_the_connection() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut s = connect(server.local_addr());
        s.write_all(b"GET /stream/3 HTTP/1.0\r\n\r\n")
            .expect("write");
        let mut all = String::new();
        s.read_to_string(&mut all).expect("read to close");
        assert!(all.contains("Connection: close\r\n"), "{b}: {all}");
        assert!(!all.contains("Transfer-Encoding"), "{b}: {all}");
        assert!(
            all.ends_with("\r\n\r\nchunk 0\nchunk 1\nchunk 2\n"),
            "{b}: {all:?}"
        );
    }
}

#[test]
fn shutdown_ends_a_stream_with_its_final_event() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut s = connect(server.local_addr());
        s.write_all(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("write");
        let mut got = Vec::new();
        while !got.windows(11).any(|w| w == b"data: hello") {
            let mut chunk = [0u8; 1024];
            let n = read_some(&mut s, &mut chunk);
            assert!(n > 0, "{b}: closed");
            got.extend_from_slice(&chunk[..n]);
        }
        let t0 = Instant::now();
        server.shutdown().expect("clean shutdown");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{b}: shutdown waited for the stream"
        );
        s.read_to_end(&mut got).expect("read to close");
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.contains("event: shutdown\ndata: bye\n\n"),
            "{b}: {text:?}"
        );
        assert!(
            text.ends_with("\r\n0\r\n\r\n"),
            "{b}: stream not terminated: {text:?}"
        );
    }
}
