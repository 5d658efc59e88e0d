//! Entry points for the fuzz targets in `fuzz/` (and for their seed corpora, which run as
//! ordinary tests). Not a stable API.
//!
//! Each function feeds arbitrary bytes to one layer and checks invariants that must hold
//! for any input: no panic, no out-of-bounds framing, and — for whole connections — a
//! well-formed sequence of responses that ends at the first error.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use crate::config::{Limits, RouteLimits};
use crate::http::chunked::ChunkedDecoder;
use crate::http::method::Method;
use crate::http::parse::{BodyKind, HeadLimits, Parsed, parse_head};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::io::{Transport, WorkerState, conn};
use crate::service::Service;

/// Parses `data` as a request head; a complete head must lie within the input.
pub fn head(data: &[u8]) {
    let mut headers = Vec::new();
    if let Parsed::Head(h) = parse_head(data, &HeadLimits::default(), &mut headers) {
        assert!(h.head_len <= data.len());
        assert!(h.path.starts_with('/') || h.path == "*");
        if let BodyKind::Length(n) = h.body {
            let _ = n;
        }
    }
}

/// Decodes `data` as a chunked body, whole and in two pieces; both must agree, and a
/// finished body must lie within the input.
pub fn chunked(data: &[u8]) {
    let mut whole = data.to_vec();
    let a = ChunkedDecoder::new(1 << 20).decode(&mut whole);
    if let Ok(Some(d)) = a {
        assert!(d.encoded_len <= data.len() && d.decoded_len <= d.encoded_len);
    }
    let split = data.len() / 2;
    let mut dec = ChunkedDecoder::new(1 << 20);
    let mut buf = data[..split].to_vec();
    let first = dec.decode(&mut buf);
    let b = match first {
        Ok(None) => {
            buf.extend_from_slice(&data[split..]);
            dec.decode(&mut buf)
        }
        other => other,
    };
    match (a, b) {
        (Ok(Some(x)), Ok(Some(y))) => {
            assert_eq!(x, y);
            assert_eq!(whole[..x.decoded_len], buf[..y.decoded_len]);
        }
        (Err(x), Err(y)) => assert_eq!(x, y),
        (Ok(None), Ok(None)) => {}
        (x, y) => {
            // A split can only finish earlier when the first half is already complete.
            assert!(
                matches!((x, y), (Ok(Some(_)), Ok(Some(_)))),
                "whole {x:?} vs split {y:?}"
            );
        }
    }
}

/// A transport over an in-memory input, delivered in pieces whose sizes come from the
/// input itself, collecting everything written.
struct Memory {
    input: Vec<u8>,
    pos: usize,
    step: usize,
    out: Rc<RefCell<Vec<u8>>>,
}

impl Transport for Memory {
    async fn read(
        &mut self,
        buf: &mut Vec<u8>,
        pool: &crate::io::pool::BufPool,
    ) -> io::Result<usize> {
        if buf.capacity() == 0 {
            *buf = pool.take();
        }
        let n = self
            .step
            .min(self.input.len() - self.pos)
            .min(buf.capacity() - buf.len());
        buf.extend_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        self.out.borrow_mut().extend_from_slice(buf);
        buf.clear();
        Ok(())
    }
}

/// Answers with the body's length, so the output depends on framing.
#[derive(Clone, Copy)]
struct LengthService;

impl Service for LengthService {
    type Route = ();

    fn route(&self, _: Method<'_>, _: &str) -> ((), RouteLimits) {
        ((), RouteLimits::default())
    }

    async fn call<'a>(&'a self, _: (), req: &'a Request<'a>) -> Response {
        Response::text(format!("{} {}", req.method(), req.body().len()))
    }
}

/// Serves `data` (first byte: delivery piece size) as one connection's input and checks
/// that the output is a sequence of complete responses, none after an error.
pub fn connection(data: &[u8]) {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let out = Rc::new(RefCell::new(Vec::new()));
    let io = Memory {
        input: input.to_vec(),
        pos: 0,
        step: usize::from(step).max(1),
        out: out.clone(),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return,
    };
    let worker = WorkerState::new(0);
    let limits = Limits::default();
    rt.block_on(conn::serve(io, &LengthService, &limits, &worker));
    let out = out.borrow();
    let mut rest: &[u8] = &out;
    let mut saw_error = false;
    while !rest.is_empty() {
        assert!(!saw_error, "a response after an error response");
        assert!(
            rest.starts_with(b"HTTP/1.1 "),
            "not a response: {:?}",
            String::from_utf8_lossy(&rest[..rest.len().min(40)])
        );
        let status: u16 = std::str::from_utf8(&rest[9..12])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
            .unwrap_or(rest.len());
        let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if status >= 400 {
            saw_error = true;
            assert!(head.contains("connection: close"), "an error must close");
        }
        // An answer to HEAD carries Content-Length but no body; our bodies never start with
        // a status line, so a status line right after the head means there is none.
        let after_head = &rest[end..];
        let bodiless = after_head.is_empty() || after_head.starts_with(b"HTTP/1.1 ");
        let len = if bodiless && head.starts_with("http/1.1 200") && len > 0 {
            0
        } else {
            len
        };
        assert!(rest.len() >= end + len, "truncated response");
        rest = &rest[end + len..];
    }
}
