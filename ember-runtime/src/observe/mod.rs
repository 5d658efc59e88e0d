//! Observability (issue 16, points 1 and 2): the access log, request ids and metrics.
//!
//! All three are off unless the spec (or [`crate::ServerConfig`]) turns them on; then a
//! server builds one [`Server`] state, each worker a [`Worker`] (its metric cells and its
//! access-log buffer), and the connection loop calls [`Worker::begin`] and
//! [`Worker::finish`] around each request. With everything off the worker has no
//! `Worker` and the loop pays one `Option` check per request.
//!
//! Events that happen elsewhere (cache lookups, rate-limit rejections, remote store
//! failures, AI tokens) are counted through the free functions here, which find the
//! worker's cells in a thread-local (each worker is one thread).

pub(crate) mod access_log;
pub(crate) mod metrics;
pub(crate) mod request_id;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use crate::config::observe::{AccessLogFormat, ObserveConfig, RequestIdConfig};
use access_log::{Line, Sink, WorkerLog};
pub(crate) use metrics::{AiEvent, CacheEvent};
use metrics::{Cells, Families, Registry};
pub(crate) use request_id::IdBuf;

use crate::http::request::{Header, Request};
use crate::http::response::Response;

/// How often a worker writes its buffered access-log lines when the buffer is not full.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// What a server shares between its workers.
#[derive(Debug)]
pub(crate) struct Server {
    families: &'static Families,
    registry: Option<Arc<Registry>>,
    log: Option<(AccessLogFormat, Arc<Sink>)>,
    request_id: Option<RequestIdConfig>,
    next_worker: AtomicU16,
}

impl Server {
    /// The state of a server with these settings (`None`: everything is off), for an app
    /// whose spec declares `families` (`None`: a hand-written service).
    pub(crate) fn new(
        config: &ObserveConfig,
        families: Option<&'static Families>,
    ) -> std::io::Result<Option<Arc<Server>>> {
        if !config.any() {
            return Ok(None);
        }
        let families = families.unwrap_or(&metrics::DEFAULT_FAMILIES);
        let log = match config.access_log.format {
            AccessLogFormat::Off => None,
            f => Some((f, Arc::new(Sink::open(&config.access_log.target)?))),
        };
        Ok(Some(Arc::new(Server {
            families,
            registry: config.metrics.then(|| Arc::new(Registry::new(families))),
            log,
            request_id: config.request_id.clone(),
            next_worker: AtomicU16::new(0),
        })))
    }

    /// A worker's state.
    pub(crate) fn worker(self: &Arc<Self>) -> Worker {
        Worker {
            cells: self.registry.as_ref().map(|r| r.worker()),
            log: self
                .log
                .as_ref()
                .map(|(f, sink)| WorkerLog::new(*f, sink.clone())),
            id: self.next_worker.fetch_add(1, Ordering::Relaxed),
            served: Cell::new(0),
            server: self.clone(),
        }
    }
}

/// One worker's observability state.
#[derive(Debug)]
pub(crate) struct Worker {
    server: Arc<Server>,
    cells: Option<Arc<Cells>>,
    log: Option<WorkerLog>,
    id: u16,
    /// Requests this worker has numbered (for generated ids).
    served: Cell<u64>,
}

thread_local! {
    /// The worker's cells, for events counted outside the connection loop.
    static CELLS: RefCell<Option<Arc<Cells>>> = const { RefCell::new(None) };
    /// The server's metrics, for the `/metrics` route.
    static REGISTRY: RefCell<Option<Arc<Registry>>> = const { RefCell::new(None) };
}

/// A request being served: when it started and where it was routed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Begun {
    route: usize,
    start: Instant,
}

/// Counts an open connection while alive.
#[derive(Debug)]
pub(crate) struct ConnGuard<'a>(Option<&'a Cells>);

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.connection(u64::MAX);
        }
    }
}

impl Worker {
    /// Installs this worker on its thread (for the free functions and `/metrics`) and
    /// starts its access-log flush tick. Call inside the worker's `LocalSet`.
    pub(crate) fn start(self: &Rc<Self>) {
        CELLS.with(|c| *c.borrow_mut() = self.cells.clone());
        REGISTRY.with(|r| *r.borrow_mut() = self.server.registry.clone());
        if self.log.is_some() {
            let me = Rc::downgrade(self);
            tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(FLUSH_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    match me.upgrade() {
                        Some(w) => w.flush(),
                        None => return,
                    }
                }
            });
        }
    }

    /// Writes buffered lines and leaves the thread (the worker has stopped serving).
    pub(crate) fn stop(&self) {
        self.flush();
        CELLS.with(|c| *c.borrow_mut() = None);
        REGISTRY.with(|r| *r.borrow_mut() = None);
    }

    fn flush(&self) {
        if let Some(l) = &self.log {
            l.flush();
        }
    }

    /// A connection opened; the guard counts it closed.
    pub(crate) fn connection(&self) -> ConnGuard<'_> {
        let cells = self.cells.as_deref();
        if let Some(c) = cells {
            c.connection(1);
        }
        ConnGuard(cells)
    }

    /// A request routed to `route` (the app's route id) starts.
    #[inline]
    pub(crate) fn begin(&self, route: usize) -> Begun {
        if let Some(c) = &self.cells {
            c.begin();
        }
        Begun {
            route,
            start: Instant::now(),
        }
    }

    /// The request's id: the client's when well-formed and accepted, else a new one
    /// written into `buf`. `None` when request ids are off.
    #[inline]
    pub(crate) fn request_id<'r>(
        &self,
        headers: &[Header<'r>],
        buf: &'r mut IdBuf,
    ) -> Option<&'r str> {
        let cfg = self.server.request_id.as_ref()?;
        if cfg.accept
            && let Some(v) = request_id::find(headers, &cfg.header)
            && request_id::well_formed(v)
        {
            // Checked ASCII.
            return std::str::from_utf8(v).ok();
        }
        let n = self.served.get().wrapping_add(1);
        self.served.set(n);
        Some(buf.generate(self.id, n))
    }

    /// The request was answered and its head encoded into `wbuf` from `head_start`:
    /// echoes the request id (inserting the header before the head's end), counts it and
    /// logs it. `bytes_in`: the request's head and body.
    pub(crate) fn finish(
        &self,
        begun: Begun,
        req: &Request<'_>,
        status: u16,
        wbuf: &mut Vec<u8>,
        head_start: usize,
        bytes_in: usize,
    ) {
        if let (Some(cfg), Some(id)) = (&self.server.request_id, req.request_id) {
            insert_header(wbuf, head_start, &cfg.header, id);
        }
        let micros = u64::try_from(begun.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let bytes_out = (wbuf.len() - head_start.min(wbuf.len())) as u64;
        if let Some(c) = &self.cells {
            c.finish(&metrics::Finished {
                route: begun.route,
                method: metrics::method_index(req.method),
                status,
                micros,
                bytes_in: bytes_in as u64,
                bytes_out,
            });
        }
        if let Some(log) = &self.log {
            let route = self
                .server
                .families
                .routes
                .get(begun.route)
                .copied()
                .unwrap_or("(unmatched)");
            log.push(&Line {
                method: req.method.as_str(),
                route,
                path: req.path,
                query: req.query,
                version: req.version,
                status,
                bytes: bytes_out,
                micros,
                request_id: req.request_id,
                peer: req.peer_ip(),
            });
        }
    }
}

/// Inserts `name: value` as the last header line of the response head that starts at
/// `start` in `buf` (before its blank line). The id is checked or generated (no CR/LF).
fn insert_header(buf: &mut Vec<u8>, start: usize, name: &str, value: &str) {
    let Some(end) = buf
        .get(start..)
        .and_then(|h| h.windows(4).position(|w| w == b"\r\n\r\n"))
        .map(|p| start + p + 2)
    else {
        return;
    };
    let line_len = name.len() + 2 + value.len() + 2;
    let tail = buf.len() - end;
    buf.resize(buf.len() + line_len, 0);
    buf.copy_within(end..end + tail, end + line_len);
    let line = &mut buf[end..end + line_len];
    line[..name.len()].copy_from_slice(name.as_bytes());
    line[name.len()..name.len() + 2].copy_from_slice(b": ");
    line[name.len() + 2..line_len - 2].copy_from_slice(value.as_bytes());
    line[line_len - 2..].copy_from_slice(b"\r\n");
}

/// Runs `f` with this worker's cells, when metrics are on.
#[inline]
fn with_cells(f: impl FnOnce(&Cells)) {
    CELLS.with(|c| {
        if let Some(cells) = &*c.borrow() {
            f(cells);
        }
    });
}

/// Counts a cache event for the cache at `cache` (its index under `caches:`).
pub(crate) fn cache_event(cache: usize, event: CacheEvent) {
    with_cells(|c| c.cache(cache, event));
}

/// Counts a cached route's answer by its `X-Cache` word (`HIT`, `STALE`, `MISS`).
pub(crate) fn cache_answer(cache: usize, what: &str) {
    let event = match what.as_bytes().first() {
        Some(b'H') => CacheEvent::Hit,
        Some(b'S') => CacheEvent::Stale,
        _ => CacheEvent::Miss,
    };
    cache_event(cache, event);
}

/// Counts a request rejected by rate limiter `limiter`.
pub fn rate_limited(limiter: usize) {
    with_cells(|c| c.limited(limiter));
}

/// Counts a failed remote-store operation; `fail_open`: the request went on without it.
pub(crate) fn remote_error(fail_open: bool) {
    with_cells(|c| c.remote(fail_open));
}

/// Counts an AI event for the model named `model`, `n` times. Found by name among the
/// spec's models: AI events happen per upstream call (an HTTP exchange), not per request
/// of the hot path.
pub(crate) fn ai_named(model: &str, event: AiEvent, n: u64) {
    CELLS.with(|c| {
        if let Some(cells) = &*c.borrow() {
            cells.ai_named(model, event, n);
        }
    });
}

/// Whether this worker records metrics (so that the AI gateway reads an answer's usage
/// only when someone counts it).
#[cfg(feature = "ai")]
pub(crate) fn metrics_on() -> bool {
    CELLS.with(|c| c.borrow().is_some())
}

/// Counts the tokens of a completion of the model named `model` (user AI handlers'
/// `Model::complete`; the gateway's relayed answers are counted where its tap ends).
#[cfg(feature = "ai")]
pub(crate) fn ai_usage(model: &str, prompt_tokens: u64, completion_tokens: u64) {
    ai_named(model, AiEvent::TokensIn, prompt_tokens);
    ai_named(model, AiEvent::TokensOut, completion_tokens);
}

/// The `/metrics` route's handler: every family in the Prometheus text format, or `404`
/// when metrics are off (`EMBER_METRICS=off`).
pub async fn serve_metrics() -> Response {
    match REGISTRY.with(|r| r.borrow().clone()) {
        Some(r) => Response::text(r.render())
            .with_content_type(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
        None => Response::error(crate::StatusCode::NOT_FOUND),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_goes_before_the_blank_line() {
        let mut b = b"junk".to_vec();
        b.extend_from_slice(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody");
        insert_header(&mut b, 4, "X-Request-Id", "r1");
        assert_eq!(
            b,
            b"junkHTTP/1.1 200 OK\r\nA: b\r\nX-Request-Id: r1\r\n\r\nbody".to_vec()
        );
    }
}
