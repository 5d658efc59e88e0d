//! Request-head parsing and message framing (RFC 9112), over a byte buffer.
//!
//! [`parse_head`] reads one request head from the front of a buffer and decides how long its
//! body is, or which error status ends the connection. It never looks past the head, so the
//! caller can wait for the body and then hand the handler a complete request.

use std::mem::MaybeUninit;

use super::method::Method;
use super::request::{Header, Version, split_target};
use super::status::StatusCode;

/// Limits that apply while parsing a request head.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadLimits {
    /// Most bytes in the request line (method, target, version); longer is `414`.
    pub(crate) max_request_line: usize,
    /// Most bytes in the whole head, request line included; more is `431`.
    pub(crate) max_head_bytes: usize,
    /// Most header fields; more is `431`.
    pub(crate) max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits::from(&crate::config::Limits::default())
    }
}

impl From<&crate::config::Limits> for HeadLimits {
    fn from(l: &crate::config::Limits) -> Self {
        HeadLimits {
            max_request_line: l.max_request_line,
            max_head_bytes: l.max_header_bytes,
            max_headers: l.max_headers,
        }
    }
}

/// Hard cap on header fields, whatever the configuration says (the parser's stack array).
const HEADER_SLOTS: usize = 128;

/// A parsed request head, borrowing the buffer.
#[derive(Debug)]
pub(crate) struct Head<'b> {
    pub(crate) method: Method<'b>,
    pub(crate) path: &'b str,
    pub(crate) query: &'b str,
    pub(crate) version: Version,
    /// Bytes taken by the head, through the blank line.
    pub(crate) head_len: usize,
    /// Bytes of body that follow the head (the declared `Content-Length`).
    pub(crate) body_len: u64,
    /// `Expect: 100-continue` was sent.
    pub(crate) expect_continue: bool,
    /// Whether the connection may carry another request after this one.
    pub(crate) keep_alive: bool,
}

/// The outcome of [`parse_head`].
#[derive(Debug)]
pub(crate) enum Parsed<'b> {
    /// The head is not complete yet: read more.
    Partial,
    /// A complete head; its headers were pushed into the caller's vector.
    Head(Head<'b>),
    /// The request is malformed or over a limit: answer with this status and close.
    Reject(StatusCode),
}

/// Parses one request head from the front of `buf`, pushing its headers into `headers`.
pub(crate) fn parse_head<'b>(
    buf: &'b [u8],
    limits: &HeadLimits,
    headers: &mut Vec<Header<'b>>,
) -> Parsed<'b> {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    let mut start = 0;
    while start < 2 && start < buf.len() && (buf[start] == b'\r' || buf[start] == b'\n') {
        start += 1;
    }
    let buf_from = &buf[start..];
    let mut slots = [const { MaybeUninit::<httparse::Header<'b>>::uninit() }; HEADER_SLOTS];
    let mut req = httparse::Request::new(&mut []);
    let max_headers = limits.max_headers.min(HEADER_SLOTS);
    let status = req.parse_with_uninit_headers(buf_from, &mut slots[..max_headers]);
    let head_len = match status {
        Ok(httparse::Status::Complete(n)) => n + start,
        Ok(httparse::Status::Partial) => return partial_or_limit(buf_from, limits),
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Reject(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Err(httparse::Error::Version) => {
            return Parsed::Reject(version_error(buf_from));
        }
        Err(_) => return Parsed::Reject(StatusCode::BAD_REQUEST),
    };
    if head_len > limits.max_head_bytes {
        return Parsed::Reject(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Parsed::Reject(StatusCode::BAD_REQUEST);
    };
    if method.len() + target.len() + 10 > limits.max_request_line {
        return Parsed::Reject(StatusCode::URI_TOO_LONG);
    }
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    let method = Method::from_token(method);
    if !target_fits_method(method, target) {
        return Parsed::Reject(StatusCode::BAD_REQUEST);
    }
    let (path, query) = split_target(target);

    let mut content_length: Option<u64> = None;
    let mut hosts = 0usize;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name;
        let value = h.value;
        if name.eq_ignore_ascii_case("content-length") {
            let Some(n) = parse_content_length(value) else {
                return Parsed::Reject(StatusCode::BAD_REQUEST);
            };
            if content_length.is_some_and(|prev| prev != n) {
                return Parsed::Reject(StatusCode::BAD_REQUEST);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked request bodies are not accepted yet: refuse rather than guess at the
            // framing (guessing is how requests get smuggled).
            return Parsed::Reject(StatusCode::NOT_IMPLEMENTED);
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Parsed::Reject(StatusCode::EXPECTATION_FAILED);
            }
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    conn_keep_alive = true;
                }
            }
        }
        if value.contains(&0) {
            return Parsed::Reject(StatusCode::BAD_REQUEST);
        }
        headers.push(Header { name, value });
    }
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Parsed::Reject(StatusCode::BAD_REQUEST);
    }
    let body_len = content_length.unwrap_or(0);
    let keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };
    Parsed::Head(Head {
        method,
        path,
        query,
        version,
        head_len,
        body_len,
        expect_continue: expect_continue && version == Version::Http11,
        keep_alive,
    })
}

/// Decides whether an incomplete head has already broken a limit.
fn partial_or_limit(buf: &[u8], limits: &HeadLimits) -> Parsed<'static> {
    match buf.iter().position(|&b| b == b'\n') {
        None if buf.len() > limits.max_request_line => Parsed::Reject(StatusCode::URI_TOO_LONG),
        Some(eol) if eol > limits.max_request_line => Parsed::Reject(StatusCode::URI_TOO_LONG),
        _ if buf.len() > limits.max_head_bytes => {
            Parsed::Reject(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        _ => Parsed::Partial,
    }
}

/// `HTTP/2.0`, `HTTP/3.0`: a well-formed version we do not speak (505); anything else is 400.
fn version_error(buf: &[u8]) -> StatusCode {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let line = &buf[..line_end];
    match line.rsplit(|&b| b == b' ').next() {
        Some(v)
            if v.len() == 8
                && v.starts_with(b"HTTP/")
                && v[5].is_ascii_digit()
                && v[6] == b'.'
                && v[7].is_ascii_digit() =>
        {
            StatusCode::HTTP_VERSION_NOT_SUPPORTED
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

/// RFC 9112 §3.2: origin-form for most methods, `*` only for OPTIONS, authority-form only
/// for CONNECT (which we do not serve), absolute-form accepted for any method.
fn target_fits_method(method: Method<'_>, target: &str) -> bool {
    match method {
        Method::Connect => false,
        Method::Options if target == "*" => true,
        _ => target.starts_with('/'),
    }
}

/// `Content-Length = 1*DIGIT`, with no sign, no spaces and no overflow.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(head_len, body_len, keep_alive)`, or the status (0 = partial).
    type Outcome = Result<(usize, usize, bool), u16>;

    fn parse(raw: &[u8]) -> Outcome {
        let mut hs = Vec::new();
        match parse_head(raw, &HeadLimits::default(), &mut hs) {
            Parsed::Head(h) => Ok((h.head_len, h.body_len as usize, h.keep_alive)),
            Parsed::Partial => Err(0),
            Parsed::Reject(s) => Err(s.as_u16()),
        }
    }

    #[test]
    fn framing_table() {
        let cases: &[(&[u8], Outcome)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok((27, 0, true))),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                Ok((46, 0, false)),
            ),
            (b"GET / HTTP/1.0\r\n\r\n", Ok((18, 0, false))),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                Ok((42, 0, true)),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
                Ok((47, 5, true)),
            ),
            (b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok((29, 0, true))),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", Err(0)),
            (b"GET / HTTP/1.1\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Err(400)),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                Err(400),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                Ok((66, 5, true)),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
                Err(400),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                Err(400),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
                Ok((53, 2000000, true)),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
                Ok((50, 0, true)),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n",
                Err(417),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err(501),
            ),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Err(505)),
            (b"GET / FOO\r\nHost: a\r\n\r\n", Err(400)),
            (b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
            (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Ok((31, 0, true))),
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
            (b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Err(400)),
        ];
        for (raw, want) in cases {
            assert_eq!(&parse(raw), want, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn limits() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(long_uri.as_bytes()), Err(414));
        let partial_long_uri = format!("GET /{}", "a".repeat(9000));
        assert_eq!(parse(partial_long_uri.as_bytes()), Err(414));
        let big_head = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n", "a".repeat(17000));
        assert_eq!(parse(big_head.as_bytes()), Err(431));
        let many: String = (0..101).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(parse(many.as_bytes()), Err(431));
    }

    #[test]
    fn head_fields() {
        let mut hs = Vec::new();
        let raw = b"GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Y:  z \r\n\r\n";
        let Parsed::Head(h) = parse_head(raw, &HeadLimits::default(), &mut hs) else {
            panic!("not a head")
        };
        assert_eq!((h.method, h.path, h.query), (Method::Get, "/a/b", "x=1"));
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[1].name, "X-Y");
        assert_eq!(hs[1].value, b"z");
    }
}
