//! Where AI state lives: in this process (shared by every worker) or in Redis (shared by
//! every instance), through the remote-store registry (`crate::remote`): its per-worker
//! connections, timeouts, backoff and rate-limited warnings.

use std::fmt;
use std::time::Duration;

use crate::cache::env;
use crate::remote::{self, Conn, Endpoint, Failure, Proto};

/// Where a piece of AI state is kept.
#[derive(Debug, Clone, Copy)]
pub enum StoreSpec {
    /// In this process, shared by its workers.
    Memory,
    /// In Redis, shared by every instance using it.
    Redis(RedisSpec),
}

/// `redis: { url, prefix, timeout }` of an AI store.
#[derive(Debug, Clone, Copy)]
pub struct RedisSpec {
    /// The URL as written (`${VAR:-default}` is read at start-up).
    pub url: &'static str,
    /// The key prefix (`${VAR}` allowed).
    pub prefix: &'static str,
    /// Each operation's timeout (then it fails open).
    pub timeout: Duration,
}

/// Who uses a Redis endpoint, in the registry's warnings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct User(pub &'static str);

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A resolved Redis store: endpoint, key prefix, timeout.
#[derive(Debug)]
pub(crate) struct RedisAt {
    ep: &'static Endpoint,
    /// The key prefix, environment read.
    pub(crate) prefix: String,
    timeout: Duration,
    user: User,
}

impl RedisAt {
    /// `spec` with its variables read now (an unset variable without a default leaves
    /// the text as written, which then fails to connect and is reported).
    pub(crate) fn resolve(spec: &RedisSpec, user: &'static str) -> RedisAt {
        let get = |k: &str| std::env::var(k).ok();
        let url = env::resolve(spec.url, &get).unwrap_or_else(|| spec.url.to_owned());
        let prefix = env::resolve(spec.prefix, &get).unwrap_or_else(|| spec.prefix.to_owned());
        RedisAt {
            ep: remote::endpoint(Proto::Redis, &url),
            prefix,
            timeout: spec.timeout,
            user: User(user),
        }
    }

    /// Runs a script invocation on this worker's connection.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        what: &str,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Result<T, Failure> {
        let mut m = self.connection()?;
        self.run(what, inv.invoke_async(&mut m)).await
    }

    /// Runs a pipeline on this worker's connection.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        what: &str,
        pipe: &redis::Pipeline,
    ) -> Result<T, Failure> {
        let mut m = self.connection()?;
        self.run(what, pipe.query_async(&mut m)).await
    }

    /// This worker's Redis connection (a cheap clone of the shared handle).
    fn connection(&self) -> Result<remote::RedisConn, Failure> {
        let conn = remote::usable(self.ep, &self.user)?;
        match &*conn {
            Conn::Redis(m) => Ok(m.clone()),
            _ => Err(Failure::Unusable("not a Redis connection".into())),
        }
    }

    /// Runs `op` under the store's timeout and the endpoint's outage accounting; a Redis
    /// error is the store being down.
    async fn run<T>(
        &self,
        what: &str,
        op: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        self.ep
            .run(&self.user, what, self.timeout, |_| true, op)
            .await?
            .map_err(|e| Failure::Down(e.to_string()))
    }
}

/// Milliseconds since the Unix epoch (wall clock: windows and TTLs shared across
/// instances need one clock; keep instances' clocks in sync).
pub(crate) fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
