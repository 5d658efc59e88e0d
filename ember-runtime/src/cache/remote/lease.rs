//! Single-flight across instances for Redis caches (scale, issue 18): a miss takes a
//! short lease on its key (`SET … NX PX`); the instance holding it computes the answer,
//! the others poll for it ([`poll`]) and take the lease over when it goes.

use std::sync::LazyLock;

use bytes::Bytes;

use super::{Cache, CacheError, Entry, Token, entry_keys, lease_key, redis_op, usable};
use crate::cache::entry::now_ms;
use crate::remote::Conn;

/// Takes `key`'s single-flight lease for `ms` (`SET … NX PX`): `Some(token)` when this
/// instance now computes the answer, `None` when another one holds it.
pub(crate) async fn lease(cache: &Cache, key: &[u8], ms: u64) -> Result<Option<u64>, CacheError> {
    let (ep, conn) = usable(cache)?;
    let Conn::Redis(m) = &*conn else {
        return Err(CacheError::unavailable("not a Redis cache"));
    };
    let mut m = m.clone();
    let token = lease_token();
    let mut cmd = redis::cmd("SET");
    cmd.arg(lease_key(cache, key, m.is_cluster()))
        .arg(token)
        .arg("NX")
        .arg("PX")
        .arg(ms.max(1));
    let set: Option<String> = redis_op(cache, ep, "lease", cmd.query_async(&mut m)).await?;
    Ok(set.map(|_| token))
}

/// Gives `key`'s lease back if this instance still holds it (`token`).
pub(crate) async fn release(cache: &Cache, key: &[u8], token: u64) {
    let Ok((ep, conn)) = usable(cache) else {
        return;
    };
    let Conn::Redis(m) = &*conn else { return };
    let mut m = m.clone();
    let mut inv = RELEASE.prepare_invoke();
    inv.key(lease_key(cache, key, m.is_cluster())).arg(token);
    let _ = redis_op(cache, ep, "release", inv.invoke_async::<i64>(&mut m)).await;
}

/// What a wait for another instance's answer sees: the entry (if any), what a write
/// would be conditional on, and whether the lease is still held.
pub(crate) async fn poll(
    cache: &Cache,
    key: &[u8],
) -> Result<(Option<Entry>, Token, bool), CacheError> {
    let (ep, conn) = usable(cache)?;
    let Conn::Redis(m) = &*conn else {
        return Err(CacheError::unavailable("not a Redis cache"));
    };
    let mut m = m.clone();
    let cluster = m.is_cluster();
    let (entry_key, version_key) = entry_keys(cache, key, cluster);
    let mut cmd = redis::cmd("MGET");
    cmd.arg(entry_key)
        .arg(version_key)
        .arg(lease_key(cache, key, cluster));
    let [value, version, held]: [Option<Vec<u8>>; 3] =
        redis_op(cache, ep, "poll", cmd.query_async(&mut m)).await?;
    let e = value.and_then(|v| Entry::decode(Bytes::from(v)));
    Ok((e, Token::Version(version), held.is_some()))
}

/// A lease token unique to this process and call.
fn lease_token() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    (u64::from(std::process::id()) << 40) ^ NEXT.fetch_add(1, Ordering::Relaxed) ^ now_ms() << 20
}

/// Deletes the lease `KEYS[1]` if it still holds `ARGV[1]`.
const RELEASE_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RELEASE_SCRIPT));
