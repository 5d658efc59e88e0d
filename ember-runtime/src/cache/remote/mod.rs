//! Remote caches (Redis, Memcached) on the shared connection registry
//! ([`crate::remote`]): one connection per worker and address, every operation under the
//! cache's timeout, and fail-open on any connection-level failure (the caller asks the
//! handler; the address is skipped by the whole process for a backoff period; a warning
//! at most every few seconds).
//!
//! # Purges win over writes that started before them
//!
//! A miss's answer is written after it is sent, so a purge can come between the lookup
//! and the write — on this instance or on another one sharing the store. Writes that come
//! from a lookup are therefore conditional, and a purge invalidates them:
//!
//! * **Redis**: each cache has a version key (`<prefix>\xFFepoch`; no key of ours can
//!   contain the byte `0xFF`, keys being UTF-8). A lookup reads the entry and the version
//!   in one `MGET`; the write is a Lua script that stores only if the version is
//!   unchanged; a purge `INCR`s the version, then deletes (by key: in the same script;
//!   by prefix: before the scan). A purge thus drops every write of the cache that read
//!   the version before it.
//! * **Memcached**: a lookup (`mg … v c`) returns the item's CAS value, or a miss. The
//!   write is a compare-and-swap against that CAS value, or an `add` after a miss. A purge
//!   does not delete: it overwrites the key with a tombstone for [`TOMBSTONE_SECS`], which
//!   changes the CAS value (an old CAS write fails) and makes the key exist (an old add
//!   fails). A tombstone reads as a miss. Since the tombstone expires, a write more than
//!   [`WRITE_WINDOW`] after its lookup is dropped rather than risked.
//!
//! Writes from [`super::Cache::set_bytes`] are unconditional (the application asks for
//! them explicitly).
//!
//! # Memcached keys and values
//!
//! Memcached keys are at most 250 bytes. A longer key (any client can send a long query
//! string) is stored under `<prefix>` (up to 100 bytes of it), the byte `0xFF` and the
//! SHA-256 of the whole key, sent base64-encoded: distinct keys never share an entry in
//! practice, and such a key cannot collide with a short one (no key of ours contains
//! `0xFF`). A value the server refuses (`SERVER_ERROR object too large for cache`, any
//! `CLIENT_ERROR`/`SERVER_ERROR` reply) is simply not stored: it is not an outage, and
//! the backend stays in use for everything else.

use std::rc::Rc;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::entry::{Entry, now_ms};
use super::{Cache, CacheError, ErrorKind, Kind};
use crate::remote::memcached::{self, CallError, Reply, codec};
use crate::remote::redis_conn::tagged;
use crate::remote::{self as registry, Conn, Endpoint, Failure, Proto};

/// How long a Memcached tombstone (left by a purge) lives.
pub(crate) const TOMBSTONE_SECS: u64 = 30;
/// The longest time between a Memcached lookup and the write it allows; later writes are
/// dropped (the tombstone of a purge in between might have expired). Leaves two seconds
/// for Memcached's whole-second clock.
pub(crate) const WRITE_WINDOW: Duration = Duration::from_secs(TOMBSTONE_SECS - 2);
/// What a purged Memcached key holds (it does not decode as an entry: a miss).
const TOMBSTONE: &[u8] = b"EMBER-PURGED";

/// What a write is conditional on: what the lookup that led to it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Store in any case (application data).
    Any,
    /// Redis: the cache's version when the key was read (`None`: no version yet).
    Version(Option<Vec<u8>>),
    /// Memcached: the item's CAS value when it was read (`None`: absent), and when.
    Cas(Option<u64>, Instant),
}

/// Stores if the version (`KEYS[2]`) is still `ARGV[2]` (`''` for none): the value `ARGV[1]` for
/// `ARGV[3]` ms ('0': no expiry). 1 if stored.
const WRITE_SCRIPT: &str = r#"
local v = redis.call('GET', KEYS[2]) or ''
if v ~= ARGV[2] then return 0 end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
end
return 1
"#;

/// Bumps the version (`KEYS[2]`; kept `ARGV[1]` ms unless '0'), then deletes `KEYS[1]`:
/// how many were deleted.
const PURGE_SCRIPT: &str = r#"
redis.call('INCR', KEYS[2])
if ARGV[1] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return redis.call('DEL', KEYS[1])
"#;

/// How long a per-key version (cluster layout) outlives its purge: longer than any write
/// may come after its lookup.
const VERSION_KEEP_MS: u64 = 3_600_000;

static WRITE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(WRITE_SCRIPT));
static PURGE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(PURGE_SCRIPT));

/// The cache's store in the registry; `None` when it cannot be used.
fn endpoint(cache: &Cache) -> Option<&'static Endpoint> {
    *cache.endpoint.get_or_init(|| {
        let rc = cache.remote_config()?;
        let proto = match &cache.kind {
            #[cfg(feature = "redis")]
            Kind::Redis(_) => Proto::Redis,
            #[cfg(not(feature = "redis"))]
            Kind::Redis(_) => {
                tracing::error!(
                    cache = cache.name(),
                    "ember-runtime was built without the `redis` feature: the cache is bypassed"
                );
                return None;
            }
            Kind::Memcached(_) => Proto::Memcached,
            Kind::Memory | Kind::Static => return None,
        };
        Some(registry::endpoint(proto, &rc.target()))
    })
}

/// Connects this worker to `cache`'s backend, unless it already is.
pub(crate) fn connect(cache: &Cache) {
    if let Some(ep) = endpoint(cache) {
        let _ = registry::conn(ep);
    }
}

/// Closes this worker's connection to `cache`'s backend (shared with other users of the
/// same address: it is made again on next use).
pub(crate) fn close(cache: &Cache) {
    if let Some(ep) = endpoint(cache) {
        registry::close(ep);
    }
}

fn timeout(cache: &Cache) -> Duration {
    cache.remote_config().map(|r| r.timeout).unwrap_or_default()
}

fn prefix(cache: &Cache) -> &[u8] {
    cache
        .remote_config()
        .map(|r| r.prefix.as_bytes())
        .unwrap_or_default()
}

fn unavailable(f: Failure) -> CacheError {
    CacheError::unavailable(f.to_string())
}

fn rejected(why: impl Into<String>) -> CacheError {
    CacheError {
        kind: ErrorKind::Rejected(why.into()),
    }
}

/// The connection for an operation, unless the backend is skipped.
fn usable(cache: &Cache) -> Result<(&'static Endpoint, Rc<Conn>), CacheError> {
    let ep = endpoint(cache).ok_or_else(|| CacheError::unavailable("backend not configured"))?;
    let conn = registry::usable(ep, &user(cache)).map_err(unavailable)?;
    Ok((ep, conn))
}

/// Names a cache in warnings (formatted only when one is logged).
struct User<'a>(&'a Cache);

impl std::fmt::Display for User<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cache `{}`", self.0.name())
    }
}

fn user(cache: &Cache) -> User<'_> {
    User(cache)
}

/// The Redis key of `key` on one server: `<prefix><key>`.
fn redis_key(cache: &Cache, key: &[u8]) -> Vec<u8> {
    let prefix = prefix(cache);
    let mut k = Vec::with_capacity(prefix.len() + key.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(key);
    k
}

/// The Redis key of the cache's version on one server.
fn version_key(cache: &Cache) -> Vec<u8> {
    redis_key(cache, b"\xFFepoch")
}

/// The Redis keys of `key`'s entry and of the version its writes are conditional on.
///
/// * One server: `<prefix><key>` and the cache's version `<prefix>\xFFepoch`.
/// * A cluster (scale, issue 18): `<prefix>{<key>}` and a version per key,
///   `<prefix>{<key>}\xFFv`, in the same hash slot (scripts touch one slot); entries of
///   different keys spread over the masters.
fn entry_keys(cache: &Cache, key: &[u8], cluster: bool) -> (Vec<u8>, Vec<u8>) {
    if cluster {
        let p = prefix(cache);
        (tagged(p, key, b""), tagged(p, key, b"\xFFv"))
    } else {
        (redis_key(cache, key), version_key(cache))
    }
}

/// The key of `key`'s single-flight lease (in the entry's slot).
fn lease_key(cache: &Cache, key: &[u8], cluster: bool) -> Vec<u8> {
    if cluster {
        tagged(prefix(cache), key, b"\xFFlease")
    } else {
        let mut k = redis_key(cache, key);
        k.extend_from_slice(b"\xFFlease");
        k
    }
}

/// The Memcached key of `key`: `<prefix><key>` when it fits, else hashed (see the module
/// docs).
pub(crate) fn memcached_key(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + key.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(key);
    if codec::key_fits(&k) {
        return k;
    }
    let digest = Sha256::digest(&k);
    k.clear();
    if prefix.len() <= 100 {
        k.extend_from_slice(prefix);
    }
    k.push(0xFF);
    k.extend_from_slice(&digest);
    k
}

/// One Redis operation under the cache's timeout; every error is an outage.
async fn redis_op<T>(
    cache: &Cache,
    ep: &Endpoint,
    what: &str,
    op: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, CacheError> {
    redis_op_within(cache, ep, what, timeout(cache), op).await
}

/// One Redis operation under `limit`; every error is an outage.
async fn redis_op_within<T>(
    cache: &Cache,
    ep: &Endpoint,
    what: &str,
    limit: Duration,
    op: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, CacheError> {
    match ep.run(&user(cache), what, limit, |_| true, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CacheError::unavailable(e.to_string())),
        Err(f) => Err(unavailable(f)),
    }
}

/// Why a Memcached call failed.
#[derive(Debug)]
enum McError {
    Call(CallError),
    /// `CLIENT_ERROR`/`SERVER_ERROR`: this request was refused, the connection is fine.
    Refused(String),
    /// Any other error reply: the driver drops the connection.
    Protocol(String),
}

impl std::fmt::Display for McError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            McError::Call(e) => e.fmt(f),
            McError::Refused(e) | McError::Protocol(e) => f.write_str(e),
        }
    }
}

/// One Memcached request under the cache's timeout. Connection-level failures put the
/// backend in backoff; a refused request (a bad key, a value too large) does not.
async fn memcached_op(
    cache: &Cache,
    ep: &Endpoint,
    client: &memcached::Client,
    what: &str,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), codec::EncodeError>,
) -> Result<Reply, CacheError> {
    let op = async {
        match client.call(encode).await {
            Ok(Reply::Error(e))
                if e.starts_with("CLIENT_ERROR") || e.starts_with("SERVER_ERROR") =>
            {
                Err(McError::Refused(e))
            }
            Ok(Reply::Error(e)) => Err(McError::Protocol(e)),
            Ok(r) => Ok(r),
            Err(e) => Err(McError::Call(e)),
        }
    };
    let outage = |e: &McError| {
        matches!(
            e,
            McError::Call(CallError::NotConnected | CallError::Lost) | McError::Protocol(_)
        )
    };
    match ep.run(&user(cache), what, timeout(cache), outage, op).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            tracing::debug!(cache = cache.name(), "memcached {what} refused: {e}");
            Err(rejected(e.to_string()))
        }
        Err(f) => Err(unavailable(f)),
    }
}

/// A reply an operation does not expect: the connection is out of step.
fn unexpected(cache: &Cache, ep: &Endpoint, what: &str, r: &Reply) -> CacheError {
    unavailable(ep.failed(&user(cache), what, &format!("unexpected reply {r:?}")))
}

/// The entry under `key` (`None` on a miss, a purged key, or a value that is not ours),
/// and what a write of this key's new answer must be conditional on.
pub(crate) async fn get(cache: &Cache, key: &[u8]) -> Result<(Option<Entry>, Token), CacheError> {
    let (ep, conn) = usable(cache)?;
    match &*conn {
        Conn::Redis(m) => {
            let mut m = m.clone();
            let (entry_key, version_key) = entry_keys(cache, key, m.is_cluster());
            let mut cmd = redis::cmd("MGET");
            cmd.arg(entry_key).arg(version_key);
            let (value, version): (Option<Vec<u8>>, Option<Vec<u8>>) =
                redis_op(cache, ep, "get", cmd.query_async(&mut m)).await?;
            let e = value.and_then(|v| Entry::decode(Bytes::from(v)));
            Ok((e, Token::Version(version)))
        }
        Conn::Memcached(c) => {
            let k = memcached_key(prefix(cache), key);
            let at = Instant::now();
            match memcached_op(cache, ep, c, "get", |o| codec::get(o, &k)).await? {
                Reply::Value(v, flags) => Ok((Entry::decode(v), Token::Cas(flags.cas, at))),
                Reply::Miss => Ok((None, Token::Cas(None, at))),
                other => Err(unexpected(cache, ep, "get", &other)),
            }
        }
        Conn::Missing(why) => Err(CacheError::unavailable(why.clone())),
    }
}

/// Milliseconds to keep `entry` (None: forever).
fn keep_ms(entry: &Entry, now: u64) -> Option<u64> {
    (entry.stale_until != u64::MAX).then(|| entry.stale_until.saturating_sub(now).max(1))
}

/// Stores `entry` under `key` until its stale deadline, if `token` still holds (see the
/// module docs); whether it was stored.
pub(crate) async fn set(
    cache: &Cache,
    key: &[u8],
    entry: &Entry,
    token: Token,
) -> Result<bool, CacheError> {
    let (ep, conn) = usable(cache)?;
    let value = entry.encode();
    let now = now_ms();
    let keep = keep_ms(entry, now);
    match &*conn {
        Conn::Redis(m) => {
            let mut m = m.clone();
            let (k, version_key) = entry_keys(cache, key, m.is_cluster());
            match token {
                Token::Version(version) => {
                    let mut inv = WRITE.prepare_invoke();
                    inv.key(k)
                        .key(version_key)
                        .arg(value)
                        .arg(version.unwrap_or_default())
                        .arg(keep.unwrap_or(0));
                    let stored: i64 = redis_op(cache, ep, "set", inv.invoke_async(&mut m)).await?;
                    Ok(stored == 1)
                }
                _ => {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(k).arg(value);
                    if let Some(ms) = keep {
                        cmd.arg("PX").arg(ms);
                    }
                    redis_op(cache, ep, "set", cmd.query_async::<()>(&mut m)).await?;
                    Ok(true)
                }
            }
        }
        Conn::Memcached(c) => {
            let mode = match token {
                Token::Cas(_, at) if at.elapsed() > WRITE_WINDOW => return Ok(false),
                Token::Cas(Some(cas), _) => codec::Mode::Cas(cas),
                Token::Cas(None, _) => codec::Mode::Add,
                _ => codec::Mode::Set,
            };
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
            let k = memcached_key(prefix(cache), key);
            match memcached_op(cache, ep, c, "set", |o| {
                codec::set(o, &k, &value, secs, mode)
            })
            .await?
            {
                Reply::Done(_) => Ok(true),
                // An add found the key, or the CAS value changed, or the item went.
                Reply::NotStored | Reply::Exists | Reply::NotFound => Ok(false),
                other => Err(unexpected(cache, ep, "set", &other)),
            }
        }
        Conn::Missing(why) => Err(CacheError::unavailable(why.clone())),
    }
}

/// Stores the answer of a background refresh of `key`, conditional on the lookup that
/// claimed the refresh.
pub(crate) async fn set_refreshed(
    cache: &Cache,
    key: &[u8],
    entry: &Entry,
) -> Result<bool, CacheError> {
    let token = {
        let map = cache.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    };
    // No claim recorded (cannot happen for a remote refresh): store only if nothing
    // changes meanwhile, which a fresh lookup cannot tell; skip it.
    let Some(token) = token else {
        return Ok(false);
    };
    set(cache, key, entry, token).await
}

/// Purges `key` (see the module docs); whether it was there.
pub(crate) async fn delete(cache: &Cache, key: &[u8]) -> Result<bool, CacheError> {
    let (ep, conn) = usable(cache)?;
    match &*conn {
        Conn::Redis(m) => {
            let mut m = m.clone();
            let (entry_key, version_key) = entry_keys(cache, key, m.is_cluster());
            let mut inv = PURGE.prepare_invoke();
            inv.key(entry_key).key(version_key).arg(if m.is_cluster() {
                VERSION_KEEP_MS
            } else {
                0
            });
            let n: u64 = redis_op(cache, ep, "purge", inv.invoke_async(&mut m)).await?;
            Ok(n > 0)
        }
        Conn::Memcached(c) => {
            let k = memcached_key(prefix(cache), key);
            // Both requests go out together and are answered in order.
            let probe = memcached_op(cache, ep, c, "purge", |o| codec::probe(o, &k));
            let tomb = memcached_op(cache, ep, c, "purge", |o| {
                codec::set(o, &k, TOMBSTONE, TOMBSTONE_SECS, codec::Mode::Set)
            });
            let (was, stored) = tokio::join!(probe, tomb);
            match stored? {
                Reply::Done(_) => {}
                other => return Err(unexpected(cache, ep, "purge", &other)),
            }
            Ok(match was? {
                Reply::Done(f) => f.size.is_some_and(|s| s != TOMBSTONE.len()),
                _ => false,
            })
        }
        Conn::Missing(why) => Err(CacheError::unavailable(why.clone())),
    }
}

/// Purges every key starting with `prefix`; how many.
///
/// * One server: the cache's version first, then `SCAN MATCH` + `UNLINK`.
/// * A cluster: `SCAN MATCH` on every master, then each entry found is purged as by
///   [`delete`] (its version bumped in its slot). A write whose lookup found no entry
///   before the purge is not fenced there (documented in docs/spec.md).
pub(crate) async fn delete_prefix(cache: &Cache, key_prefix: &[u8]) -> Result<usize, CacheError> {
    let (ep, conn) = usable(cache)?;
    let Conn::Redis(m) = &*conn else {
        return Err(CacheError {
            kind: ErrorKind::Unsupported("this backend cannot purge by prefix"),
        });
    };
    let mut m = m.clone();
    let cluster = m.is_cluster();
    let version = version_key(cache);
    if !cluster {
        let mut incr = redis::cmd("INCR");
        incr.arg(&version);
        redis_op(cache, ep, "purge", incr.query_async::<i64>(&mut m)).await?;
    }
    let start = if cluster {
        // A prefix of the key inside the tag: `<prefix>{<key prefix>`.
        let mut k = prefix(cache).to_vec();
        k.push(b'{');
        k.extend_from_slice(key_prefix);
        k
    } else {
        redis_key(cache, key_prefix)
    };
    let mut pattern = Vec::new();
    for &b in start.iter() {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            pattern.push(b'\\');
        }
        pattern.push(b);
    }
    pattern.push(b'*');
    let work = async {
        let mut keys = m.scan(&pattern).await?;
        if !cluster {
            // The version stays (deleting it would revive writes it refused).
            keys.retain(|k| *k != version);
            let mut n = 0usize;
            for chunk in keys.chunks(1000) {
                let removed: usize = redis::cmd("UNLINK").arg(chunk).query_async(&mut m).await?;
                n += removed;
            }
            return Ok::<usize, redis::RedisError>(n);
        }
        // Entries only: versions and leases carry `\xFF` after the tag.
        keys.retain(|k| !k.contains(&0xFF));
        let mut n = 0usize;
        for entry in keys {
            let mut v = entry.clone();
            v.extend_from_slice(b"\xFFv");
            let mut inv = PURGE.prepare_invoke();
            inv.key(entry).key(v).arg(VERSION_KEEP_MS);
            let removed: usize = inv.invoke_async(&mut m).await?;
            n += removed;
        }
        Ok(n)
    };
    // A scan walks the whole keyspace: allow it more than one request's timeout.
    let limit = timeout(cache) * 20 + Duration::from_secs(1);
    redis_op_within(cache, ep, "purge", limit, work).await
}

// scale (issue 18): single-flight across instances
mod lease;
pub(crate) use lease::{lease, poll, release};

#[cfg(all(test, feature = "redis"))]
mod tests;

#[cfg(all(test, feature = "redis"))]
mod coherence;
