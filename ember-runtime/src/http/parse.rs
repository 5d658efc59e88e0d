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
    /// How the body is framed.
    pub(crate) body: BodyKind,
    /// Exactly one `Host` field was sent.
    pub(crate) has_host: bool,
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
    // Any number is skipped (clients send a stray CRLF after a body), within the request-line
    // limit so that a stream of empty lines cannot grow the buffer forever.
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") {
        start += 2;
        if start > limits.max_request_line {
            return Parsed::Reject(StatusCode::BAD_REQUEST);
        }
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
    if head_len - start > limits.max_head_bytes {
        return Parsed::Reject(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Parsed::Reject(StatusCode::BAD_REQUEST);
    };
    if !crlf_only(buf, req.headers, head_len) {
        return Parsed::Reject(StatusCode::BAD_REQUEST);
    }
    if method.len() + target.len() + 10 > limits.max_request_line {
        return Parsed::Reject(StatusCode::URI_TOO_LONG);
    }
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    let method = Method::from_token(method);
    let Some((path, query)) = request_target(method, target) else {
        return Parsed::Reject(StatusCode::BAD_REQUEST);
    };

    let mut content_length: Option<u64> = None;
    let mut hosts = 0usize;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    let mut te = TransferCodings::default();
    for h in req.headers.iter() {
        let name = h.name;
        let value = h.value;
        if value.contains(&0) {
            return Parsed::Reject(StatusCode::BAD_REQUEST);
        }
        // The five names the parser acts on have five different lengths: the length picks
        // the one comparison worth making.
        match name.len() {
            14 if name.eq_ignore_ascii_case("content-length") => {
                let Some(n) = parse_content_length(value) else {
                    return Parsed::Reject(StatusCode::BAD_REQUEST);
                };
                if content_length.is_some_and(|prev| prev != n) {
                    return Parsed::Reject(StatusCode::BAD_REQUEST);
                }
                content_length = Some(n);
            }
            // `add` records the codings; `false` when they are malformed.
            17 if name.eq_ignore_ascii_case("transfer-encoding") && !te.add(value) => {
                return Parsed::Reject(StatusCode::BAD_REQUEST);
            }
            6 if name.eq_ignore_ascii_case("expect") => {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = true;
                } else {
                    return Parsed::Reject(StatusCode::EXPECTATION_FAILED);
                }
            }
            4 if name.eq_ignore_ascii_case("host") => {
                hosts += 1;
                if !valid_host(value) {
                    return Parsed::Reject(StatusCode::BAD_REQUEST);
                }
            }
            10 if name.eq_ignore_ascii_case("connection") => {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            // Neither framing nor connection management: passed on as it is.
            _ => {}
        }
        headers.push(Header { name, value });
    }
    if hosts > 1 {
        return Parsed::Reject(StatusCode::BAD_REQUEST);
    }
    let body = if te.present {
        // RFC 9112 §6.1–6.3: Transfer-Encoding on HTTP/1.0, beside Content-Length, or
        // without chunked as the final coding leaves the length unknowable: 400 and close.
        if version == Version::Http10
            || content_length.is_some()
            || !te.chunked_final
            || te.chunked > 1
        {
            return Parsed::Reject(StatusCode::BAD_REQUEST);
        }
        if te.other {
            // gzip, deflate, …: understood framing, but a coding we do not decode.
            return Parsed::Reject(StatusCode::NOT_IMPLEMENTED);
        }
        BodyKind::Chunked
    } else {
        BodyKind::Length(content_length.unwrap_or(0))
    };
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
        body,
        has_host: hosts == 1,
        expect_continue: expect_continue && version == Version::Http11,
        keep_alive,
    })
}

/// Whether every line of the head ends in CRLF. httparse also accepts a bare LF (RFC 9112
/// §2.2 allows either); we take the strict reading, since lenient line endings are a
/// classic way to make two parsers disagree. Checking the two bytes before each field name
/// and the final blank line covers every line terminator at O(fields) cost.
fn crlf_only(buf: &[u8], headers: &[httparse::Header<'_>], head_len: usize) -> bool {
    let base = buf.as_ptr() as usize;
    headers.iter().all(|h| {
        let at = h.name.as_ptr() as usize - base;
        at >= 2 && &buf[at - 2..at] == b"\r\n"
    }) && head_len >= 4
        && &buf[head_len - 4..head_len] == b"\r\n\r\n"
}

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// `Content-Length` bytes (0 when absent).
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
}

/// What the `Transfer-Encoding` fields of a request say, across all of them.
#[derive(Debug, Default)]
struct TransferCodings {
    present: bool,
    /// Times `chunked` appears.
    chunked: usize,
    /// Whether the last coding is `chunked`.
    chunked_final: bool,
    /// Whether any coding other than `chunked` appears.
    other: bool,
}

impl TransferCodings {
    /// Adds one field's list; `false` when it is not a list of tokens.
    fn add(&mut self, value: &[u8]) -> bool {
        self.present = true;
        let mut any = false;
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() {
                continue;
            }
            // Transfer parameters (`;q=…`) are only for TE; codings here are bare tokens.
            if !item.iter().all(|&b| is_tchar(b)) {
                return false;
            }
            any = true;
            if item.eq_ignore_ascii_case(b"chunked") {
                self.chunked += 1;
                self.chunked_final = true;
            } else {
                self.other = true;
                self.chunked_final = false;
            }
        }
        any
    }
}

fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// A byte table from a predicate over ASCII letters, digits and the listed punctuation.
const fn table(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// RFC 9110 `tchar`.
const TCHAR: [bool; 256] = table(b"!#$%&'*+-.^_`|~");
/// RFC 3986 `reg-name` characters (unreserved, sub-delims, `%` of pct-encoded).
const REG_NAME: [bool; 256] = table(b"-._~!$&'()*+,;=%");

/// `Host = uri-host [ ":" port ]`: registered names, IPv4 and bracketed IPv6 literals.
fn valid_host(value: &[u8]) -> bool {
    // The host is checked while the port is split off: a bracketed IPv6 literal, or
    // reg-name bytes up to the first `:`.
    let port = match value.first() {
        Some(b'[') => match value.iter().position(|&b| b == b']') {
            Some(end)
                if value[1..end]
                    .iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.') =>
            {
                &value[end + 1..]
            }
            _ => return false,
        },
        _ => {
            let mut i = 0;
            while i < value.len() && REG_NAME[usize::from(value[i])] {
                i += 1;
            }
            &value[i..]
        }
    };
    match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit) && digits.len() <= 5,
        _ => false,
    }
}

/// Splits the request target into path and query (RFC 9112 §3.2), checking its form
/// against the method: origin-form for most methods, `*` only for OPTIONS, absolute-form
/// (`http://host/path`, reduced to its path) for any, authority-form (CONNECT) never: we
/// are not a proxy. A fragment is not part of a target; it is dropped.
fn request_target<'b>(method: Method<'b>, target: &'b str) -> Option<(&'b str, &'b str)> {
    if matches!(method, Method::Connect) {
        return None;
    }
    if target.starts_with('/') {
        // Origin form, the common case: one pass for the first `?` or `#`.
        return Some(match memchr::memchr2(b'?', b'#', target.as_bytes()) {
            None => (target, ""),
            Some(i) if target.as_bytes()[i] == b'#' => (&target[..i], ""),
            Some(i) => {
                let query = &target[i + 1..];
                let query = match memchr::memchr(b'#', query.as_bytes()) {
                    Some(j) => &query[..j],
                    None => query,
                };
                (&target[..i], query)
            }
        });
    }
    // A fragment is dropped.
    let target = match memchr::memchr(b'#', target.as_bytes()) {
        Some(i) => &target[..i],
        None => target,
    };
    if target == "*" {
        return matches!(method, Method::Options).then_some(("*", ""));
    }
    let lower_scheme = |s: &str| {
        target.len() >= s.len() && target.as_bytes()[..s.len()].eq_ignore_ascii_case(s.as_bytes())
    };
    let rest = if lower_scheme("http://") {
        &target[7..]
    } else if lower_scheme("https://") {
        &target[8..]
    } else {
        return None;
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() || authority.contains('@') || !valid_host(authority.as_bytes()) {
        return None;
    }
    let (path, query) = split_target(&rest[authority_end..]);
    Some((if path.is_empty() { "/" } else { path }, query))
}

/// Resumes the search for the end of a head that was incomplete when its first `scanned`
/// bytes had arrived: `Some` (still [`Parsed::Partial`], or a limit's rejection) when the
/// bytes since hold no blank line either, without parsing the head again; `None` when the
/// head may now be complete and [`parse_head`] must run. A head trickled in byte by byte
/// so costs a scan of each new byte, not a parse of the whole prefix per read.
pub(crate) fn still_partial(
    buf: &[u8],
    scanned: usize,
    limits: &HeadLimits,
) -> Option<Parsed<'static>> {
    // A blank line is `\n` then `\n` or `\r\n`; start two bytes back so a line end split
    // across reads is found.
    let from = scanned.saturating_sub(2).min(buf.len());
    let tail = &buf[from..];
    for i in memchr::memchr_iter(b'\n', tail) {
        if let [b'\n', ..] | [b'\r', b'\n', ..] = tail[i + 1..] {
            return None;
        }
    }
    if buf.len() <= limits.max_request_line.min(limits.max_head_bytes) {
        return Some(Parsed::Partial);
    }
    Some(partial_or_limit(buf, limits))
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

/// `HTTP/2.0`, `HTTP/3.0`: a well-formed version we do not speak (505); anything else,
/// including a request line with more or fewer than three parts, is 400.
fn version_error(buf: &[u8]) -> StatusCode {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let mut parts = buf[..line_end].split(|&b| b == b' ');
    let (Some(_), Some(_), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return StatusCode::BAD_REQUEST;
    };
    let well_formed = v.len() == 8
        && v.starts_with(b"HTTP/")
        && v[5].is_ascii_digit()
        && v[6] == b'.'
        && v[7].is_ascii_digit();
    if well_formed {
        StatusCode::HTTP_VERSION_NOT_SUPPORTED
    } else {
        StatusCode::BAD_REQUEST
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
            Parsed::Head(h) if h.version == Version::Http11 && !h.has_host => Err(400),
            Parsed::Head(h) => Ok((
                h.head_len,
                match h.body {
                    BodyKind::Length(n) => n as usize,
                    BodyKind::Chunked => usize::MAX,
                },
                h.keep_alive,
            )),
            Parsed::Partial => Err(0),
            Parsed::Reject(s) => Err(s.as_u16()),
        }
    }

    /// Feeds `raw` in pieces of `step` bytes the way the connection loop does: a full parse
    /// first, then [`still_partial`] over what was seen, a parse again only once it says so.
    fn parse_trickled(raw: &[u8], step: usize) -> Outcome {
        let limits = HeadLimits::default();
        let mut scanned = 0;
        let mut end = 0;
        loop {
            end = (end + step).min(raw.len());
            let seen = &raw[..end];
            if scanned > 0 {
                match still_partial(seen, scanned, &limits) {
                    Some(Parsed::Partial) if end < raw.len() => {
                        scanned = end;
                        continue;
                    }
                    Some(Parsed::Partial) => return Err(0),
                    Some(Parsed::Reject(s)) => return Err(s.as_u16()),
                    Some(Parsed::Head(_)) => unreachable!("never a head"),
                    None => {}
                }
            }
            match parse(seen) {
                Err(0) if end < raw.len() => scanned = end,
                other => return other,
            }
        }
    }

    #[test]
    fn a_trickled_head_parses_as_a_whole_one_without_reparsing_each_piece() {
        let cases: &[&[u8]] = &[
            b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\nHost: x\n\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n",
        ];
        for raw in cases {
            let whole = parse(raw);
            for step in [1, 2, 3, 7] {
                assert_eq!(
                    parse_trickled(raw, step),
                    whole,
                    "{:?} in pieces of {step}",
                    String::from_utf8_lossy(raw)
                );
            }
        }
        // The limits still apply to a head that never ends.
        let long = [b'a'; 20_000];
        assert_eq!(parse_trickled(&long, 1000), Err(414));
    }

    #[test]
    fn still_partial_only_scans_what_is_new() {
        let limits = HeadLimits::default();
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r";
        assert!(matches!(
            still_partial(head, head.len(), &limits),
            Some(Parsed::Partial)
        ));
        let done = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        // The blank line's start was seen before; its last byte is new.
        assert!(still_partial(done, head.len(), &limits).is_none());
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
            (b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok((31, 0, true))),
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a\n\n", Err(400)),
            (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
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
                Ok((56, usize::MAX, true)),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Err(501),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                Err(400),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err(400),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                Err(400),
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err(400),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
                Err(400),
            ),
            (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", Ok((34, 0, true))),
            (b"GET / HTTP/1.1\r\nHost: \r\n\r\n", Ok((26, 0, true))),
            (b"GET http://a.b/c?d HTTP/1.1\r\nHost: x\r\n\r\n", Ok((40, 0, true))),
            (b"GET http://u@a.b/ HTTP/1.1\r\nHost: x\r\n\r\n", Err(400)),
            (b"GET ftp://a.b/ HTTP/1.1\r\nHost: x\r\n\r\n", Err(400)),
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
