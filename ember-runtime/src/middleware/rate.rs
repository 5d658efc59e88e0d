//! Token-bucket rate limits in process: a sharded map shared by every worker thread.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::status::StatusCode;

const SHARDS: usize = 16;

/// What a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey<'a> {
    /// One bucket for everyone.
    Global,
    /// The client's IP address.
    Ip(IpAddr),
    /// A header value, an API key or an identity.
    Text(&'a [u8]),
    /// The key was absent (no such header, no identity): these share one bucket.
    Missing,
}

impl RateKey<'_> {
    /// The key as text (for the Redis store).
    pub fn to_text(&self) -> String {
        match self {
            RateKey::Global => "global".to_owned(),
            RateKey::Ip(ip) => format!("ip:{ip}"),
            RateKey::Text(t) => format!("k:{}", String::from_utf8_lossy(t)),
            RateKey::Missing => "missing".to_owned(),
        }
    }
}

/// The client's IP address: the TCP peer, or — when the peer is one of `trusted` proxies —
/// the right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip<'a>(req: &Request<'a>, trusted: &[IpAddr]) -> RateKey<'a> {
    let Some(peer) = req.peer_ip() else {
        return RateKey::Missing;
    };
    if trusted.contains(&peer)
        && let Some(xff) = req.header_str("x-forwarded-for")
    {
        for part in xff.rsplit(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) if trusted.contains(&ip) => continue,
                Ok(ip) => return RateKey::Ip(ip),
                Err(_) => break,
            }
        }
    }
    RateKey::Ip(peer)
}

/// The value of header `name` as a key.
pub fn header_key<'a>(req: &Request<'a>, name: &str) -> RateKey<'a> {
    match req.header(name) {
        Some(v) if !v.is_empty() => RateKey::Text(v),
        _ => RateKey::Missing,
    }
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The bucket's size (`burst`).
    pub limit: u64,
    /// Whole tokens left.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Seconds until the next token (when refused).
    pub retry_after: u64,
}

impl Decision {
    fn push(self, resp: Response) -> Response {
        let mut a = itoa::Buffer::new();
        let mut b = itoa::Buffer::new();
        let mut c = itoa::Buffer::new();
        resp.header("RateLimit-Limit", a.format(self.limit))
            .header("RateLimit-Remaining", b.format(self.remaining))
            .header("RateLimit-Reset", c.format(self.reset))
    }

    /// `429 Too Many Requests` with `Retry-After` and the `RateLimit-*` headers.
    pub fn reject(self) -> Response {
        let mut r = itoa::Buffer::new();
        let resp = Response::error(StatusCode::TOO_MANY_REQUESTS)
            .header("Retry-After", r.format(self.retry_after.max(1)));
        self.push(resp)
    }

    /// Adds the `RateLimit-*` headers to an allowed request's response.
    pub fn annotate(self, resp: Response) -> Response {
        self.push(resp)
    }

    /// Computes a decision for a bucket of `tokens` (after refill) at rate `per_sec`.
    pub(crate) fn from_tokens(allowed: bool, tokens: f64, burst: f64, per_sec: f64) -> Self {
        let reset = ((burst - tokens).max(0.0) / per_sec).ceil() as u64;
        let retry_after = ((1.0 - tokens).max(0.0) / per_sec).ceil() as u64;
        Decision {
            allowed,
            limit: burst as u64,
            remaining: tokens.max(0.0).floor() as u64,
            reset,
            retry_after,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Nanoseconds since the limiter's epoch.
    last: u64,
}

/// Token buckets keyed by a hash of the [`RateKey`], in `SHARDS` mutex-guarded maps
/// shared by all worker threads (a `static` in generated code).
///
/// Memory is bounded: a shard over its share of `max_keys` first drops every bucket that
/// has refilled completely (forgetting it changes nothing), then, if still full, the
/// buckets idle longest.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    max_per_shard: usize,
    epoch: Instant,
    hasher: RandomState,
    shards: [Mutex<HashMap<u64, Bucket>>; SHARDS],
}

impl RateLimiter {
    /// A limiter refilling `per_sec` tokens a second into buckets of `burst`, keeping at
    /// most about `max_keys` buckets.
    pub fn new(per_sec: f64, burst: u32, max_keys: usize) -> Self {
        RateLimiter {
            per_sec,
            burst: f64::from(burst.max(1)),
            max_per_shard: (max_keys / SHARDS).max(1),
            epoch: Instant::now(),
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    /// Counts one request against `key`.
    pub fn check(&self, key: RateKey<'_>) -> Decision {
        let hash = self.hasher.hash_one(key);
        let now = self.epoch.elapsed().as_nanos() as u64;
        let shard = &self.shards[(hash as usize) % SHARDS];
        // A poisoned shard only means a panic elsewhere mid-update: the data is still
        // a valid map.
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_per_shard && !map.contains_key(&hash) {
            self.evict(&mut map, now);
        }
        let b = map.entry(hash).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_sub(b.last) as f64 / 1e9;
        b.tokens = (b.tokens + elapsed * self.per_sec).min(self.burst);
        b.last = now;
        let allowed = b.tokens >= 1.0;
        if allowed {
            b.tokens -= 1.0;
        }
        Decision::from_tokens(allowed, b.tokens, self.burst, self.per_sec)
    }

    fn evict(&self, map: &mut HashMap<u64, Bucket>, now: u64) {
        let full_after = (self.burst / self.per_sec * 1e9) as u64;
        map.retain(|_, b| now.saturating_sub(b.last) < full_after);
        if map.len() >= self.max_per_shard {
            // Still full of active buckets: drop the older half.
            let mut lasts: Vec<u64> = map.values().map(|b| b.last).collect();
            let mid = lasts.len() / 2;
            let (_, median, _) = lasts.select_nth_unstable(mid);
            let median = *median;
            map.retain(|_, b| b.last > median);
        }
    }

    /// How many buckets are held (for tests).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let l = RateLimiter::new(1.0, 3, 100);
        let k = RateKey::Text(b"a");
        for left in [2, 1, 0] {
            let d = l.check(k);
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let d = l.check(k);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, 1);
        assert!(l.check(RateKey::Text(b"b")).allowed);
    }

    #[test]
    fn memory_is_bounded() {
        let l = RateLimiter::new(1.0, 5, 64);
        for i in 0..10_000u32 {
            let k = i.to_be_bytes();
            l.check(RateKey::Text(&k));
        }
        assert!(l.len() <= 64 + SHARDS, "{} buckets", l.len());
    }
}
