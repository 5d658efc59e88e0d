//! Token-bucket rate limits in Redis: one atomic Lua script per request, so every
//! instance pointed at the same Redis shares one limit. Connections, timeouts, backoff
//! and warnings are the shared registry's (`crate::remote`), as for remote caches.

use std::sync::OnceLock;
use std::time::Duration;

use super::rate::{Decision, RateKey};
use crate::remote::{self, Conn, Endpoint, Failure, Proto};

/// How long a check waits for Redis unless the spec says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);

/// Refills and takes one token atomically. Time comes from the Redis server (`TIME`), so
/// instances with skewed clocks still agree. Returns `{allowed, tokens * 1000}`.
const SCRIPT: &str = r#"
local burst = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then tokens = math.min(burst, tokens + (now - ts) * per_ms) end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_ms) + 1000)
return {allowed, math.floor(tokens * 1000)}
"#;

/// A rate limit kept in Redis under `<prefix>:<key>`, e.g. `ember:rl:api:ip:10.0.0.1`.
///
/// It fails open: if Redis cannot be reached, refuses, or does not answer within the
/// limiter's timeout (default 100 ms), the request is allowed. The connection is the
/// worker's one for that URL in the registry shared with the remote caches, so a failure
/// puts the URL in backoff for everyone in the process: for a second, requests are
/// allowed at once without asking Redis, and a warning is logged at most every few
/// seconds (not per request).
#[derive(Debug)]
pub struct RedisLimiter {
    url: &'static str,
    prefix: &'static str,
    per_sec: f64,
    burst: f64,
    timeout: Duration,
    endpoint: OnceLock<&'static Endpoint>,
    script: redis::Script,
}

impl RedisLimiter {
    /// A limiter at `url` (a Redis URL, a `cluster:` seed list, `${VAR:-default}` read on
    /// first use) with keys under `prefix`, refilling `per_sec` tokens a second
    /// into buckets of `burst`.
    pub fn new(url: &'static str, prefix: &'static str, per_sec: f64, burst: u32) -> Self {
        RedisLimiter {
            url,
            prefix,
            per_sec,
            burst: f64::from(burst.max(1)),
            timeout: DEFAULT_TIMEOUT,
            endpoint: OnceLock::new(),
            script: redis::Script::new(SCRIPT),
        }
    }

    /// How long one check may wait for Redis before the request is allowed (default
    /// 100 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Redis key a request key is stored under.
    pub fn redis_key(&self, key: RateKey<'_>) -> String {
        format!("{}:{}", self.prefix, key.to_text())
    }

    /// Counts one request against `key`.
    pub async fn check(&self, key: RateKey<'_>) -> Decision {
        match self.try_check(key).await {
            Ok(d) => d,
            // Logged by the registry (at most every few seconds per URL).
            Err(_) => {
                crate::observe::remote_error(true); // observe (obs)
                Decision::from_tokens(true, self.burst, self.burst, self.per_sec)
            }
        }
    }

    async fn try_check(&self, key: RateKey<'_>) -> Result<Decision, Failure> {
        let ep = *self.endpoint.get_or_init(|| {
            // A `${VAR:-default}` URL (the top-level `redis:`) is read as it is first used.
            let url = crate::cache::env::resolve(self.url, &|k| std::env::var(k).ok())
                .unwrap_or_else(|| self.url.to_owned());
            remote::endpoint(Proto::Redis, &url)
        });
        let conn = remote::usable(ep, &"rate_limit")?;
        let Conn::Redis(m) = &*conn else {
            return Err(Failure::Unusable("not a Redis connection".into()));
        };
        let mut m = m.clone();
        let mut inv = self.script.prepare_invoke();
        inv.key(self.redis_key(key))
            .arg(self.burst)
            .arg(self.per_sec / 1000.0);
        let (allowed, milli): (i64, i64) = match ep
            .run(
                &"rate_limit",
                "check",
                self.timeout,
                |_| true,
                inv.invoke_async(&mut m),
            )
            .await?
        {
            Ok(v) => v,
            Err(e) => return Err(Failure::Down(e.to_string())),
        };
        let tokens = milli as f64 / 1000.0;
        Ok(Decision::from_tokens(
            allowed == 1,
            tokens,
            self.burst,
            self.per_sec,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Against a Redis that accepts and never answers, a check allows the request within
    /// the limiter's timeout; after that the URL is skipped (every later check allows at
    /// once) and one warning is logged, not one per request.
    #[test]
    fn a_black_hole_redis_allows_within_the_timeout_then_at_once() {
        let addr = crate::test_util::black_hole("127.0.0.1:0").expect("bind a black hole");
        let url: &'static str = Box::leak(format!("redis://{addr}").into_boxed_str());
        let limiter = RedisLimiter::new(url, "t", 1.0, 1).timeout(Duration::from_millis(100));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        tokio::task::LocalSet::new().block_on(&rt, async {
            let mut took = Vec::new();
            for _ in 0..20 {
                let t = Instant::now();
                let d = limiter.check(RateKey::Global).await;
                took.push(t.elapsed());
                assert!(d.allowed, "fails open");
            }
            assert!(
                took[0] >= Duration::from_millis(90),
                "waited: {:?}",
                took[0]
            );
            assert!(
                took[0] < Duration::from_millis(150),
                "within the timeout: {took:?}"
            );
            assert!(
                took[1..].iter().all(|t| *t < Duration::from_millis(20)),
                "skipped after the timeout: {took:?}"
            );
        });
        let ep = remote::endpoint(Proto::Redis, url);
        assert_eq!(ep.warnings(), 1);
    }
}
