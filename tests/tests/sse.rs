//! Server-sent events (issue 13) over real sockets, on both backends: byte-exact framing,
//! one chunk per event sent as it is produced, keep-alives at the interval, `Last-Event-ID`,
//! the final event on shutdown, pipelining behind a stream, a gone client stopping the
//! producer within a second (idle or busy, FIN or RST, SSE or a plain channel stream), and
//! a browser-style EventSource client (Python `httpx-sse`) that reconnects with
//! `Last-Event-ID`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ember_runtime::{Backend, ServerHandle, UringConfig};
use ember_tests::handlers::sse::wait_dropped;
use ember_tests::{BACKENDS, start, start_with};

/// A client connection reading one chunk of a chunked body at a time.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn connect(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Conn { s, buf: Vec::new() }
    }

    /// Connects and sends `GET path` with `headers` (each `Name: value\r\n`).
    fn get(addr: SocketAddr, path: &str, headers: &str) -> Conn {
        let mut c = Conn::connect(addr);
        c.send(&format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n"));
        c
    }

    fn send(&mut self, text: &str) {
        self.s.write_all(text.as_bytes()).expect("write");
    }

    /// Reads more; false at the end of the stream.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("read: {e} (have {:?})", String::from_utf8_lossy(&self.buf)),
            }
        }
    }

    /// The response head.
    fn head(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..i + 4]).into_owned();
                self.buf.drain(..i + 4);
                return head;
            }
            assert!(self.fill(), "closed before the head");
        }
    }

    /// The next chunk's bytes (empty: the last chunk).
    fn chunk(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let size = std::str::from_utf8(&self.buf[..end])
                    .ok()
                    .and_then(|h| usize::from_str_radix(h, 16).ok())
                    .unwrap_or_else(|| panic!("bad chunk size in {:?}", self.buf));
                if self.buf.len() >= end + 2 + size + 2 {
                    let data = self.buf[end + 2..end + 2 + size].to_vec();
                    assert_eq!(&self.buf[end + 2 + size..end + 4 + size], b"\r\n");
                    self.buf.drain(..end + 4 + size);
                    return String::from_utf8(data).expect("utf8");
                }
            }
            assert!(
                self.fill(),
                "closed mid-stream: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Every chunk until the last one.
    fn chunks(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let c = self.chunk();
            if c.is_empty() {
                return out;
            }
            out.push(c);
        }
    }
}

/// A key no other test (or backend run) uses.
fn key(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn plaintext_follows(c: &mut Conn, b: impl std::fmt::Display) {
    while !c.buf.windows(13).any(|w| w == b"Hello, World!") {
        assert!(c.fill(), "{b}: closed before the pipelined answer");
    }
}

#[test]
fn events_are_framed_byte_exact_one_chunk_each() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut c = Conn::get(server.local_addr(), "/sse/frames", "");
        let head = c.head();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{b}: {head}");
        for h in [
            "\r\nContent-Type: text/event-stream\r\n",
            "\r\nCache-Control: no-cache\r\n",
            "\r\nTransfer-Encoding: chunked\r\n",
        ] {
            assert!(head.contains(h), "{b}: {h:?} missing from {head}");
        }
        assert_eq!(
            c.chunks(),
            [
                "data: one\ndata: two\ndata: three\ndata: four\n\n",
                "event: point\nid: 7\ndata: {\"x\":1,\"label\":\"a\\nb\"}\n\n",
                "retry: 2500\ndata: later\n\n",
                ": just a comment\n\n",
                // The forged event type and id were refused.
                "data: safe\n\n",
            ],
            "{b}"
        );
        // The connection stays usable after the stream.
        c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
        plaintext_follows(&mut c, b);

        let mut c = Conn::get(server.local_addr(), "/sse/tokens", "");
        let head = c.head();
        assert!(head.contains("text/event-stream"), "{b}: {head}");
        assert_eq!(
            c.chunks(),
            [
                "data: Hel\n\n",
                "data: lo\n\n",
                "data:  wor\ndata: ld\n\n",
                "data: [DONE]\n\n"
            ],
            "{b}"
        );
    }
}

#[test]
fn http10_clients_get_the_events_until_the_close() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut s = TcpStream::connect(server.local_addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(b"GET /sse/tokens HTTP/1.0\r\n\r\n")
            .expect("write");
        let mut all = String::new();
        s.read_to_string(&mut all).expect("read to close");
        assert!(all.contains("Connection: close\r\n"), "{b}: {all}");
        assert!(
            all.ends_with(
                "\r\n\r\ndata: Hel\n\ndata: lo\n\ndata:  wor\ndata: ld\n\ndata: [DONE]\n\n"
            ),
            "{b}: {all:?}"
        );
    }
}

#[test]
fn each_event_arrives_before_the_next_is_produced() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let k = key("gated");
        let mut c = Conn::get(server.local_addr(), &format!("/sse/gated/{k}"), "");
        c.head();
        // Event 2 is produced only once the test opens the gate, after seeing event 1: a
        // buffering server would never deliver event 1 here (the read times out).
        assert_eq!(c.chunk(), "id: 1\ndata: first\n\n", "{b}");
        c.s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut probe = [0u8; 64];
        assert!(
            c.s.read(&mut probe).is_err(),
            "{b}: something arrived before the gate opened"
        );
        c.s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut opener = Conn::get(server.local_addr(), &format!("/sse/open/{k}"), "");
        assert!(opener.head().starts_with("HTTP/1.1 200"), "{b}");
        assert_eq!(c.chunk(), "id: 2\ndata: second\n\n", "{b}");
        assert_eq!(c.chunk(), "", "{b}: the stream ends");
    }
}

#[test]
fn requests_pipelined_behind_a_stream_are_answered_after_it() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        // Sent with the streaming request, and sent while it streams.
        let k = key("pipe");
        let mut c = Conn::connect(server.local_addr());
        c.send(&format!(
            "GET /sse/gated/{k} HTTP/1.1\r\nHost: t\r\n\r\nGET /n/1 HTTP/1.1\r\nHost: t\r\n\r\n"
        ));
        c.head();
        assert_eq!(c.chunk(), "id: 1\ndata: first\n\n", "{b}");
        c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\nGET /n/");
        std::thread::sleep(Duration::from_millis(50));
        c.send("2 HTTP/1.1\r\nHost: t\r\n\r\n");
        std::thread::sleep(Duration::from_millis(50));
        let mut opener = Conn::get(server.local_addr(), &format!("/sse/open/{k}"), "");
        opener.head();
        assert_eq!(c.chunk(), "id: 2\ndata: second\n\n", "{b}");
        assert_eq!(c.chunk(), "", "{b}");
        while !c.buf.windows(3).any(|w| w == b"n=2") {
            assert!(c.fill(), "{b}: closed before the pipelined answers");
        }
        let rest = String::from_utf8_lossy(&c.buf).into_owned();
        let (one, plain, two) = (
            rest.find("n=1"),
            rest.find("Hello, World!"),
            rest.find("n=2"),
        );
        assert!(
            one.is_some() && one < plain && plain < two,
            "{b}: answers out of order: {rest:?}"
        );
    }
}

#[test]
fn keep_alive_comments_arrive_at_the_interval() {
    let every = Duration::from_millis(200);
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut c = Conn::get(server.local_addr(), "/sse/keepalive/200", "");
        c.head();
        assert_eq!(c.chunk(), "data: hello\n\n", "{b}");
        let mut last = Instant::now();
        for i in 0..3 {
            assert_eq!(c.chunk(), ":\n\n", "{b}: keep-alive {i}");
            let gap = last.elapsed();
            last = Instant::now();
            // Never faster than the interval; at most two intervals after the last thing
            // sent (plus slack for a loaded machine).
            assert!(gap >= every * 3 / 4, "{b}: keep-alive {i} after {gap:?}");
            assert!(
                gap <= every * 2 + Duration::from_millis(800),
                "{b}: keep-alive {i} after {gap:?}"
            );
        }
    }
}

#[test]
fn last_event_id_reaches_the_handler() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut c = Conn::get(server.local_addr(), "/sse/resume", "Last-Event-ID: 41\r\n");
        c.head();
        assert_eq!(
            c.chunks(),
            [
                "event: count\nid: 42\nretry: 100\ndata: n=42\ndata: resumed=41\n\n",
                "event: count\nid: 43\ndata: n=43\ndata: resumed=41\n\n",
                "event: count\nid: 44\ndata: n=44\ndata: resumed=41\n\n",
            ],
            "{b}"
        );
        let mut c = Conn::get(server.local_addr(), "/sse/resume", "");
        c.head();
        assert_eq!(
            c.chunk(),
            "event: count\nid: 1\nretry: 100\ndata: n=1\ndata: resumed=none\n\n",
            "{b}"
        );
        let mut c = Conn::get(server.local_addr(), "/sse/resume", "last-event-id: x\r\n");
        assert!(c.head().starts_with("HTTP/1.1 400"), "{b}");
    }
}

#[test]
fn shutdown_mid_stream_sends_the_final_event() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut c = Conn::get(server.local_addr(), "/sse/forever", "");
        c.head();
        assert_eq!(c.chunk(), "data: hello\n\n", "{b}");
        let t0 = Instant::now();
        server.shutdown().expect("clean shutdown");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{b}: shutdown waited for the stream"
        );
        assert_eq!(c.chunk(), "event: shutdown\ndata: bye\n\n", "{b}");
        assert_eq!(c.chunk(), "", "{b}: stream not terminated");
        assert!(!c.fill(), "{b}: the connection stays open after shutdown");
    }
}

/// How a test client goes away.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// A normal close (FIN).
    Close,
    /// An abortive close (RST: `SO_LINGER` 0).
    Reset,
    /// Pipelines a request, then closes.
    PipelineThenClose,
}

/// The servers a disconnect test runs on: both backends, and io_uring without provided
/// buffers (single-shot receives: the readiness-poll path).
fn disconnect_servers() -> Vec<(String, ServerHandle)> {
    let mut out: Vec<(String, ServerHandle)> = BACKENDS
        .iter()
        .map(|&b| (b.to_string(), start(ember_tests::App, b, 1)))
        .collect();
    out.push((
        "io_uring (single-shot receives)".to_owned(),
        start_with(ember_tests::App, Backend::IoUring, 1, |c| {
            c.io_uring(UringConfig::new().provided_buffers(false))
        }),
    ));
    out
}

#[test]
fn a_gone_client_stops_the_producer_within_a_second() {
    let cases = [
        ("watched", "idle", Leave::Close),
        ("watched", "idle", Leave::Reset),
        ("watched", "idle", Leave::PipelineThenClose),
        ("watched", "busy", Leave::Close),
        ("watched", "busy", Leave::Reset),
        ("raw-watched", "", Leave::Close),
    ];
    for (name, server) in disconnect_servers() {
        for (route, mode, leave) in cases {
            let what = format!("{name}: {route} {mode} {leave:?}");
            let k = key(route);
            let path = match mode {
                "" => format!("/sse/{route}/{k}"),
                m => format!("/sse/{route}/{k}/{m}"),
            };
            let mut c = Conn::get(server.local_addr(), &path, "");
            c.head();
            let first = c.chunk();
            assert!(first.starts_with("data: "), "{what}: {first:?}");
            assert!(
                wait_dropped(&k, Duration::ZERO).is_none(),
                "{what}: dropped while the client was there"
            );
            match leave {
                Leave::Close => {}
                Leave::Reset => socket2::SockRef::from(&c.s)
                    .set_linger(Some(Duration::ZERO))
                    .expect("linger"),
                Leave::PipelineThenClose => {
                    c.send("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
                    std::thread::sleep(Duration::from_millis(100));
                    assert!(
                        wait_dropped(&k, Duration::ZERO).is_none(),
                        "{what}: pipelined bytes ended the stream"
                    );
                }
            }
            let t0 = Instant::now();
            drop(c);
            let dropped = wait_dropped(&k, Duration::from_secs(5))
                .unwrap_or_else(|| panic!("{what}: the producer outlived the client by 5 s"));
            let after = dropped.saturating_duration_since(t0);
            eprintln!("{what}: producer dropped {after:?} after the client left");
            assert!(
                after < Duration::from_secs(1),
                "{what}: the producer stopped {after:?} after the client left"
            );
        }
        // The server still serves.
        let mut c = Conn::get(server.local_addr(), "/plaintext", "");
        assert!(c.head().starts_with("HTTP/1.1 200"), "{name}");
    }
}

#[test]
fn an_eventsource_client_reads_ids_and_resumes_with_last_event_id() {
    let Some(python) = ember_tests::python("EventSource client (httpx-sse)") else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/sse_eventsource.py");
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let out = std::process::Command::new(&python)
            .arg(script)
            .arg(format!("http://{}", server.local_addr()))
            .arg("2")
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{b}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.last(), Some(&"done"), "{b}: {stdout}");
        let events: Vec<serde_json::Value> = lines[..lines.len() - 1]
            .iter()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(events.len(), 6, "{b}: {stdout}");
        for (i, e) in events.iter().enumerate() {
            let n = i + 1;
            let (conn, resumed) = if n <= 3 { (0, "none") } else { (1, "3") };
            assert_eq!(e["connection"], conn, "{b}: {e}");
            assert_eq!(e["content_type"], "text/event-stream", "{b}: {e}");
            assert_eq!(e["cache_control"], "no-cache", "{b}: {e}");
            assert_eq!(e["event"], "count", "{b}: {e}");
            assert_eq!(e["id"], n.to_string(), "{b}: {e}");
            assert_eq!(e["data"], format!("n={n}\nresumed={resumed}"), "{b}: {e}");
            let retry = if n == 1 || n == 4 {
                serde_json::json!(100)
            } else {
                serde_json::Value::Null
            };
            assert_eq!(e["retry"], retry, "{b}: {e}");
        }
    }
}
