//! Shared bits of the HTTP benchmark peers.
//!
//! Every peer reads `BENCH_LISTEN` (default `127.0.0.1:18080`) and `BENCH_WORKERS`
//! (default 1) and serves the two TechEmpower shapes with these bodies.

pub mod raw;

use std::net::{SocketAddr, TcpListener};
use std::time::SystemTime;

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

/// `GET /plaintext` body.
pub const PLAINTEXT: &str = "Hello, World!";

/// `GET /json` body, serialized per request with serde_json.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Message {
    /// Always `"Hello, World!"`.
    pub message: &'static str,
}

/// The message every `/json` response serializes.
pub const MESSAGE: Message = Message { message: PLAINTEXT };

/// Listen address from `BENCH_LISTEN`, default `127.0.0.1:18080`.
pub fn listen_addr() -> SocketAddr {
    let v = std::env::var("BENCH_LISTEN").unwrap_or_default();
    let v = if v.is_empty() { "127.0.0.1:18080".to_owned() } else { v };
    v.parse()
        .unwrap_or_else(|e| panic!("BENCH_LISTEN={v:?} is not an address: {e}"))
}

/// Worker count from `BENCH_WORKERS`, default 1.
pub fn workers() -> usize {
    match std::env::var("BENCH_WORKERS") {
        Ok(v) if !v.is_empty() => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("BENCH_WORKERS={v:?} is not a positive integer"),
        },
        _ => 1,
    }
}

/// A non-blocking listener with `SO_REUSEADDR` and `SO_REUSEPORT` set, so each
/// worker thread can bind its own listener on the same address and let the kernel
/// spread connections between them.
pub fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, 29 bytes).
pub fn http_date() -> [u8; 29] {
    let s = httpdate::fmt_http_date(SystemTime::now());
    let mut out = [0u8; 29];
    out.copy_from_slice(s.as_bytes());
    out
}

/// Prints the start-up line the harness's logs keep.
pub fn announce(name: &str, addr: SocketAddr, workers: usize, detail: &str) {
    eprintln!("{name}: listening on http://{addr} with {workers} worker(s){detail}");
}
