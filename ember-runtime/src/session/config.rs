//! A `sessions:` entry of the spec, as generated code builds it: the store, the cookie's
//! attributes, the TTLs and what a store failure means.

use std::time::Duration;

use cookie::{Cookie, SameSite};

use super::memory::MemoryStore;
use super::record::Ttls;
use super::redis::RedisStore;

/// Where a session's data lives.
#[derive(Debug)]
pub(crate) enum Store {
    /// In the (encrypted) cookie itself.
    Cookie,
    /// In this process.
    Memory(MemoryStore),
    /// In Redis.
    Redis(RedisStore),
}

/// One session configuration (a `sessions:` entry), shared by every worker.
#[derive(Debug)]
pub struct SessionConfig {
    pub(crate) name: &'static str,
    pub(crate) store: Store,
    pub(crate) cookie_name: String,
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    partitioned: bool,
    pub(crate) ttls: Ttls,
    pub(crate) fail_closed: bool,
}

impl SessionConfig {
    fn with_store(name: &'static str, store: Store) -> Self {
        SessionConfig {
            name,
            store,
            cookie_name: format!("{name}_session"),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            partitioned: false,
            ttls: Ttls {
                idle: 24 * 3600 * 1000,
                absolute: 7 * 24 * 3600 * 1000,
            },
            fail_closed: false,
        }
    }

    /// Sessions kept in an encrypted cookie (needs the spec's `cookies:` keys).
    pub fn cookie_store(name: &'static str) -> Self {
        Self::with_store(name, Store::Cookie)
    }

    /// Sessions kept in this process, shared by its workers.
    pub fn memory(name: &'static str) -> Self {
        Self::with_store(name, Store::Memory(MemoryStore::new()))
    }

    /// Sessions kept in Redis at `url` under `prefix`. Both may hold `${VAR:-default}`,
    /// read when first used; `*_built` are their values at build time, used where a
    /// variable is unset.
    pub fn redis(
        name: &'static str,
        url: &str,
        url_built: &str,
        prefix: &str,
        prefix_built: &str,
    ) -> Self {
        let store = RedisStore::new(
            (url.to_owned(), url_built.to_owned()),
            (prefix.to_owned(), prefix_built.to_owned()),
        );
        Self::with_store(name, Store::Redis(store))
    }

    /// How long one Redis operation may take.
    pub fn timeout(mut self, t: Duration) -> Self {
        if let Store::Redis(r) = &mut self.store {
            r.timeout = t;
        }
        self
    }

    /// The cookie's name (default `<name>_session`).
    pub fn cookie_name(mut self, n: &str) -> Self {
        self.cookie_name = n.to_owned();
        self
    }

    /// The cookie's `Path` (default `/`).
    pub fn path(mut self, p: &str) -> Self {
        self.path = p.to_owned();
        self
    }

    /// The cookie's `Domain` (default: none, the host only).
    pub fn domain(mut self, d: &str) -> Self {
        self.domain = Some(d.to_owned());
        self
    }

    /// The cookie's `Secure` (default `true`).
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }

    /// The cookie's `HttpOnly` (default `true`).
    pub fn http_only(mut self, on: bool) -> Self {
        self.http_only = on;
        self
    }

    /// The cookie's `SameSite`: `"strict"`, `"lax"` (default) or `"none"`.
    pub fn same_site(mut self, s: &str) -> Self {
        self.same_site = match s {
            "strict" => SameSite::Strict,
            "none" => SameSite::None,
            _ => SameSite::Lax,
        };
        self
    }

    /// The cookie's `Partitioned` (default `false`).
    pub fn partitioned(mut self, on: bool) -> Self {
        self.partitioned = on;
        self
    }

    /// Longest time between two uses (default 24 h).
    pub fn idle_ttl(mut self, t: Duration) -> Self {
        self.ttls.idle = t.as_millis().max(1) as u64;
        self
    }

    /// Longest life of a session (default 7 days).
    pub fn absolute_ttl(mut self, t: Duration) -> Self {
        self.ttls.absolute = t.as_millis().max(1) as u64;
        self
    }

    /// Whether a store that cannot be reached answers `503` (`true`) or gives the handler
    /// an empty session (`false`, the default).
    pub fn fail_closed(mut self, on: bool) -> Self {
        self.fail_closed = on;
        self
    }

    /// Checks what must hold before serving: a cookie store needs cookie keys.
    pub fn check(&self) -> std::io::Result<()> {
        if matches!(self.store, Store::Cookie) && crate::cookie::installed().is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "sessions `{}`: the cookie store needs cookie keys (`cookies:` in the spec)",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    /// Connects this worker to the store (Redis) when it starts.
    pub fn worker_start(&self) {
        if let Store::Redis(r) = &self.store {
            r.connect();
        }
    }

    /// Closes this worker's connection to the store when it stops.
    pub fn worker_stop(&self) {
        if let Store::Redis(r) = &self.store {
            r.close();
        }
    }

    /// The session cookie carrying `value`, for a session created at `created` (its
    /// `Max-Age` is what the absolute TTL leaves at `now`, rounded up to whole seconds: the
    /// client keeps the cookie until the session ends; the server enforces the exact TTL).
    pub(crate) fn cookie(&self, value: String, created: u64, now: u64) -> Cookie<'static> {
        let left = self
            .ttls
            .absolute
            .saturating_sub(now.saturating_sub(created));
        let mut b = Cookie::build((self.cookie_name.clone(), value))
            .path(self.path.clone())
            .secure(self.secure)
            .http_only(self.http_only)
            .same_site(self.same_site)
            .max_age(cookie::time::Duration::seconds(
                left.div_ceil(1000).max(1) as i64
            ));
        if self.partitioned {
            b = b.partitioned(true);
        }
        if let Some(d) = &self.domain {
            b = b.domain(d.clone());
        }
        b.build()
    }

    /// The `Set-Cookie` removal of the session cookie (same `Path` and `Domain`).
    pub(crate) fn removal(&self) -> Cookie<'static> {
        let mut b = Cookie::build((self.cookie_name.clone(), ""))
            .path(self.path.clone())
            .secure(self.secure)
            .http_only(self.http_only)
            .same_site(self.same_site);
        if let Some(d) = &self.domain {
            b = b.domain(d.clone());
        }
        b.build()
    }
}
