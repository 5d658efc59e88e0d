//! Responses: what handlers return, and their encoding into the connection's write buffer.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;

use futures_core::Stream;

use bytes::Bytes;
use serde::Serialize;

use super::date;
use super::recycle::Recycled;
use super::status::StatusCode;

/// A response body.
#[derive(Default)]
enum Body {
    #[default]
    Empty,
    Static(&'static [u8]),
    Bytes(Bytes),
    Owned(Recycled),
    /// Produced while it is sent; see [`Response::stream`] (boxed: rare, and it keeps
    /// every other response small).
    Stream(Box<StreamBody>),
}

impl Body {
    fn as_slice(&self) -> &[u8] {
        match self {
            Body::Empty | Body::Stream(_) => &[],
            Body::Static(s) => s,
            Body::Bytes(b) => b,
            Body::Owned(v) => &v.0,
        }
    }
}

/// A streamed body: the chunks, and what to send last if the server shuts down mid-stream.
pub(crate) struct StreamBody {
    pub(crate) chunks: Pin<Box<dyn Stream<Item = Bytes>>>,
    pub(crate) final_chunk: Option<Bytes>,
}

/// Extra header lines, encoded as `Name: value\r\n`: built by the handler, or a block
/// shared with whoever encoded it (a stored response) and copied only if a header is added.
enum Lines {
    Owned(Recycled),
    Shared(Bytes),
}

impl Lines {
    fn as_slice(&self) -> &[u8] {
        match self {
            Lines::Owned(v) => &v.0,
            Lines::Shared(b) => b,
        }
    }

    /// The lines as a growable buffer (a shared block is copied once).
    fn to_mut(&mut self) -> &mut Vec<u8> {
        if let Lines::Shared(b) = self {
            let mut v = Recycled::take();
            v.0.extend_from_slice(b);
            *self = Lines::Owned(v);
        }
        match self {
            Lines::Owned(v) => {
                // The first header takes a recycled buffer rather than allocating one.
                if v.0.capacity() == 0 {
                    *v = Recycled::take();
                }
                &mut v.0
            }
            Lines::Shared(_) => unreachable!("converted above"),
        }
    }
}

/// An HTTP response: status, content type, extra headers and a body — complete, or
/// streamed (see [`Response::stream`]).
///
/// `Server`, `Date`, `Content-Length` (or `Transfer-Encoding`) and `Connection` are written
/// by the runtime; extra headers are encoded once, when they are added.
///
/// ```
/// use ember_runtime::{Response, StatusCode};
///
/// let resp = Response::json(&serde_json::json!({ "id": 7 }))
///     .with_status(StatusCode::CREATED)
///     .header("Location", "/tasks/7");
/// assert_eq!(resp.status(), StatusCode::CREATED);
/// assert_eq!(resp.content_type(), Some("application/json"));
/// assert_eq!(resp.body(), br#"{"id":7}"#);
/// ```
pub struct Response {
    status: StatusCode,
    content_type: Option<Cow<'static, str>>,
    /// Extra header lines, already encoded as `Name: value\r\n`.
    headers: Lines,
    body: Body,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("headers", &String::from_utf8_lossy(self.headers.as_slice()))
            .field("body_len", &self.body.as_slice().len())
            .finish()
    }
}

/// The error returned by [`Response::try_header`] for a name or value that would break the
/// response's framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHeader {
    name: String,
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid or reserved response header `{}`", self.name)
    }
}

impl std::error::Error for InvalidHeader {}

/// Headers the runtime owns: a handler cannot set them, or the framing could lie.
const RESERVED: &[&str] = &["content-length", "transfer-encoding", "connection"];

impl Response {
    /// A response with no extra headers.
    #[inline]
    fn with(status: StatusCode, content_type: Option<&'static str>, body: Body) -> Self {
        Response {
            status,
            content_type: content_type.map(Cow::Borrowed),
            headers: Lines::Owned(Recycled::default()),
            body,
        }
    }

    /// An empty response with the given status.
    pub fn new(status: StatusCode) -> Self {
        Response::with(status, None, Body::Empty)
    }

    /// `200 OK`, `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<Cow<'static, str>>) -> Self {
        let body = match body.into() {
            Cow::Borrowed(s) => Body::Static(s.as_bytes()),
            Cow::Owned(s) => Body::Owned(Recycled(s.into_bytes())),
        };
        Response::with(StatusCode::OK, Some("text/plain; charset=utf-8"), body)
    }

    /// `200 OK`, `application/json`, the value serialized with serde_json.
    ///
    /// A value that fails to serialize (a map with non-string keys, say) becomes a `500`.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        // Serialized into a buffer an earlier response used (no allocation when warm).
        let mut buf = Recycled::take();
        match serde_json::to_writer(&mut buf.0, value) {
            Ok(()) => Response::with(StatusCode::OK, Some("application/json"), Body::Owned(buf)),
            Err(e) => {
                tracing::error!("response serialization failed: {e}");
                Response::error(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// `200 OK` with a byte body and no content type.
    pub fn bytes(body: impl Into<Bytes>) -> Self {
        Response::with(StatusCode::OK, None, Body::Bytes(body.into()))
    }

    /// `200 OK` with a body produced while it is sent: each item of `chunks` goes out as
    /// soon as it is ready (one write each), framed with the chunked transfer coding for
    /// HTTP/1.1 clients and by closing the connection for HTTP/1.0 ones. Use it for
    /// server-sent events, long downloads and token streams.
    pub fn stream<S>(chunks: S) -> Self
    where
        S: Stream<Item = Bytes> + 'static,
    {
        Response::with(
            StatusCode::OK,
            None,
            Body::Stream(Box::new(StreamBody {
                chunks: Box::pin(chunks),
                final_chunk: None,
            })),
        )
    }

    /// A streamed `200 OK` fed through a channel: send chunks with the returned
    /// [`BodySender`] (from a task spawned with `tokio::task::spawn_local`, say); the body
    /// ends when the sender is dropped. A send fails once the client has gone.
    pub fn channel(capacity: usize) -> (BodySender, Response) {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        (BodySender { tx }, Response::stream(ChannelStream { rx }))
    }

    /// For a streamed response: bytes to send as the last chunk if the server shuts down
    /// before the stream ends (an SSE `event: shutdown`, say), so clients learn why it ended.
    pub fn with_final_chunk(mut self, last: impl Into<Bytes>) -> Self {
        if let Body::Stream(s) = &mut self.body {
            s.final_chunk = Some(last.into());
        }
        self
    }

    /// Whether the body is streamed.
    pub fn is_stream(&self) -> bool {
        matches!(self.body, Body::Stream(_))
    }

    /// Takes a streamed body out, leaving the response empty.
    pub(crate) fn take_stream(&mut self) -> Option<StreamBody> {
        match std::mem::take(&mut self.body) {
            Body::Stream(s) => Some(*s),
            other => {
                self.body = other;
                None
            }
        }
    }

    /// A plain-text error response whose body is the status's reason phrase.
    pub fn error(status: StatusCode) -> Self {
        Response::text(status.reason()).with_status(status)
    }

    /// Replaces the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Replaces the `Content-Type`.
    pub fn with_content_type(mut self, content_type: impl Into<Cow<'static, str>>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds a header. Names or values containing CR, LF or NUL, and the framing headers the
    /// runtime owns (`Content-Length`, `Transfer-Encoding`, `Connection`), are refused.
    pub fn try_header(mut self, name: &str, value: &str) -> Result<Self, InvalidHeader> {
        self.push_header(name, value)?;
        Ok(self)
    }

    /// Adds a header; an invalid one (see [`Response::try_header`]) is dropped with a warning,
    /// so a value echoed from a client can never split the response.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Err(e) = self.push_header(name, value) {
            tracing::warn!("{e}: dropped");
        }
        self
    }

    fn push_header(&mut self, name: &str, value: &str) -> Result<(), InvalidHeader> {
        let valid_name = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name));
        let valid_value = value.bytes().all(|b| b != b'\r' && b != b'\n' && b != 0);
        if !valid_name || !valid_value {
            return Err(InvalidHeader {
                name: name.to_owned(),
            });
        }
        let lines = self.headers.to_mut();
        lines.extend_from_slice(name.as_bytes());
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(value.as_bytes());
        lines.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The content type, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        self.body.as_slice()
    }

    /// A response whose header lines (content type included) arrive already encoded, as
    /// a block shared with whoever encoded it (a stored response): building it copies and
    /// allocates nothing; adding a header copies the block once.
    pub(crate) fn preencoded(status: StatusCode, lines: Bytes, body: Bytes) -> Self {
        Response {
            status,
            content_type: None,
            headers: Lines::Shared(lines),
            body: Body::Bytes(body),
        }
    }

    /// The extra header lines, encoded (`Name: value\r\n` each; without the content type).
    pub(crate) fn header_block(&self) -> &[u8] {
        self.headers.as_slice()
    }

    /// Every extra header line, encoded (`Name: value\r\n`), for inspection.
    pub(crate) fn header_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.headers.as_slice().split_inclusive(|&b| b == b'\n')
    }

    /// The body as `Bytes`, moved (not copied) out of the response; a streamed body (which
    /// has no bytes yet) gives an empty one.
    pub(crate) fn into_body(self) -> Bytes {
        match self.body {
            Body::Empty | Body::Stream(_) => Bytes::new(),
            Body::Static(s) => Bytes::from_static(s),
            Body::Bytes(b) => b,
            Body::Owned(v) => Bytes::from(v.into_inner()),
        }
    }

    /// Encodes the response after whatever `out` already holds.
    ///
    /// `head_only` (a HEAD request) keeps `Content-Length` but omits the body; `keep_alive`
    /// false adds `Connection: close`; `http10_keep_alive` adds `Connection: keep-alive`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>, framing: Framing) {
        let body = self.body.as_slice();
        let lines = self.headers.as_slice();
        out.reserve(160 + lines.len() + body.len());
        match self.status.status_line() {
            Some(line) => out.extend_from_slice(line),
            None => {
                out.extend_from_slice(b"HTTP/1.1 ");
                out.extend_from_slice(itoa::Buffer::new().format(self.status.as_u16()).as_bytes());
                out.extend_from_slice(b" \r\n");
            }
        }
        out.extend_from_slice(&date::preamble());
        if let Some(ct) = &self.content_type {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(ct.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let bodiless = self.status.is_bodiless();
        if self.is_stream() {
            // HTTP/1.0 streams are delimited by closing the connection.
            if !bodiless && framing.chunked {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            }
        } else if !bodiless {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match framing.connection {
            ConnectionHeader::None => {}
            ConnectionHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
            ConnectionHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        }
        out.extend_from_slice(lines);
        out.extend_from_slice(b"\r\n");
        if !framing.head_only && !bodiless {
            out.extend_from_slice(body);
        }
    }
}

/// The sending half of [`Response::channel`].
///
/// ```no_run
/// use ember_runtime::Response;
///
/// async fn ticks() -> Response {
///     let (tx, resp) = Response::channel(8);
///     tokio::task::spawn_local(async move {
///         for i in 0..3 {
///             if tx.send(format!("data: {i}\n\n")).await.is_err() {
///                 return; // the client went away
///             }
///         }
///     });
///     resp.with_content_type("text/event-stream")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct BodySender {
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

/// The client went away (or the response was dropped): nothing more will be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyClosed;

impl fmt::Display for BodyClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the response body's receiver is gone")
    }
}

impl std::error::Error for BodyClosed {}

impl BodySender {
    /// Sends one chunk, waiting while the channel is full (backpressure from the client).
    pub async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), BodyClosed> {
        self.tx.send(chunk.into()).await.map_err(|_| BodyClosed)
    }

    /// Resolves once the client has gone (or the response was dropped): the runtime drops
    /// a streamed body as soon as it sees the connection close, even while nothing is sent.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// A channel receiver as a body stream.
struct ChannelStream {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
}

impl Stream for ChannelStream {
    type Item = Bytes;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        self.rx.poll_recv(cx)
    }
}

/// Which `Connection` header a response carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnectionHeader {
    /// None: HTTP/1.1 keep-alive, the default.
    None,
    /// `Connection: close`: the server closes after this response.
    Close,
    /// `Connection: keep-alive`: an HTTP/1.0 client asked to keep the connection.
    KeepAlive,
}

/// How a response is framed on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Framing {
    pub(crate) head_only: bool,
    pub(crate) connection: ConnectionHeader,
    /// The client speaks HTTP/1.1: streamed bodies use the chunked coding.
    pub(crate) chunked: bool,
}

/// Appends one chunk of the chunked transfer coding.
pub(crate) fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let mut n = data.len();
    let mut i = hex.len();
    while n > 0 {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
    }
    out.extend_from_slice(&hex[i..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Conversion of a handler's return value into a [`Response`]: implemented for
/// [`Response`], `&'static str` and `String` (text), `Vec<u8>` and `Bytes`, [`StatusCode`],
/// `()` (`204`), [`Json`], `(StatusCode, T)` and `Result<T, E>`.
///
/// ```
/// use ember_runtime::{IntoResponse, Response, StatusCode};
///
/// struct NotFound(&'static str);
///
/// impl IntoResponse for NotFound {
///     fn into_response(self) -> Response {
///         Response::text(self.0).with_status(StatusCode::NOT_FOUND)
///     }
/// }
///
/// // A handler returning `Result<String, NotFound>`:
/// let r: Result<String, NotFound> = Err(NotFound("no such task"));
/// assert_eq!(r.into_response().status(), StatusCode::NOT_FOUND);
/// ```
pub trait IntoResponse {
    /// Makes the response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::error(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(StatusCode::NO_CONTENT)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// A value answered as `application/json`.
///
/// ```
/// use ember_runtime::{IntoResponse, Json};
///
/// #[derive(serde::Serialize)]
/// struct Message { message: &'static str }
///
/// async fn json() -> Json<Message> {
///     Json(Message { message: "Hello, World!" })
/// }
/// let resp = Json(Message { message: "hi" }).into_response();
/// assert_eq!(resp.body(), br#"{"message":"hi"}"#);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(r: &Response, head_only: bool, connection: ConnectionHeader) -> String {
        let mut out = Vec::new();
        r.encode(
            &mut out,
            Framing {
                head_only,
                connection,
                chunked: true,
            },
        );
        let s = String::from_utf8(out).expect("utf8");
        // Blank out the date so the table stays stable.
        let i = s.find("Date: ").expect("date") + 6;
        format!("{}<date>{}", &s[..i], &s[i + date::DATE_LEN..])
    }

    #[test]
    fn encodes_text() {
        assert_eq!(
            encode(&Response::text("hi"), false, ConnectionHeader::None),
            "HTTP/1.1 200 OK\r\nServer: ember\r\nDate: <date>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nhi"
        );
    }

    #[test]
    fn head_keeps_length_drops_body() {
        assert_eq!(
            encode(&Response::bytes(&b"abc"[..]), true, ConnectionHeader::Close),
            "HTTP/1.1 200 OK\r\nServer: ember\r\nDate: <date>\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn bodiless_statuses_have_no_length() {
        assert_eq!(
            encode(&().into_response(), false, ConnectionHeader::KeepAlive),
            "HTTP/1.1 204 No Content\r\nServer: ember\r\nDate: <date>\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn header_injection_is_refused() {
        assert!(
            Response::text("")
                .try_header("X-A", "b\r\nSet-Cookie: x")
                .is_err()
        );
        assert!(
            Response::text("")
                .try_header("Content-Length", "1")
                .is_err()
        );
        assert!(Response::text("").try_header("Bad Name", "1").is_err());
        let r = Response::text("")
            .header("X-A", "b\r\nc")
            .header("X-B", "ok");
        assert!(encode(&r, false, ConnectionHeader::None).contains("\r\nX-B: ok\r\n\r\n"));
        assert!(!encode(&r, false, ConnectionHeader::None).contains("X-A"));
    }

    #[test]
    fn unregistered_status() {
        let r = Response::new(StatusCode::from_u16(299).expect("valid"));
        assert!(encode(&r, false, ConnectionHeader::None).starts_with("HTTP/1.1 299 \r\n"));
    }

    #[test]
    fn chunks_are_hex_framed() {
        let mut out = Vec::new();
        encode_chunk(&mut out, b"hello");
        encode_chunk(&mut out, &[b'x'; 300]);
        encode_chunk(&mut out, b"");
        assert!(out.starts_with(b"5\r\nhello\r\n12c\r\nxxx"));
        assert!(out.ends_with(b"xx\r\n"));
    }

    #[test]
    fn json_body() {
        let r = Json(serde_json::json!({"message": "Hello, World!"})).into_response();
        assert_eq!(r.body(), br#"{"message":"Hello, World!"}"#);
        assert_eq!(r.content_type(), Some("application/json"));
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn response_is_small() {
        let n = std::mem::size_of::<super::Response>();
        eprintln!("size_of::<Response>() = {n}");
        assert!(n <= 104, "Response grew to {n} bytes");
    }
}
