//! The `redis` session store: one key per session (`<prefix><id>`, JSON, with a TTL), so
//! every instance pointed at the same Redis shares sessions. Connections, timeouts,
//! backoff and rate-limited warnings are the shared registry's (`crate::remote`).

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use super::record::Record;
use crate::cache::env;
use crate::remote::{self, Conn, Endpoint, Failure, Proto};

/// Who uses the store, in the registry's warnings.
struct User(&'static str);

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sessions `{}`", self.0)
    }
}

/// Sessions in Redis.
#[derive(Debug)]
pub(crate) struct RedisStore {
    /// `url` as written (`${VAR:-default}` read when first used) and at build time.
    url: (String, String),
    /// `prefix` as written and at build time.
    prefix: (String, String),
    pub(crate) timeout: Duration,
    resolved: OnceLock<(&'static Endpoint, String)>,
}

/// `template` with its variables read now, or `built` when one is unset.
fn resolve((template, built): &(String, String)) -> String {
    env::resolve(template, &|k| std::env::var(k).ok()).unwrap_or_else(|| built.clone())
}

impl RedisStore {
    pub(crate) fn new(url: (String, String), prefix: (String, String)) -> Self {
        RedisStore {
            url,
            prefix,
            timeout: Duration::from_millis(100),
            resolved: OnceLock::new(),
        }
    }

    /// The endpoint and the key prefix, read from the environment on first use.
    fn resolved(&self) -> &(&'static Endpoint, String) {
        self.resolved.get_or_init(|| {
            (
                remote::endpoint(Proto::Redis, &resolve(&self.url)),
                resolve(&self.prefix),
            )
        })
    }

    /// Connects this worker now (at worker start) rather than on its first request.
    pub(crate) fn connect(&self) {
        let _ = remote::conn(self.resolved().0);
    }

    /// Closes this worker's connection (at worker stop).
    pub(crate) fn close(&self) {
        remote::close(self.resolved().0);
    }

    /// Runs one command on this worker's connection.
    async fn run<T: redis::FromRedisValue>(
        &self,
        name: &'static str,
        what: &str,
        cmd: &redis::Pipeline,
    ) -> Result<T, Failure> {
        let ep = self.resolved().0;
        let conn = remote::usable(ep, &User(name))?;
        let Conn::Redis(m) = &*conn else {
            return Err(Failure::Unusable("not a Redis connection".into()));
        };
        let mut m = m.clone();
        match ep
            .run(
                &User(name),
                what,
                self.timeout,
                |_| true,
                cmd.query_async(&mut m),
            )
            .await?
        {
            Ok(v) => Ok(v),
            Err(e) => Err(Failure::Down(e.to_string())),
        }
    }

    /// Session `id`, its idle TTL restarted (`idle_ms`) in the same round trip; `None` if
    /// there is none (or what is stored is not a session).
    pub(crate) async fn load(
        &self,
        name: &'static str,
        id: &str,
        idle_ms: u64,
    ) -> Result<Option<Record>, Failure> {
        let key = format!("{}{id}", self.resolved().1);
        let mut p = redis::pipe();
        p.cmd("GET")
            .arg(&key)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(idle_ms)
            .ignore();
        let (text,): (Option<String>,) = self.run(name, "load", &p).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Stores session `id` for `keep_ms`.
    pub(crate) async fn save(
        &self,
        name: &'static str,
        id: &str,
        record: &Record,
        keep_ms: u64,
    ) -> Result<(), Failure> {
        let key = format!("{}{id}", self.resolved().1);
        let text = serde_json::to_string(record).map_err(|e| Failure::Unusable(e.to_string()))?;
        let mut p = redis::pipe();
        p.cmd("SET")
            .arg(&key)
            .arg(text)
            .arg("PX")
            .arg(keep_ms)
            .ignore();
        self.run::<()>(name, "save", &p).await
    }

    /// Drops session `id`.
    pub(crate) async fn delete(&self, name: &'static str, id: &str) -> Result<(), Failure> {
        let key = format!("{}{id}", self.resolved().1);
        let mut p = redis::pipe();
        p.cmd("DEL").arg(&key).ignore();
        self.run::<()>(name, "delete", &p).await
    }
}
