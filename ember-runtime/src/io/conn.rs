//! The connection loop: read, parse every complete request, call the service, encode the
//! answers, and write each batch with one call. Pipelined requests are answered in order.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Transport, WorkerState};
use crate::http::parse::{HeadLimits, Parsed, parse_head};
use crate::http::request::{Header, Request, Version};
use crate::http::response::{ConnectionHeader, Framing, Response};
use crate::http::status::StatusCode;
use crate::service::Service;

/// Initial read-buffer capacity, and the least free space offered to each read.
const READ_CHUNK: usize = 4096;
/// Write-buffer size past which pending answers are flushed before serving more pipelined
/// requests, so a client that pipelines without reading cannot grow server memory unbounded.
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Buffers that grew past this (a large body) are given back once the connection is idle.
const SHRINK_ABOVE: usize = 64 * 1024;

/// Serves one connection until the peer closes, an error ends it, or shutdown finds it idle.
pub(crate) async fn serve<T: Transport, S: Service>(
    mut io: T,
    service: &S,
    limits: &HeadLimits,
    worker: &WorkerState,
) {
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut wbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut header_store: Vec<Header<'static>> = Vec::new();
    loop {
        // Read. An idle connection (nothing buffered) also gives way to shutdown.
        if rbuf.capacity() - rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK);
        }
        let read = if rbuf.is_empty() {
            if worker.is_shutting_down() {
                return;
            }
            ::tokio::select! {
                biased;
                r = io.read(&mut rbuf) => r,
                () = worker.shutdown_started() => return,
            }
        } else {
            io.read(&mut rbuf).await
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }

        // Answer every complete request in the buffer.
        let mut consumed = 0;
        let mut close = false;
        let mut need: Option<usize> = None;
        loop {
            let mut headers = recycle(std::mem::take(&mut header_store));
            match parse_head(&rbuf[consumed..], limits, &mut headers) {
                Parsed::Partial => {
                    header_store = recycle(headers);
                    break;
                }
                Parsed::Reject(status) => {
                    reject(status, &mut wbuf);
                    close = true;
                    break;
                }
                Parsed::Head(head) => {
                    let total = head.head_len + head.body_len;
                    if rbuf.len() - consumed < total {
                        // The body is still on its way: make room for all of it below.
                        need = Some(consumed + total);
                        header_store = recycle(headers);
                        break;
                    }
                    let start = consumed + head.head_len;
                    let req = Request {
                        method: head.method,
                        path: head.path,
                        query: head.query,
                        version: head.version,
                        headers: &headers,
                        body: &rbuf[start..consumed + total],
                    };
                    let (response, panicked) = match CatchUnwind(service.call(&req)).await {
                        Ok(r) => (r, false),
                        Err(()) => (Response::error(StatusCode::INTERNAL_SERVER_ERROR), true),
                    };
                    let keep_alive = head.keep_alive && !panicked;
                    let connection = match (keep_alive, head.version) {
                        (false, _) => ConnectionHeader::Close,
                        (true, Version::Http10) => ConnectionHeader::KeepAlive,
                        (true, Version::Http11) => ConnectionHeader::None,
                    };
                    let head_only = matches!(head.method, crate::Method::Head);
                    response.encode(
                        &mut wbuf,
                        Framing {
                            head_only,
                            connection,
                        },
                    );
                    consumed += total;
                    header_store = recycle(headers);
                    if !keep_alive {
                        close = true;
                        break;
                    }
                    if wbuf.len() >= WRITE_HIGH_WATER && io.write_all(&mut wbuf).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !wbuf.is_empty() && io.write_all(&mut wbuf).await.is_err() {
            return;
        }
        if close {
            return;
        }
        if let Some(need) = need {
            rbuf.reserve(need.saturating_sub(rbuf.len()));
        }
        rbuf.drain(..consumed);
        if rbuf.is_empty() && rbuf.capacity() > SHRINK_ABOVE {
            rbuf = Vec::with_capacity(READ_CHUNK);
        }
        if wbuf.capacity() > SHRINK_ABOVE {
            wbuf = Vec::with_capacity(READ_CHUNK);
        }
    }
}

/// Encodes the answer to a request that cannot be served; the connection closes after it.
fn reject(status: StatusCode, wbuf: &mut Vec<u8>) {
    let framing = Framing {
        head_only: false,
        connection: ConnectionHeader::Close,
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

/// Turns a panic while polling the handler into an error, so one bad request cannot take
/// the worker down.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
