//! The connection loop: read, parse every complete request, call the service, encode the
//! answers, and write each batch with one call. Pipelined requests are answered in order.
//!
//! Deadlines come from the worker's coarse timers (see `timer`): a keep-alive idle timeout
//! while waiting for a request, a header timeout from the first byte of a head until it is
//! complete (slowloris), a body timeout until the body is in, a handler timeout while the
//! handler runs, and the keep-alive timeout again as a send timeout while a client does not
//! read its answers.
//!
//! A streamed body goes out one write per chunk while the loop also watches the socket
//! (`Transport::watch`): a client that closes or resets the connection gets its body
//! stream dropped at once, even while the stream is idle; bytes it pipelines meanwhile
//! are kept for the next request.

use bytes::Bytes;

use super::timer::timed;
use super::{Transport, WorkerState};
use crate::config::{Limits, RouteLimits};
use crate::http::chunked::{ChunkedDecoder, ChunkedError, Decoded};
use crate::http::parse::{BodyKind, HeadLimits, Parsed, parse_head, still_partial};
use crate::http::request::{Header, Peer, PeerCell, Request, Version};
use crate::http::response::{ConnectionHeader, Framing, Response, StreamBody, encode_chunk};
use crate::http::status::StatusCode;
use crate::panic::CatchUnwind;
use crate::service::Service;

/// The least free space offered to each read of a partly received request.
const READ_CHUNK: usize = 4096;
/// Write-buffer size past which pending answers are flushed before serving more pipelined
/// requests, so a client that pipelines without reading cannot grow server memory unbounded.
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Most bytes a client may pipeline behind a streamed response while it streams; past
/// this the connection stops reading (and watching for the client's close) until the
/// stream ends.
const WATCH_LIMIT: usize = 64 * 1024;

/// What the connection is waiting for, which decides its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Between requests: the keep-alive timeout.
    Idle,
    /// Part of a head is in: the header timeout, counted from its first byte.
    Head,
    /// The head is in, the body is not: the body timeout.
    Body,
}

/// Serves one connection until the peer closes, an error or timeout ends it, or shutdown
/// finds it idle.
pub(crate) async fn serve<T: Transport, S: Service>(
    mut io: T,
    service: &S,
    limits: &Limits,
    worker: &WorkerState,
) {
    let head_limits = HeadLimits::from(limits);
    let timers = &worker.timers;
    let timer = timers.register();
    let pool = &worker.pool;
    // Both buffers come from the worker's pool while they hold bytes and go back when they
    // are empty: an idle connection holds no buffer.
    let mut rbuf: Vec<u8> = Vec::new();
    let mut wbuf: Vec<u8> = Vec::new();
    let mut header_store: Vec<Header<'static>> = Vec::new();
    let mut phase = Phase::Idle;
    timers.arm(&timer, limits.keep_alive_timeout);
    // Bytes the request at the front of `rbuf` needs in all (head + body), once known.
    let mut need: Option<usize> = None;
    // A chunked body being received: its head's length and the in-place decoder.
    let mut chunked: Option<(usize, ChunkedDecoder)> = None;
    // The routing of the request at the front while its body arrives (its head is parsed
    // again then; the route is not matched again).
    let mut routed: Option<(S::Route, RouteLimits)> = None;
    // Whether a request on this connection carried `Host` (later pipelined requests may
    // omit it, as llhttp's suite expects; the first HTTP/1.1 request may not).
    let mut host_seen = false;
    // Bytes of the head at the front of the unanswered requests already seen incomplete (0:
    // not parsed yet): the next read only scans the new bytes for the head's end.
    let mut scanned = 0usize;
    // The peer's address is looked up only if a request asks for it.
    // SAFETY: `io` owns the socket and outlives `peer_cell` (declared after it, dropped first).
    let peer_cell = io.socket_fd().map(|fd| unsafe { PeerCell::new(fd) });
    let peer = match &peer_cell {
        Some(cell) => Peer::Socket(cell),
        None => Peer::Known(None),
    };
    // observe (obs): the worker's observability state, and this connection counted open.
    let obs = worker.observe.as_deref();
    let _open = obs.map(crate::observe::Worker::connection);
    loop {
        // Read. An idle connection (nothing buffered) also gives way to shutdown.
        if !rbuf.is_empty() && rbuf.capacity() - rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK);
        }
        let read = if rbuf.is_empty() {
            if worker.is_shutting_down() {
                return;
            }
            // Idle: a shutdown expires this timer (`WorkerState::begin_shutdown`), which
            // ends the wait like the keep-alive timeout does; no shutdown future per read.
            timer.set_idle(true);
            let r = timed(&timer, io.read(&mut rbuf, pool)).await;
            timer.set_idle(false);
            r
        } else {
            timed(&timer, io.read(&mut rbuf, pool)).await
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => {
                // Timed out. Idle connections just close; a half-sent request gets a 408.
                if phase != Phase::Idle {
                    pool.refill(&mut wbuf);
                    reject(StatusCode::REQUEST_TIMEOUT, &mut wbuf);
                    timers.arm(&timer, limits.keep_alive_timeout);
                    let _ = timed(&timer, io.write_all(&mut wbuf)).await;
                }
                return;
            }
        }
        if need.is_some_and(|n| rbuf.len() < n) {
            continue;
        }
        need = None;
        pool.refill(&mut wbuf);

        // Answer every complete request in the buffer.
        let mut consumed = 0;
        // Whether a request was answered in this pass (`consumed` restarts at 0 when a
        // streamed answer drains the read buffer).
        let mut answered = false;
        let mut close = false;
        loop {
            // Resume a chunked body first, while nothing borrows the buffer.
            let mut decoded: Option<Decoded> = None;
            if let Some((head_len, decoder)) = chunked.as_mut() {
                match decoder.decode(&mut rbuf[consumed + *head_len..]) {
                    Ok(Some(d)) => {
                        decoded = Some(d);
                        chunked = None;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let status = match e {
                            ChunkedError::Malformed => StatusCode::BAD_REQUEST,
                            ChunkedError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                        };
                        reject(status, &mut wbuf);
                        close = true;
                        break;
                    }
                }
            }
            let front = &rbuf[consumed..];
            // A head already seen incomplete is parsed again only once its end has come
            // (a complete head is parsed in one pass, whatever it took to arrive).
            let resumed = match (scanned, decoded.is_some() || routed.is_some()) {
                (0, _) | (_, true) => None,
                (seen, false) => still_partial(front, seen, &head_limits),
            };
            let mut headers = recycle(std::mem::take(&mut header_store));
            match resumed.unwrap_or_else(|| parse_head(front, &head_limits, &mut headers)) {
                Parsed::Partial => {
                    scanned = front.len();
                    header_store = recycle(headers);
                    break;
                }
                Parsed::Reject(status) => {
                    reject(status, &mut wbuf);
                    close = true;
                    break;
                }
                Parsed::Head(head) => {
                    scanned = 0;
                    if head.version == Version::Http11 && !head.has_host && !host_seen {
                        reject(StatusCode::BAD_REQUEST, &mut wbuf);
                        close = true;
                        break;
                    }
                    host_seen |= head.has_host;
                    let (found, route) = routed
                        .take()
                        .unwrap_or_else(|| service.route(head.method, head.path));
                    let max_body = route.max_body_size.unwrap_or(limits.max_body_size);
                    let have = rbuf.len() - consumed - head.head_len;
                    let (body_len, total) = match (head.body, decoded) {
                        (BodyKind::Length(n), _) => {
                            if n > max_body {
                                // Answered from the headers: the body is never read.
                                reject(StatusCode::PAYLOAD_TOO_LARGE, &mut wbuf);
                                close = true;
                                break;
                            }
                            // Within `max_body`, far below `usize::MAX` on 64-bit targets.
                            let n = n as usize;
                            if have < n {
                                if head.expect_continue && have == 0 {
                                    wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                                }
                                need = Some(head.head_len + n);
                                routed = Some((found, route));
                                header_store = recycle(headers);
                                break;
                            }
                            (n, head.head_len + n)
                        }
                        (BodyKind::Chunked, Some(d)) => {
                            (d.decoded_len, head.head_len + d.encoded_len)
                        }
                        (BodyKind::Chunked, None) => {
                            if head.expect_continue && have == 0 {
                                wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                            }
                            chunked = Some((head.head_len, ChunkedDecoder::new(max_body)));
                            routed = Some((found, route));
                            header_store = recycle(headers);
                            // Decode what is here already, then come back to this head.
                            continue;
                        }
                    };
                    let start = consumed + head.head_len;
                    // observe (obs): the clock starts, the request gets its id.
                    let mut id_buf = std::mem::MaybeUninit::uninit();
                    let begun = obs.map(|o| o.begin(service.route_id(&found)));
                    let request_id = obs.and_then(|o| {
                        o.request_id(&headers, id_buf.write(crate::observe::IdBuf::new()))
                    });
                    let req = Request {
                        method: head.method,
                        path: head.path,
                        query: head.query,
                        version: head.version,
                        headers: &headers,
                        body: &rbuf[start..start + body_len],
                        peer,
                        identity: None,
                        extension: None,
                        request_id,
                    };
                    match route.handler_timeout.unwrap_or(limits.handler_timeout) {
                        Some(t) => timers.arm(&timer, t),
                        None => timers.disarm(&timer),
                    }
                    let call = service.call(found, &req);
                    // observe (obs): with request ids, the handler's log lines (at `info` or
                    // more verbose) carry the id; without, the handler runs as it is.
                    let outcome = match request_id {
                        Some(id) => {
                            let call = tracing::Instrument::instrument(call, observe_span(id));
                            timed(&timer, CatchUnwind(call)).await
                        }
                        None => timed(&timer, CatchUnwind(call)).await,
                    };
                    let (mut response, keep) = match outcome {
                        Ok(Ok(r)) => (r, true),
                        Ok(Err(())) => (Response::error(StatusCode::INTERNAL_SERVER_ERROR), false),
                        Err(_) => (Response::error(StatusCode::SERVICE_UNAVAILABLE), false),
                    };
                    // An HTTP/1.0 client learns where a streamed body ends from the close.
                    let keep_alive = head.keep_alive
                        && keep
                        && !(response.is_stream() && head.version == Version::Http10);
                    let connection = match (keep_alive, head.version) {
                        (false, _) => ConnectionHeader::Close,
                        (true, Version::Http10) => ConnectionHeader::KeepAlive,
                        (true, Version::Http11) => ConnectionHeader::None,
                    };
                    let head_only = matches!(head.method, crate::http::method::Method::Head);
                    let chunked = head.version == Version::Http11;
                    let head_start = wbuf.len(); // observe (obs)
                    response.encode(
                        &mut wbuf,
                        Framing {
                            head_only,
                            connection,
                            chunked,
                        },
                    );
                    // observe (obs): echo the id, count, log.
                    if let (Some(o), Some(b)) = (obs, begun) {
                        let status = response.status().as_u16();
                        o.finish(b, &req, status, &mut wbuf, head_start, total);
                    }
                    consumed += total;
                    answered = true;
                    header_store = recycle(headers);
                    if let Some(body) = response.take_stream().filter(|_| !head_only) {
                        // The head (and any answers before it) now, then each chunk as it
                        // comes; a stream cut short by shutdown ends the connection.
                        timers.disarm(&timer);
                        // A stream may stay open for minutes: the answered requests leave
                        // the read buffer, and empty buffers go back to the pool while it
                        // streams (the watch takes one only when the client sends); the
                        // header vector is let go too (a later request allocates one).
                        rbuf.drain(..consumed);
                        consumed = 0;
                        pool.give_if_empty(&mut rbuf);
                        header_store = Vec::new();
                        let bufs = Bufs {
                            wbuf: &mut wbuf,
                            rbuf: &mut rbuf,
                            unparsed: 0,
                        };
                        if !flush(&mut io, bufs.wbuf, worker, &timer, limits).await
                            || !stream(&mut io, body, chunked, bufs, worker, &timer, limits).await
                        {
                            return;
                        }
                        pool.refill(&mut wbuf);
                    }
                    if !keep_alive {
                        close = true;
                        break;
                    }
                    if wbuf.len() >= WRITE_HIGH_WATER
                        && !flush(&mut io, &mut wbuf, worker, &timer, limits).await
                    {
                        return;
                    }
                }
            }
        }
        // The answered requests leave the read buffer (and an empty one goes back to the
        // pool) before the answers are sent, so a send in flight holds only its own buffer.
        rbuf.drain(..consumed);
        if let Some(n) = need {
            // `need` counts from the start of the waiting request, which is now at 0.
            rbuf.reserve(n.saturating_sub(rbuf.len()));
        }
        pool.give_if_empty(&mut rbuf);
        if !wbuf.is_empty() && !flush(&mut io, &mut wbuf, worker, &timer, limits).await {
            return;
        }
        if close {
            return;
        }
        // Re-arm for what comes next.
        let next = match (need.is_some() || chunked.is_some(), rbuf.is_empty()) {
            (true, _) => Phase::Body,
            (false, true) => Phase::Idle,
            (false, false) => Phase::Head,
        };
        match next {
            Phase::Idle => timers.arm(&timer, limits.keep_alive_timeout),
            Phase::Head if phase != Phase::Head || answered => {
                timers.arm(&timer, limits.header_read_timeout)
            }
            Phase::Body if phase != Phase::Body => timers.arm(&timer, limits.body_read_timeout),
            _ => {}
        }
        phase = next;
        pool.give_write_if_empty(&mut wbuf);
    }
}

/// Writes the pending answers under the send timeout; `false` when the connection is done.
async fn flush<T: Transport>(
    io: &mut T,
    wbuf: &mut Vec<u8>,
    worker: &WorkerState,
    timer: &super::timer::ConnTimer,
    limits: &Limits,
) -> bool {
    worker.timers.arm(timer, limits.keep_alive_timeout);
    matches!(timed(timer, io.write_all(wbuf)).await, Ok(Ok(())))
}

/// The connection's buffers while a body streams: answers go out through `wbuf`; what the
/// client sends meanwhile (pipelined requests) is appended to `rbuf`, whose bytes from
/// `unparsed` on are not parsed yet.
struct Bufs<'a> {
    wbuf: &'a mut Vec<u8>,
    rbuf: &'a mut Vec<u8>,
    unparsed: usize,
}

/// What ended a wait while a body streams.
enum Woke {
    /// The stream's next chunk, or its end.
    Item(Option<Bytes>),
    /// The client sent bytes (kept for the next request) or is gone (the stream is dropped).
    Peer(bool),
}

/// Sends a streamed body, one write per chunk, watching the client meanwhile: a client
/// that closes (or resets) the connection ends the stream at once — the body stream is
/// dropped, which cancels whatever produces it — even while the stream is idle. Bytes the
/// client pipelines behind the request are kept for the next one (up to
/// [`WATCH_LIMIT`]; past that the client is no longer watched until the stream ends, and
/// only a failed write notices it gone). `false` when the connection must end: a gone
/// client, a failed write, shutdown (after the stream's final chunk), or an HTTP/1.0 stream
/// (which only the close delimits).
async fn stream<T: Transport>(
    io: &mut T,
    mut body: StreamBody,
    chunked: bool,
    bufs: Bufs<'_>,
    worker: &WorkerState,
    timer: &super::timer::ConnTimer,
    limits: &Limits,
) -> bool {
    let Bufs {
        wbuf,
        rbuf,
        unparsed,
    } = bufs;
    let pool = &worker.pool;
    loop {
        // Between chunks the (empty) write buffer goes back to the pool: an open stream
        // waiting for its next chunk holds no buffer.
        pool.give_write_if_empty(wbuf);
        let watching = rbuf.len() - unparsed < WATCH_LIMIT;
        let next = std::future::poll_fn(|cx| body.chunks.as_mut().poll_next(cx));
        let woke = ::tokio::select! {
            biased;
            () = worker.shutdown_started() => {
                pool.refill(wbuf);
                if let Some(last) = body.final_chunk.take() {
                    frame(wbuf, &last, chunked);
                }
                if chunked {
                    wbuf.extend_from_slice(b"0\r\n\r\n");
                }
                let _ = flush(io, wbuf, worker, timer, limits).await;
                return false;
            }
            r = io.watch(rbuf, &worker.pool), if watching => Woke::Peer(matches!(r, Ok(n) if n > 0)),
            item = next => Woke::Item(item),
        };
        match woke {
            Woke::Peer(true) => {}
            Woke::Peer(false) => return false,
            Woke::Item(Some(data)) => {
                pool.refill(wbuf);
                frame(wbuf, &data, chunked);
                if !wbuf.is_empty() && !flush(io, wbuf, worker, timer, limits).await {
                    return false;
                }
            }
            Woke::Item(None) => {
                if !chunked {
                    return false;
                }
                pool.refill(wbuf);
                wbuf.extend_from_slice(b"0\r\n\r\n");
                return flush(io, wbuf, worker, timer, limits).await;
            }
        }
    }
}

/// Frames one piece of a streamed body.
fn frame(wbuf: &mut Vec<u8>, data: &[u8], chunked: bool) {
    if chunked {
        encode_chunk(wbuf, data);
    } else {
        wbuf.extend_from_slice(data);
    }
}

/// Encodes the answer to a request that cannot be served; the connection closes after it.
fn reject(status: StatusCode, wbuf: &mut Vec<u8>) {
    let framing = Framing {
        head_only: false,
        connection: ConnectionHeader::Close,
        chunked: true,
    };
    Response::error(status).encode(wbuf, framing);
}

/// Reuses a header vector's allocation for headers borrowed from a later buffer state.
fn recycle<'b>(mut headers: Vec<Header<'_>>) -> Vec<Header<'b>> {
    headers.clear();
    // An empty vector maps onto itself; collecting in place keeps the allocation.
    headers
        .into_iter()
        .map(|_| Header {
            name: "",
            value: &[],
        })
        .collect()
}

// observe (obs)
/// The span a request with an id runs its handler in: `request{id=…}` (when `info` spans
/// are enabled).
#[inline]
fn observe_span(id: &str) -> tracing::Span {
    tracing::info_span!("request", id)
}
