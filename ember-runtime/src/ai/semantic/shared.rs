//! `store: redis`: entries shared by every instance pointed at one Redis.
//!
//! Layout: one sorted set, `PREFIX log`, whose members are whole entries (id, scope, birth
//! time, vector, answer — see [`encode`]) scored by their birth time (Unix ms). A fill adds
//! its entry and trims the set (expired members, then the oldest beyond `max_entries`) in
//! one round trip, and gives the set the entries' TTL. Each instance keeps its local index
//! in sync by pulling on a local miss: the members born since the newest it has seen (less
//! [`SKEW_MS`], for clocks and late writers; ids already held are skipped), at most
//! [`PAGE`] per pull. Redis down or slow (its `timeout`) → the cache works from the local
//! index alone (fail open), through the shared registry's backoff.

use std::fmt;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Stored;
use crate::cache::env;
use crate::remote::{self, Conn, Endpoint, Failure, Proto};

/// How far back a pull reaches before the newest entry seen.
pub(crate) const SKEW_MS: u64 = 1000;
/// The most members one pull reads.
pub(crate) const PAGE: isize = 1000;
const MAGIC: &[u8; 4] = b"ESC1";

/// The registry's name for this user.
struct User;

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ai.semantic_cache")
    }
}

/// One entry as stored in and read from Redis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) scope: u64,
    pub(crate) born_ms: u64,
    pub(crate) vector: Vec<f32>,
    pub(crate) answer: Arc<Stored>,
}

/// `MAGIC, id, scope, born (u64 LE each), dim (u32 LE), dim × f32 LE, answer JSON`.
pub(crate) fn encode(e: &Entry) -> Vec<u8> {
    let json = serde_json::to_vec(&*e.answer).unwrap_or_default();
    let mut out = Vec::with_capacity(32 + e.vector.len() * 4 + json.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&e.id.to_le_bytes());
    out.extend_from_slice(&e.scope.to_le_bytes());
    out.extend_from_slice(&e.born_ms.to_le_bytes());
    out.extend_from_slice(&(e.vector.len() as u32).to_le_bytes());
    for x in &e.vector {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&json);
    out
}

/// The entry in `b`, or `None` when it is not one (another writer's format, a stray key).
pub(crate) fn decode(b: &[u8]) -> Option<Entry> {
    let rest = b.strip_prefix(MAGIC)?;
    let u64_at = |i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(rest.get(i..i + 8)?.try_into().ok()?))
    };
    let (id, scope, born_ms) = (u64_at(0)?, u64_at(8)?, u64_at(16)?);
    let dim = u32::from_le_bytes(rest.get(24..28)?.try_into().ok()?) as usize;
    let end = 28usize.checked_add(dim.checked_mul(4)?)?;
    let vector = rest
        .get(28..end)?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let answer: Stored = serde_json::from_slice(rest.get(end..)?).ok()?;
    Some(Entry {
        id,
        scope,
        born_ms,
        vector,
        answer: Arc::new(answer),
    })
}

/// The Redis side of one semantic cache.
#[derive(Debug)]
pub(crate) struct Shared {
    url: &'static str,
    prefix: &'static str,
    timeout: Duration,
    ttl_ms: u64,
    max: usize,
    resolved: OnceLock<(&'static Endpoint, String)>,
    /// The newest birth time pulled or written (Unix ms).
    newest: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        url: &'static str,
        prefix: &'static str,
        timeout: Duration,
        ttl_ms: u64,
        max: usize,
    ) -> Shared {
        Shared {
            url,
            prefix,
            timeout,
            ttl_ms,
            max,
            resolved: OnceLock::new(),
            newest: AtomicU64::new(0),
        }
    }

    /// The endpoint and the sorted set's key (variables read on first use).
    fn resolved(&self) -> &(&'static Endpoint, String) {
        self.resolved.get_or_init(|| {
            let read = |t: &str| {
                env::resolve(t, &|k| std::env::var(k).ok()).unwrap_or_else(|| t.to_owned())
            };
            (
                remote::endpoint(Proto::Redis, &read(self.url)),
                format!("{}log", read(self.prefix)),
            )
        })
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &str,
        p: &redis::Pipeline,
    ) -> Result<T, Failure> {
        let ep = self.resolved().0;
        let conn = remote::usable(ep, &User)?;
        let Conn::Redis(m) = &*conn else {
            return Err(Failure::Unusable("not a Redis connection".into()));
        };
        let mut m = m.clone();
        match ep
            .run(&User, what, self.timeout, |_| true, p.query_async(&mut m))
            .await?
        {
            Ok(v) => Ok(v),
            Err(e) => Err(Failure::Down(e.to_string())),
        }
    }

    /// Writes `e`, trimming what expired and what is beyond the cap.
    pub(crate) async fn put(&self, e: &Entry, now_ms: u64) -> Result<(), Failure> {
        let key = &self.resolved().1;
        let mut p = redis::pipe();
        p.cmd("ZADD")
            .arg(key)
            .arg(e.born_ms)
            .arg(encode(e))
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(key)
            .arg("-inf")
            .arg(now_ms.saturating_sub(self.ttl_ms))
            .ignore()
            .cmd("ZREMRANGEBYRANK")
            .arg(key)
            .arg(0)
            .arg(-(self.max as i64) - 1)
            .ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(self.ttl_ms.max(1))
            .ignore();
        self.run::<()>("fill", &p).await?;
        self.newest.fetch_max(e.born_ms, Ordering::Relaxed);
        Ok(())
    }

    /// The entries born since the newest seen (less [`SKEW_MS`]) and not expired, oldest
    /// first, at most [`PAGE`].
    pub(crate) async fn pull(&self, now_ms: u64) -> Result<Vec<Entry>, Failure> {
        let key = &self.resolved().1;
        let since = self
            .newest
            .load(Ordering::Relaxed)
            .saturating_sub(SKEW_MS)
            .max(now_ms.saturating_sub(self.ttl_ms));
        let mut p = redis::pipe();
        p.cmd("ZRANGEBYSCORE")
            .arg(key)
            .arg(since)
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(PAGE);
        let (members,): (Vec<Vec<u8>>,) = self.run("sync", &p).await?;
        let entries: Vec<Entry> = members.iter().filter_map(|m| decode(m)).collect();
        if let Some(last) = entries.iter().map(|e| e.born_ms).max() {
            // A full page: continue after it next time (no skew, or it would loop).
            let next = if members.len() as isize >= PAGE {
                last + SKEW_MS
            } else {
                last
            };
            self.newest.fetch_max(next, Ordering::Relaxed);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_refused() {
        let e = Entry {
            id: 7,
            scope: 9,
            born_ms: 1_700_000_000_000,
            vector: vec![0.5, -0.25, 1.0],
            answer: Arc::new(Stored {
                content: "Paris".into(),
                finish_reason: "stop".into(),
                usage: None,
                model: "m".into(),
            }),
        };
        let b = encode(&e);
        assert_eq!(decode(&b), Some(e));
        assert_eq!(decode(b"ESC1"), None);
        assert_eq!(decode(&b[..30]), None);
        assert_eq!(decode(b"something else"), None);
        let mut huge = b.clone();
        huge[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge), None);
    }
}
