//! The HTTP/1.1 responder core shared by the hand-rolled peers (`tokio-raw`,
//! `monoio-raw`): parse every complete request in a read buffer with httparse
//! and append all their responses to one output buffer, which the caller then
//! writes once. The Date header comes from a per-thread cache that the peer's
//! runtime refreshes once a second with [`refresh_date`].

use std::cell::Cell;
use std::io::Write as _;

use crate::{MESSAGE, PLAINTEXT};

thread_local! {
    static DATE: Cell<[u8; 29]> = Cell::new(crate::http_date());
}

/// Re-reads the clock into this thread's cached Date value.
pub fn refresh_date() {
    DATE.with(|d| d.set(crate::http_date()));
}

/// Appends one response with the common headers and `body`.
fn push_response(out: &mut Vec<u8>, server: &str, status: &str, content_type: &str, body: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(server.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    let mut len = [0u8; 20];
    let mut cur = std::io::Cursor::new(&mut len[..]);
    write!(cur, "{}", body.len()).expect("length fits");
    let n = cur.position() as usize;
    out.extend_from_slice(&len[..n]);
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(&DATE.with(Cell::get));
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// What [`Responder::handle`] found in the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    /// Bytes of `input` taken by complete requests.
    pub consumed: usize,
    /// Whether the connection stays open after `out` is written.
    pub keep_open: bool,
}

/// Per-connection responder state: a scratch buffer for JSON bodies.
#[derive(Debug)]
pub struct Responder {
    server: &'static str,
    scratch: Vec<u8>,
}

impl Responder {
    /// A responder that names itself `server` in the Server header.
    pub fn new(server: &'static str) -> Self {
        Self { server, scratch: Vec::with_capacity(64) }
    }

    /// Answers every complete request at the start of `input`, appending the
    /// responses to `out`. Stops at a partial request, after a request that
    /// closes the connection, or at a malformed request (answered with 400).
    pub fn handle(&mut self, input: &[u8], out: &mut Vec<u8>) -> Handled {
        let mut consumed = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&input[consumed..]) {
                Ok(httparse::Status::Complete(n)) => {
                    consumed += n;
                    if !self.respond(&req, out) {
                        return Handled { consumed, keep_open: false };
                    }
                }
                Ok(httparse::Status::Partial) => return Handled { consumed, keep_open: true },
                Err(_) => {
                    push_response(out, self.server, "400 Bad Request", "text/plain", b"Bad Request");
                    return Handled { consumed, keep_open: false };
                }
            }
        }
    }

    /// Answers one parsed request; returns whether the connection stays open.
    fn respond(&mut self, req: &httparse::Request<'_, '_>, out: &mut Vec<u8>) -> bool {
        match (req.method, req.path) {
            (Some("GET"), Some("/plaintext")) => {
                push_response(out, self.server, "200 OK", "text/plain", PLAINTEXT.as_bytes())
            }
            (Some("GET"), Some("/json")) => {
                self.scratch.clear();
                serde_json::to_writer(&mut self.scratch, &MESSAGE).expect("serialize");
                push_response(out, self.server, "200 OK", "application/json", &self.scratch);
            }
            _ => push_response(out, self.server, "404 Not Found", "text/plain", b"Not Found"),
        }
        let close = req.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
        });
        !close && req.version == Some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_requests_are_answered_together() {
        let mut r = Responder::new("t");
        let mut out = Vec::new();
        let input = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n\r\nGET /pl";
        let h = r.handle(input, &mut out);
        assert_eq!(h.consumed, input.len() - 7);
        assert!(h.keep_open);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
        assert!(text.contains("Content-Length: 13\r\n"));
        assert!(text.ends_with("{\"message\":\"Hello, World!\"}"));
    }

    #[test]
    fn connection_close_and_unknown_paths() {
        let mut r = Responder::new("t");
        let mut out = Vec::new();
        let input = b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\nGET /json HTTP/1.1\r\n\r\n";
        let h = r.handle(input, &mut out);
        assert!(!h.keep_open);
        assert!(String::from_utf8(out).unwrap().starts_with("HTTP/1.1 404 Not Found"));
    }
}
