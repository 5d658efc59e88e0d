//! The end-to-end test app (`tests/ember.yaml`) and helpers that speak raw HTTP.

pub mod handlers;

ember_runtime::include_app!();

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ember_runtime::{Backend, Server, ServerConfig, ServerHandle, Service, Workers};

/// Both backends, for tests that must pass on each.
pub const BACKENDS: [Backend; 2] = [Backend::IoUring, Backend::Tokio];

/// Starts `service` with its spec's settings on an ephemeral loopback port, on `backend`
/// with `workers` workers.
pub fn start<S: Service>(service: S, backend: Backend, workers: usize) -> ServerHandle {
    start_with(service, backend, workers, |c| c)
}

/// Like [`start`], with the settings adjusted by `adjust`.
pub fn start_with<S: Service>(
    service: S,
    backend: Backend,
    workers: usize,
    adjust: impl FnOnce(ServerConfig) -> ServerConfig,
) -> ServerHandle {
    let config = service
        .config()
        .listen("127.0.0.1:0")
        .backend(backend)
        .workers(Workers::Count(workers));
    let config = adjust(config);
    match Server::new(service).with_config(config).start() {
        Ok(h) => h,
        Err(e) => panic!("server did not start on {backend}: {e}"),
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw client connection.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Client {
    /// Connects to `addr` with a 10 s read timeout.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends raw bytes, reporting a failure (the server closed) instead of panicking.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one response; `head` says it answers a HEAD request (no body).
    pub fn read_reply(&mut self, head: bool) -> Option<Reply> {
        loop {
            if let Some((reply, used)) = parse_reply(&self.buf, head) {
                self.buf.drain(..used);
                return Some(reply);
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return None;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sends a GET and reads its response.
    pub fn get(&mut self, path: &str) -> Reply {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.read_reply(false).expect("a response")
    }

    /// Sets the read timeout.
    pub fn set_read_timeout(&mut self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).expect("timeout");
    }

    /// Whether a read has already seen the server close (or a reset), without reading more.
    pub fn closed_seen(&mut self) -> bool {
        self.eof || self.is_closed()
    }

    /// Whether the server has closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        if self.eof {
            return true;
        }
        let mut b = [0u8; 1];
        loop {
            match self.stream.read(&mut b) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                r => return matches!(r, Ok(0)),
            }
        }
    }
}

/// Parses one response from the front of `buf`: the reply and the bytes it used.
pub fn parse_reply(buf: &[u8], head: bool) -> Option<(Reply, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = if head {
        0
    } else {
        headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    if buf.len() < end + len {
        return None;
    }
    Some((
        Reply {
            status,
            headers,
            body: buf[end..end + len].to_vec(),
        },
        end + len,
    ))
}

/// The `host:port` of a service the tests need (from `env`, else `default`), if it
/// answers a TCP connect. Missing, it fails the test where services are required (CI; see
/// [`ember_runtime::test_util::services_required`]) and skips it (with a message)
/// elsewhere.
pub fn require_service(what: &str, env: &str, default: &str) -> Option<String> {
    let raw = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    let addr = raw
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&addr.as_str())
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    if reachable {
        return Some(addr);
    }
    ember_runtime::test_util::require_or_skip(what, &format!("not reachable at {addr}; set {env}"));
    None
}

/// Sends `n` GETs for `path` at once, each on its own connection, and returns the replies
/// in no particular order.
pub fn concurrent_gets(addr: SocketAddr, path: &str, n: usize) -> Vec<Reply> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            let path = path.to_owned();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                barrier.wait();
                c.get(&path)
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect()
}

/// The Python interpreter that has the test clients of `tests/python/requirements.txt`
/// (the official `openai` SDK, `httpx-sse`, `requests`, …): `$EMBER_PYTHON`, which
/// `.ci/run` points at a virtualenv it makes. Unset or not runnable, it fails the test
/// where services are required (CI) and skips it (with a message) elsewhere.
pub fn python(what: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("EMBER_PYTHON").map(std::path::PathBuf::from);
    let runs = path.as_ref().is_some_and(|p| {
        std::process::Command::new(p)
            .args(["-c", "import openai, httpx_sse, requests"])
            .status()
            .is_ok_and(|s| s.success())
    });
    if runs {
        return path;
    }
    ember_runtime::test_util::require_or_skip(
        what,
        "no Python with tests/python/requirements.txt; set EMBER_PYTHON (see .ci/run)",
    );
    None
}
