//! Token-bucket rate limits in Redis: one atomic Lua script per request, so every
//! instance pointed at the same Redis shares one limit.

use std::cell::RefCell;

use redis::aio::MultiplexedConnection;

use super::rate::{Decision, RateKey};

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

thread_local! {
    /// One multiplexed connection per worker thread (each worker has its own runtime),
    /// by Redis URL.
    static CONNS: RefCell<Vec<(&'static str, MultiplexedConnection)>> =
        const { RefCell::new(Vec::new()) };
}

/// A rate limit kept in Redis under `<prefix>:<key>`, e.g. `ember:rl:api:ip:10.0.0.1`.
///
/// If Redis cannot be reached the request is allowed (fail open) and the error logged; a
/// limiter must not take the API down with it.
#[derive(Debug)]
pub struct RedisLimiter {
    url: &'static str,
    prefix: &'static str,
    per_sec: f64,
    burst: f64,
    script: redis::Script,
}

impl RedisLimiter {
    /// A limiter at `url` with keys under `prefix`, refilling `per_sec` tokens a second
    /// into buckets of `burst`.
    pub fn new(url: &'static str, prefix: &'static str, per_sec: f64, burst: u32) -> Self {
        RedisLimiter {
            url,
            prefix,
            per_sec,
            burst: f64::from(burst.max(1)),
            script: redis::Script::new(SCRIPT),
        }
    }

    /// The Redis key a request key is stored under.
    pub fn redis_key(&self, key: RateKey<'_>) -> String {
        format!("{}:{}", self.prefix, key.to_text())
    }

    /// Counts one request against `key`.
    pub async fn check(&self, key: RateKey<'_>) -> Decision {
        match self.try_check(key).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("rate_limit: redis at {}: {e}; request allowed", self.url);
                CONNS.with(|c| c.borrow_mut().retain(|(u, _)| *u != self.url));
                Decision::from_tokens(true, self.burst, self.burst, self.per_sec)
            }
        }
    }

    async fn try_check(&self, key: RateKey<'_>) -> redis::RedisResult<Decision> {
        let cached = CONNS.with(|c| {
            c.borrow()
                .iter()
                .find(|(u, _)| *u == self.url)
                .map(|(_, conn)| conn.clone())
        });
        let mut conn = match cached {
            Some(c) => c,
            None => {
                let client = redis::Client::open(self.url)?;
                let conn = client.get_multiplexed_async_connection().await?;
                CONNS.with(|c| c.borrow_mut().push((self.url, conn.clone())));
                conn
            }
        };
        let (allowed, milli): (i64, i64) = self
            .script
            .key(self.redis_key(key))
            .arg(self.burst)
            .arg(self.per_sec / 1000.0)
            .invoke_async(&mut conn)
            .await?;
        let tokens = milli as f64 / 1000.0;
        Ok(Decision::from_tokens(
            allowed == 1,
            tokens,
            self.burst,
            self.per_sec,
        ))
    }
}
