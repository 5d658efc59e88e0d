//! Remote caches (Redis, Memcached): one connection per worker thread, kept in a
//! thread-local table, made when the worker starts (or on first use), closed when it
//! stops. Every operation runs under the cache's timeout, and any failure makes the cache
//! fail open: the caller gets an error it turns into "ask the handler", a warning is
//! logged (at most every few seconds), and the backend is skipped for a moment by every
//! worker of the process.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::entry::{Entry, now_ms};
use super::memcached::{self, Reply, codec};
use super::{Cache, Error, Kind};

/// How long a backend that failed is skipped.
const BACKOFF_MS: u64 = 1000;
/// Least time between two warnings about one backend.
const WARN_EVERY_MS: u64 = 5000;

enum Backend {
    #[cfg(feature = "redis")]
    Redis(redis::aio::ConnectionManager),
    Memcached(memcached::Client),
    /// Not usable (a bad URL, or built without the backend): always skipped.
    Missing,
}

thread_local! {
    /// This worker's connections, by cache id.
    static CONNS: RefCell<Vec<Option<Rc<Backend>>>> = const { RefCell::new(Vec::new()) };
}

/// Connects this worker to `cache`'s backend, unless it already is.
pub(crate) fn connect(cache: &Cache) {
    let _ = conn(cache);
}

/// Closes this worker's connection to `cache`'s backend.
pub(crate) fn close(cache: &Cache) {
    CONNS.with_borrow_mut(|c| {
        if let Some(slot) = c.get_mut(cache.id) {
            *slot = None;
        }
    });
}

fn conn(cache: &Cache) -> Option<Rc<Backend>> {
    let existing = CONNS.with_borrow(|c| c.get(cache.id).and_then(|s| s.clone()));
    if existing.is_some() {
        return existing;
    }
    // Connections need the worker's runtime (and LocalSet, for Memcached's driver).
    tokio::runtime::Handle::try_current().ok()?;
    let rc = cache.remote_config()?;
    let target = rc.target();
    let backend = match &cache.kind {
        #[cfg(feature = "redis")]
        Kind::Redis(_) => open_redis(cache, &target, rc.timeout),
        #[cfg(not(feature = "redis"))]
        Kind::Redis(_) => {
            tracing::error!(
                cache = cache.name(),
                "ember-runtime was built without the `redis` feature: the cache is bypassed"
            );
            Backend::Missing
        }
        Kind::Memcached(_) => Backend::Memcached(memcached::Client::start(
            target,
            rc.timeout.max(Duration::from_millis(500)),
        )),
        Kind::Memory | Kind::Static => return None,
    };
    let conn = Rc::new(backend);
    CONNS.with_borrow_mut(|c| {
        if c.len() <= cache.id {
            c.resize(cache.id + 1, None);
        }
        c[cache.id] = Some(conn.clone());
    });
    Some(conn)
}

#[cfg(feature = "redis")]
fn open_redis(cache: &Cache, url: &str, timeout: Duration) -> Backend {
    let client = match redis::Client::open(url) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                cache = cache.name(),
                "bad Redis URL `{url}`: {e}; the cache is bypassed"
            );
            return Backend::Missing;
        }
    };
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1));
    match redis::aio::ConnectionManager::new_lazy_with_config(client, config) {
        Ok(m) => {
            // Connect now rather than on the first request.
            let mut ping = m.clone();
            tokio::task::spawn_local(async move {
                let _: Result<String, _> = redis::cmd("PING").query_async(&mut ping).await;
            });
            Backend::Redis(m)
        }
        Err(e) => {
            tracing::error!(
                cache = cache.name(),
                "Redis client: {e}; the cache is bypassed"
            );
            Backend::Missing
        }
    }
}

/// The connection, unless the backend is being skipped after a failure.
fn usable(cache: &Cache) -> Result<(Rc<Backend>, Duration), Error> {
    let conn = conn(cache).ok_or_else(|| Error::unavailable("not on an Ember worker"))?;
    if now_ms() < cache.remote_down_until.load(Ordering::Relaxed) {
        return Err(Error::unavailable("backend failed recently; skipped"));
    }
    let timeout = cache.remote_config().map(|r| r.timeout).unwrap_or_default();
    match &*conn {
        Backend::Missing => Err(Error::unavailable("backend not configured")),
        Backend::Memcached(m) if !m.is_connected() => Err(Error::unavailable("not connected")),
        _ => Ok((conn, timeout)),
    }
}

/// Records a failure: skip the backend for a moment and warn (not on every request).
fn failed(cache: &Cache, what: &str, why: &str) -> Error {
    let now = now_ms();
    cache
        .remote_down_until
        .fetch_max(now + BACKOFF_MS, Ordering::Relaxed);
    let warned = cache.remote_warned_at.load(Ordering::Relaxed);
    if now.saturating_sub(warned) >= WARN_EVERY_MS
        && cache
            .remote_warned_at
            .compare_exchange(warned, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            cache = cache.name(),
            "{} {what} failed ({why}); serving without the cache",
            cache.kind()
        );
    }
    Error::unavailable(format!("{what}: {why}"))
}

fn full_key(cache: &Cache, key: &[u8]) -> Vec<u8> {
    let prefix = cache
        .remote_config()
        .map(|r| r.prefix.as_bytes())
        .unwrap_or_default();
    let mut k = Vec::with_capacity(prefix.len() + key.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(key);
    k
}

/// The entry under `key`; `Ok(None)` on a miss or a value that is not ours.
pub(crate) async fn get(cache: &Cache, key: &[u8]) -> Result<Option<Entry>, Error> {
    let (conn, timeout) = usable(cache)?;
    let k = full_key(cache, key);
    let raw: Result<Option<Bytes>, String> = match &*conn {
        #[cfg(feature = "redis")]
        Backend::Redis(m) => {
            let mut m = m.clone();
            let mut cmd = redis::cmd("GET");
            cmd.arg(&k);
            match tokio::time::timeout(timeout, cmd.query_async::<Option<Vec<u8>>>(&mut m)).await {
                Ok(Ok(v)) => Ok(v.map(Bytes::from)),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".into()),
            }
        }
        Backend::Memcached(c) => {
            match tokio::time::timeout(timeout, c.call(|o| codec::get(o, &k))).await {
                Ok(Some(Reply::Value(v))) => Ok(Some(v)),
                Ok(Some(Reply::Miss)) => Ok(None),
                Ok(Some(other)) => Err(format!("{other:?}")),
                Ok(None) => Err("connection lost".into()),
                Err(_) => Err("timed out".into()),
            }
        }
        Backend::Missing => Err("not configured".into()),
    };
    match raw {
        Ok(v) => Ok(v.and_then(Entry::decode)),
        Err(why) => Err(failed(cache, "get", &why)),
    }
}

/// Stores `entry` under `key` until its stale deadline.
pub(crate) async fn set(cache: &Cache, key: &[u8], entry: &Entry) -> Result<(), Error> {
    let (conn, timeout) = usable(cache)?;
    let k = full_key(cache, key);
    let value = entry.encode();
    let now = now_ms();
    // Milliseconds to keep it (None: forever).
    let keep =
        (entry.stale_until != u64::MAX).then(|| entry.stale_until.saturating_sub(now).max(1));
    let result: Result<(), String> = match &*conn {
        #[cfg(feature = "redis")]
        Backend::Redis(m) => {
            let mut m = m.clone();
            let mut cmd = redis::cmd("SET");
            cmd.arg(&k).arg(value);
            if let Some(ms) = keep {
                cmd.arg("PX").arg(ms);
            }
            match tokio::time::timeout(timeout, cmd.query_async::<()>(&mut m)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".into()),
            }
        }
        Backend::Memcached(c) => {
            let secs = match keep {
                None => 0,
                Some(ms) => {
                    // Memcached's clock ticks in whole seconds: one more keeps an entry
                    // from vanishing early (freshness is checked from the value itself).
                    let s = ms.div_ceil(1000) + 1;
                    // Memcached reads more than 30 days as an absolute Unix time.
                    if s > 30 * 86_400 { now / 1000 + s } else { s }
                }
            };
            match tokio::time::timeout(timeout, c.call(|o| codec::set(o, &k, &value, secs))).await {
                Ok(Some(Reply::Done)) => Ok(()),
                Ok(Some(other)) => Err(format!("{other:?}")),
                Ok(None) => Err("connection lost or key too long".into()),
                Err(_) => Err("timed out".into()),
            }
        }
        Backend::Missing => Err("not configured".into()),
    };
    result.map_err(|why| failed(cache, "set", &why))
}

/// Deletes `key`; whether it was there.
pub(crate) async fn delete(cache: &Cache, key: &[u8]) -> Result<bool, Error> {
    let (conn, timeout) = usable(cache)?;
    let k = full_key(cache, key);
    let result: Result<bool, String> = match &*conn {
        #[cfg(feature = "redis")]
        Backend::Redis(m) => {
            let mut m = m.clone();
            let mut cmd = redis::cmd("DEL");
            cmd.arg(&k);
            match tokio::time::timeout(timeout, cmd.query_async::<u64>(&mut m)).await {
                Ok(Ok(n)) => Ok(n > 0),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".into()),
            }
        }
        Backend::Memcached(c) => {
            match tokio::time::timeout(timeout, c.call(|o| codec::delete(o, &k))).await {
                Ok(Some(Reply::Done)) => Ok(true),
                Ok(Some(Reply::NotFound)) => Ok(false),
                Ok(Some(other)) => Err(format!("{other:?}")),
                Ok(None) => Err("connection lost".into()),
                Err(_) => Err("timed out".into()),
            }
        }
        Backend::Missing => Err("not configured".into()),
    };
    result.map_err(|why| failed(cache, "delete", &why))
}

/// Deletes every key starting with `prefix` (Redis: `SCAN MATCH` + `UNLINK`); how many.
pub(crate) async fn delete_prefix(cache: &Cache, prefix: &[u8]) -> Result<usize, Error> {
    let (conn, timeout) = usable(cache)?;
    #[cfg(feature = "redis")]
    if let Backend::Redis(m) = &*conn {
        let mut m = m.clone();
        let mut pattern = Vec::new();
        for &b in full_key(cache, prefix).iter() {
            if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
                pattern.push(b'\\');
            }
            pattern.push(b);
        }
        pattern.push(b'*');
        let work = async {
            let mut cursor: u64 = 0;
            let mut n = 0usize;
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut m)
                    .await?;
                if !keys.is_empty() {
                    let removed: usize =
                        redis::cmd("UNLINK").arg(&keys).query_async(&mut m).await?;
                    n += removed;
                }
                if next == 0 {
                    return Ok::<usize, redis::RedisError>(n);
                }
                cursor = next;
            }
        };
        // A scan walks the whole keyspace: allow it more than one request's timeout.
        return match tokio::time::timeout(timeout * 20 + Duration::from_secs(1), work).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(failed(cache, "purge", &e.to_string())),
            Err(_) => Err(failed(cache, "purge", "timed out")),
        };
    }
    let _ = timeout;
    Err(Error {
        kind: super::ErrorKind::Unsupported("this backend cannot purge by prefix"),
    })
}

#[cfg(all(test, feature = "redis"))]
mod tests {
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::cache::{CacheConfig, Caches};

    /// Runs `f` on a fresh worker-like thread: its own current-thread runtime and
    /// `LocalSet`, with the caches' per-worker connections made first.
    fn on_worker<T: Send + 'static>(
        caches: &'static Caches,
        f: impl AsyncFnOnce(&'static Caches) -> T + Send + 'static,
    ) -> T {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            tokio::task::LocalSet::new().block_on(&rt, async move {
                caches.worker_start();
                let out = f(caches).await;
                caches.worker_stop();
                out
            })
        })
        .join()
        .expect("the worker thread")
    }

    /// A backend that accepts connections and never answers costs one timeout for the
    /// whole process: the next worker to ask skips it at once instead of waiting too.
    #[test]
    fn a_hanging_backend_is_skipped_by_every_worker_after_one_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Accept and hold every connection, answering nothing.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().flatten() {
                held.push(s);
            }
        });
        let url = format!("redis://{addr}");
        let caches: &'static Caches = Box::leak(Box::new(Caches::new(vec![
            CacheConfig::redis("hanging", &url, &url).timeout(Duration::from_millis(150)),
        ])));
        let ask = async |caches: &'static Caches| {
            let cache = caches.get("hanging").expect("declared");
            let t = Instant::now();
            let r = get(cache, b"key").await;
            (r.is_err(), t.elapsed())
        };
        let (failed, first) = on_worker(caches, ask);
        assert!(failed, "a backend that never answers fails");
        assert!(
            first >= Duration::from_millis(140),
            "the first ask waits: {first:?}"
        );
        let (failed, second) = on_worker(caches, ask);
        assert!(failed, "still failing");
        assert!(
            second < Duration::from_millis(50),
            "another worker skips the backend at once, took {second:?}"
        );
    }
}
