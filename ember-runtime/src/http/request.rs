//! The request a handler sees: borrowed from the connection's read buffer, never copied.

use std::cell::Cell;
use std::fmt;
use std::net::IpAddr;
use std::os::fd::{BorrowedFd, RawFd};

use super::method::Method;

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

/// One request header: a name (as sent; compare case-insensitively) and its raw value bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The field name, as sent.
    pub name: &'a str,
    /// The field value, without surrounding whitespace.
    pub value: &'a [u8],
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:?}",
            self.name,
            String::from_utf8_lossy(self.value)
        )
    }
}

/// Where a request's peer address comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Peer<'a> {
    /// Given (tests, tools, a copy made by the cache), or unknown.
    Known(Option<IpAddr>),
    /// The connection's socket, asked once, on first use.
    Socket(&'a PeerCell),
}

/// A connection's peer address, looked up lazily: `getpeername` runs the first time a
/// request of the connection asks for it (a rate limit by IP, the access log), never for
/// connections whose requests nobody asks about.
#[derive(Debug)]
pub(crate) struct PeerCell {
    fd: RawFd,
    ip: Cell<Option<Option<IpAddr>>>,
}

impl PeerCell {
    /// The peer of socket `fd`, not looked up yet.
    ///
    /// # Safety
    ///
    /// `fd` must stay an open socket for as long as the cell is used (the connection loop
    /// keeps its transport, which owns the socket, alive longer than the cell).
    pub(crate) unsafe fn new(fd: RawFd) -> Self {
        PeerCell {
            fd,
            ip: Cell::new(None),
        }
    }

    /// The peer's IP address, looked up on the first call.
    pub(crate) fn get(&self) -> Option<IpAddr> {
        if let Some(ip) = self.ip.get() {
            return ip;
        }
        // SAFETY: `new`'s contract keeps the descriptor open while the cell is used.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let ip = socket2::SockRef::from(&fd)
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.ip());
        self.ip.set(Some(ip));
        ip
    }
}

/// An HTTP request, borrowed from the connection's buffer.
///
/// The path and query are raw (not percent-decoded); typed path parameters are decoded by
/// the generated router before they reach a handler.
///
/// ```
/// use ember_runtime::{Header, Method, Request, Version};
///
/// let headers = [Header { name: "Accept", value: b"text/plain" }];
/// let req = Request::from_parts(Method::Get, "/tasks?page=2", Version::Http11, &headers, b"");
/// assert_eq!(req.path(), "/tasks");
/// assert_eq!(req.query_param("page"), Some("2"));
/// assert_eq!(req.header_str("accept"), Some("text/plain"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub(crate) method: Method<'a>,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) version: Version,
    pub(crate) headers: &'a [Header<'a>],
    pub(crate) body: &'a [u8],
    /// The client's address (the TCP peer): known, or asked of the socket when first read.
    pub(crate) peer: Peer<'a>,
    /// Who middleware authenticated (bearer auth, API key), if any.
    pub(crate) identity: Option<&'a str>,
    /// A value a `hook`'s `extend` function produced for the handler.
    pub(crate) extension: Option<&'a dyn std::any::Any>,
    // observe (obs, issue 16)
    /// The request's id (`request_id:` in the spec), accepted or generated.
    pub(crate) request_id: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// Builds a request from its parts (for tests and tools; servers build them while parsing).
    pub fn from_parts(
        method: Method<'a>,
        target: &'a str,
        version: Version,
        headers: &'a [Header<'a>],
        body: &'a [u8],
    ) -> Self {
        let (path, query) = split_target(target);
        Request {
            method,
            path,
            query,
            version,
            headers,
            body,
            peer: Peer::Known(None),
            identity: None,
            extension: None,
            request_id: None,
        }
    }

    // observe (obs, issue 16)
    /// The request's id when the spec has `request_id:`: the client's `X-Request-Id` (or the
    /// configured header) when it was well-formed and accepted, else one the server made.
    /// The same id is echoed on the response and written in the access-log line.
    pub fn request_id(&self) -> Option<&'a str> {
        self.request_id
    }

    /// The same request carrying `id` as its request id (for tests and tools).
    pub fn with_request_id(mut self, id: &'a str) -> Self {
        self.request_id = Some(id);
        self
    }

    /// The value of type `T` that a `hook` with `extend` produced for this request (see
    /// `docs/spec.md`), or `None` (no such hook, or a value of another type). One slot: an
    /// inner `extend` hook's value replaces an outer one's.
    pub fn extension<T: std::any::Any>(&self) -> Option<&'a T> {
        self.extension.and_then(|e| e.downcast_ref::<T>())
    }

    /// The same request carrying `value` as its extension (generated middleware calls this;
    /// no allocation: the value lives in the route's future).
    pub fn with_extension<'b>(self, value: &'b dyn std::any::Any) -> Request<'b>
    where
        'a: 'b,
    {
        let r: Request<'b> = self;
        Request {
            extension: Some(value),
            ..r
        }
    }

    /// The same request with the client's address set (for tests and tools).
    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.peer = Peer::Known(Some(peer));
        self
    }

    /// The address of the TCP peer that sent the request, when known. Behind a proxy this
    /// is the proxy; the `rate_limit` middleware can trust `X-Forwarded-For` from listed
    /// proxies.
    pub fn peer_ip(&self) -> Option<IpAddr> {
        match self.peer {
            Peer::Known(ip) => ip,
            Peer::Socket(cell) => cell.get(),
        }
    }

    /// The identity the route's authentication middleware (`bearer`, `api_key`) accepted:
    /// the name of the matching token or key, or what the user's `verify` function
    /// returned. `None` on routes without authentication.
    pub fn identity(&self) -> Option<&'a str> {
        self.identity
    }

    /// The same request carrying `identity` (generated middleware calls this; a copy of a
    /// few words, no allocation).
    pub fn with_identity<'b>(self, identity: &'b str) -> Request<'b>
    where
        'a: 'b,
    {
        let r: Request<'b> = self;
        Request {
            identity: Some(identity),
            ..r
        }
    }

    /// The request method.
    pub fn method(&self) -> Method<'a> {
        self.method
    }

    /// The raw path of the request target, without the query (`/a%20b`).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The raw query string without `?`, or `""` when there is none.
    pub fn query(&self) -> &'a str {
        self.query
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// All headers, in the order they were sent.
    pub fn headers(&self) -> &'a [Header<'a>] {
        self.headers
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The value of the first header named `name`, if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The `Last-Event-ID` header: the id of the last server-sent event a reconnecting
    /// client saw (see [`Event::id`](crate::Event::id)), if it sent one as valid UTF-8.
    pub fn last_event_id(&self) -> Option<&'a str> {
        self.header_str("last-event-id")
    }

    /// The request body (already complete: the runtime reads it before the handler runs).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The value of the first query parameter named `name`, raw (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&'a str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Splits a request target at the first `?`.
pub(crate) fn split_target(target: &str) -> (&str, &str) {
    match target.bytes().position(|b| b == b'?') {
        Some(i) => (&target[..i], &target[i + 1..]),
        None => (target, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        let r = Request::from_parts(Method::Get, "/t?a=1&b&c=x%20y", Version::Http11, &[], b"");
        assert_eq!(r.path(), "/t");
        assert_eq!(r.query(), "a=1&b&c=x%20y");
        assert_eq!(r.query_param("a"), Some("1"));
        assert_eq!(r.query_param("b"), Some(""));
        assert_eq!(r.query_param("c"), Some("x%20y"));
        assert_eq!(r.query_param("d"), None);
    }

    #[test]
    fn headers_are_case_insensitive() {
        let hs = [Header {
            name: "X-Thing",
            value: b"1",
        }];
        let r = Request::from_parts(Method::Get, "/", Version::Http11, &hs, b"");
        assert_eq!(r.header("x-thing"), Some(&b"1"[..]));
        assert_eq!(r.header_str("X-THING"), Some("1"));
        assert_eq!(r.last_event_id(), None);
        let hs = [Header {
            name: "last-event-ID",
            value: b"42",
        }];
        let r = Request::from_parts(Method::Get, "/", Version::Http11, &hs, b"");
        assert_eq!(r.last_event_id(), Some("42"));
    }
}
