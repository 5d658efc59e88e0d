//! The connection registry for remote stores (Redis, Memcached), shared by the remote
//! caches, the Redis rate limiter and the Redis session store.
//!
//! * An [`Endpoint`] is one store (protocol + address), process-wide: whoever uses it —
//!   any cache, any limiter, any worker — shares its failure state.
//! * Each worker thread keeps one connection per endpoint ([`conn`]), made on first use
//!   (or at worker start) and closed when the worker stops ([`close`]).
//! * Every operation runs under its caller's timeout ([`Endpoint::run`]). A failure at the
//!   connection level (refused, reset, timed out, a reply that breaks the protocol) puts
//!   the endpoint in backoff: for [`BACKOFF_MS`] every caller on every worker skips it at
//!   once, so an outage costs one timeout per backoff period for the whole process, not
//!   one per request. Callers fail open (a cache asks the handler, a limiter allows).
//! * A warning is logged at most every [`WARN_EVERY_MS`] per endpoint, and one `info`
//!   line when it answers again.

pub(crate) mod memcached;
// scale (issue 18): one Redis server or a Redis Cluster behind one connection type.
pub(crate) mod redis_conn;

pub(crate) use redis_conn::RedisConn;

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long an endpoint that failed is skipped by everyone in the process.
pub(crate) const BACKOFF_MS: u64 = 1000;
/// Least time between two warnings about one endpoint.
pub(crate) const WARN_EVERY_MS: u64 = 5000;
/// How long making a connection may take (operations have their own, shorter timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A store's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// `redis://…` URLs.
    Redis,
    /// `host:port` of a Memcached server.
    Memcached,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Redis => "redis",
            Proto::Memcached => "memcached",
        })
    }
}

/// One remote store and its process-wide failure state.
#[derive(Debug)]
pub(crate) struct Endpoint {
    proto: Proto,
    target: String,
    /// Until when (ms on [`clock_ms`]) every caller skips the endpoint.
    down_until: AtomicU64,
    /// When the last warning was logged (ms on [`clock_ms`]; 0: never).
    warned_at: AtomicU64,
    /// Warnings logged so far (for tests).
    warnings: AtomicU64,
    /// Failed since it last answered.
    failing: AtomicBool,
    /// Connections per worker (scale: `redis.pool_size`; 1 unless set).
    pool: AtomicUsize,
}

/// Milliseconds on a process-wide monotonic clock, from 1.
fn clock_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

static REGISTRY: Mutex<Vec<&'static Endpoint>> = Mutex::new(Vec::new());

/// The endpoint for `proto` at `target`, the same for every caller in the process.
///
/// Endpoints live as long as the process (there is one per address the spec names).
pub(crate) fn endpoint(proto: Proto, target: &str) -> &'static Endpoint {
    let mut all = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = all.iter().find(|e| e.proto == proto && e.target == target) {
        return e;
    }
    let e: &'static Endpoint = Box::leak(Box::new(Endpoint {
        proto,
        target: target.to_owned(),
        down_until: AtomicU64::new(0),
        warned_at: AtomicU64::new(0),
        warnings: AtomicU64::new(0),
        failing: AtomicBool::new(false),
        pool: AtomicUsize::new(1),
    }));
    all.push(e);
    e
}

/// Why an operation on an endpoint did not happen or did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The endpoint failed recently and is being skipped (nothing was sent).
    Skipped,
    /// This worker's first connection is still being made (nothing was sent; not a
    /// failure).
    Connecting,
    /// Not on a worker with a runtime, or the store is not usable (a bad URL).
    Unusable(String),
    /// A connection-level failure, now recorded: the endpoint is in backoff.
    Down(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Skipped => f.write_str("failed recently; skipped"),
            Failure::Connecting => f.write_str("still connecting"),
            Failure::Unusable(m) | Failure::Down(m) => f.write_str(m),
        }
    }
}

impl Endpoint {
    /// Whether callers must skip the endpoint now (it failed less than a backoff ago).
    pub(crate) fn skipped(&self) -> bool {
        clock_ms() < self.down_until.load(Ordering::Relaxed)
    }

    /// Records a connection-level failure seen by `user` (a cache or limiter name): the
    /// endpoint is skipped for a backoff period, and a warning logged unless one was
    /// logged recently.
    pub(crate) fn failed(&self, user: &dyn fmt::Display, what: &str, why: &str) -> Failure {
        let now = clock_ms();
        crate::observe::remote_error(false); // observe (obs)
        self.down_until
            .fetch_max(now + BACKOFF_MS, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
        let warned = self.warned_at.load(Ordering::Relaxed);
        if (warned == 0 || now.saturating_sub(warned) >= WARN_EVERY_MS)
            && self
                .warned_at
                .compare_exchange(warned, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.warnings.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "{} at {}: {what} failed ({why}) for {user}; skipped for {BACKOFF_MS} ms at a \
                 time, failing open (next warning in {WARN_EVERY_MS} ms at the earliest)",
                self.proto,
                self.target
            );
        }
        Failure::Down(format!("{what}: {why}"))
    }

    /// Records an answer: logs once when the endpoint comes back after failing.
    pub(crate) fn answered(&self) {
        if self.failing.load(Ordering::Relaxed) && self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("{} at {}: answering again", self.proto, self.target);
        }
    }

    /// How many warnings were logged about this endpoint.
    #[cfg(test)]
    pub(crate) fn warnings(&self) -> u64 {
        self.warnings.load(Ordering::Relaxed)
    }

    /// Runs `op` (one operation on this endpoint, for `user`) under `timeout`: its result,
    /// or a recorded failure when it errs at the connection level (`is_outage`) or takes
    /// too long. Errors that are not outages are returned as they are.
    pub(crate) async fn run<T, E: fmt::Display>(
        &self,
        user: &dyn fmt::Display,
        what: &str,
        timeout: Duration,
        is_outage: impl FnOnce(&E) -> bool,
        op: impl Future<Output = Result<T, E>>,
    ) -> Result<Result<T, E>, Failure> {
        match tokio::time::timeout(timeout, op).await {
            Ok(Ok(v)) => {
                self.answered();
                Ok(Ok(v))
            }
            Ok(Err(e)) if is_outage(&e) => Err(self.failed(user, what, &e.to_string())),
            Ok(Err(e)) => {
                self.answered();
                Ok(Err(e))
            }
            Err(_) => Err(self.failed(user, what, &format!("no answer within {timeout:?}"))),
        }
    }
}

/// A worker's connection to an endpoint.
pub(crate) enum Conn {
    /// A Redis connection, to one server or a cluster (reconnects by itself).
    Redis(RedisConn),
    /// A Memcached connection (its driver reconnects by itself).
    Memcached(memcached::Client),
    /// Not usable (a bad URL): always skipped.
    Missing(String),
}

thread_local! {
    /// This worker's connections.
    static CONNS: RefCell<Vec<(&'static Endpoint, Rc<Conn>)>> = const { RefCell::new(Vec::new()) };
    /// Whose turn it is in a pool (scale).
    static NEXT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// This worker's connection to `ep`, made now if there is none; `None` off an Ember
/// worker (connections need the worker's runtime and `LocalSet`).
pub(crate) fn conn(ep: &'static Endpoint) -> Option<Rc<Conn>> {
    let pool = ep.pool.load(Ordering::Relaxed);
    let found = if pool <= 1 {
        CONNS.with_borrow(|c| {
            c.iter()
                .find(|(e, _)| std::ptr::eq(*e, ep))
                .map(|(_, c)| c.clone())
        })
    } else {
        // scale: a pool, used in turn once full.
        CONNS.with_borrow(|c| {
            let mine = c.iter().filter(|(e, _)| std::ptr::eq(*e, ep)).count();
            if mine < pool {
                return None;
            }
            let turn = NEXT.with(|n| {
                let t = n.get();
                n.set(t.wrapping_add(1));
                t
            });
            c.iter()
                .filter(|(e, _)| std::ptr::eq(*e, ep))
                .nth(turn % mine)
                .map(|(_, c)| c.clone())
        })
    };
    if found.is_some() {
        return found;
    }
    tokio::runtime::Handle::try_current().ok()?;
    let conn = Rc::new(match ep.proto {
        Proto::Redis => open_redis(ep),
        Proto::Memcached => {
            Conn::Memcached(memcached::Client::start(ep.target.clone(), CONNECT_TIMEOUT))
        }
    });
    CONNS.with_borrow_mut(|c| c.push((ep, conn.clone())));
    Some(conn)
}

/// Closes this worker's connections to `ep`, if it has any.
pub(crate) fn close(ep: &'static Endpoint) {
    // Dropped outside the borrow: a connection's drop may wake its driver.
    let gone: Vec<_> = CONNS.with_borrow_mut(|c| {
        let mut gone = Vec::new();
        while let Some(i) = c.iter().position(|(e, _)| std::ptr::eq(*e, ep)) {
            gone.push(c.swap_remove(i));
        }
        gone
    });
    drop(gone);
}

/// Sets how many connections each worker keeps to `ep` (scale: `redis.pool_size`).
pub(crate) fn set_pool(ep: &'static Endpoint, n: usize) {
    ep.pool.store(n.max(1), Ordering::Relaxed);
}

fn open_redis(ep: &Endpoint) -> Conn {
    let conn = match redis_conn::cluster_nodes(&ep.target) {
        Some(nodes) => match redis_conn::open_cluster(&nodes, CONNECT_TIMEOUT) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("Redis Cluster `{}`: {e}; it is never used", ep.target);
                return Conn::Missing(format!("Redis Cluster: {e}"));
            }
        },
        None => match open_single(ep) {
            Ok(c) => c,
            Err(missing) => return missing,
        },
    };
    // Connect now rather than on the first request.
    let mut ping = conn.clone();
    tokio::task::spawn_local(async move {
        let _: Result<String, _> = redis::cmd("PING").query_async(&mut ping).await;
    });
    Conn::Redis(conn)
}

fn open_single(ep: &Endpoint) -> Result<RedisConn, Conn> {
    let client = match redis::Client::open(ep.target.as_str()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("bad Redis URL `{}`: {e}; it is never used", ep.target);
            return Err(Conn::Missing(format!("bad Redis URL: {e}")));
        }
    };
    // Timeouts of operations are the callers'; these bound the connection's own waits.
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CONNECT_TIMEOUT))
        .set_number_of_retries(0)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1));
    match redis::aio::ConnectionManager::new_lazy_with_config(client, config) {
        Ok(m) => Ok(RedisConn::Single(m)),
        Err(e) => {
            tracing::error!("Redis client for `{}`: {e}; it is never used", ep.target);
            Err(Conn::Missing(format!("Redis client: {e}")))
        }
    }
}

/// This worker's connection to `ep` for `user`, unless `ep` is being skipped. A
/// Memcached connection that is down (its driver reconnecting) is a failure; one whose
/// first attempt is under way (the worker just started) is skipped without one.
pub(crate) fn usable(ep: &'static Endpoint, user: &dyn fmt::Display) -> Result<Rc<Conn>, Failure> {
    if ep.skipped() {
        return Err(Failure::Skipped);
    }
    let conn = conn(ep).ok_or_else(|| Failure::Unusable("not on an Ember worker".into()))?;
    match &*conn {
        Conn::Missing(why) => Err(Failure::Unusable(why.clone())),
        Conn::Memcached(m) if m.is_connecting() => Err(Failure::Connecting),
        Conn::Memcached(m) if !m.is_connected() => Err(ep.failed(user, "connect", "not connected")),
        _ => Ok(conn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_shared_and_warnings_rate_limited() {
        let a = endpoint(Proto::Redis, "redis://registry-test:1");
        let b = endpoint(Proto::Redis, "redis://registry-test:1");
        let m = endpoint(Proto::Memcached, "redis://registry-test:1");
        assert!(std::ptr::eq(a, b));
        assert!(!std::ptr::eq(a, m));
        assert!(!a.skipped());
        for _ in 0..100 {
            a.failed(&"test", "get", "refused");
        }
        assert!(a.skipped() && b.skipped());
        assert!(!m.skipped(), "another protocol is another endpoint");
        assert_eq!(a.warnings(), 1, "one warning per period, not per failure");
    }
}
