//! Response caches and application data caches, declared in `ember.yaml`.
//!
//! ```yaml
//! caches:
//!   hot: { ttl: 1s, max_entries: 10000 }
//! routes:
//!   GET /tasks: { handler: tasks::list, cache: hot }
//! ```
//!
//! A cached route's generated code asks [`Cache`] before calling the handler: a fresh
//! entry is answered without the handler and without copying the body (the response
//! shares the entry's `Bytes`); concurrent misses for one key, on any worker thread, wait
//! for a single handler call (single-flight); within `stale_while_revalidate` a stale
//! entry is answered while one background refresh runs on the worker. Answers carry
//! `X-Cache: HIT`, `MISS`, `STALE` or `BYPASS` (a request with credentials the key does
//! not vary on).
//!
//! Kinds: in-process TTL (a sharded table shared by every worker, bounded by
//! `max_entries`/`max_bytes`), static (computed once, kept until purged), Redis and
//! Memcached (a connection per worker; they fail open: an unreachable or slow backend
//! means the handler answers, never an error).
//!
//! Handlers reach the caches through the generated `App::cache("name")`:
//!
//! ```ignore
//! pub async fn create_task(req: &Request<'_>) -> Response {
//!     // … insert the task …
//!     if let Some(cache) = crate::App::cache("hot") {
//!         let _ = cache.purge_prefix("GET /tasks").await; // every page of the list
//!     }
//!     Response::new(StatusCode::CREATED)
//! }
//! ```
//!
//! Keys of cached responses read `GET /path?query` (HEAD shares GET's entry), followed by
//! one `\n`-separated line per `vary` header; data keys are whatever the application
//! passes to [`Cache::set`].

mod entry;
pub(crate) mod env;
mod key;
mod policy;
mod remote;
mod serve;
mod store;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use policy::Policy;
pub use serve::{OwnedRequest, serve};

use entry::{Entry, now_ms};
use store::Store;

/// Where a cache keeps its entries.
#[derive(Debug, Clone)]
enum Kind {
    Memory,
    Static,
    Redis(RemoteConfig),
    Memcached(RemoteConfig),
}

/// A remote backend's settings.
#[derive(Debug, Clone)]
struct RemoteConfig {
    /// `url` / `addr` as written in the spec (`${VAR:-default}` resolved at start-up).
    template: String,
    /// The value the spec had at build time (used when a variable is unset at run time).
    built: String,
    prefix: String,
    timeout: Duration,
}

/// One cache's settings, as the generator writes them.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    name: String,
    kind: Kind,
    max_entries: usize,
    max_bytes: usize,
    ttl: Option<Duration>,
}

impl CacheConfig {
    fn with_kind(name: &str, kind: Kind) -> Self {
        CacheConfig {
            name: name.to_owned(),
            kind,
            max_entries: 0,
            max_bytes: 0,
            ttl: None,
        }
    }

    /// An in-process TTL cache shared by every worker.
    pub fn memory(name: &str) -> Self {
        Self::with_kind(name, Kind::Memory)
    }

    /// An in-process cache whose entries never expire (the spec's `static: true`).
    pub fn memory_static(name: &str) -> Self {
        Self::with_kind(name, Kind::Static)
    }

    /// A Redis cache. `url` may hold `${VAR}` / `${VAR:-default}`, read when the server
    /// starts; `built` is its value at build time, used where a variable is unset.
    pub fn redis(name: &str, url: &str, built: &str) -> Self {
        Self::with_kind(name, Kind::Redis(RemoteConfig::new(url, built)))
    }

    /// A Memcached cache (`addr` is `host:port`, with `${VAR}` as for [`CacheConfig::redis`]).
    pub fn memcached(name: &str, addr: &str, built: &str) -> Self {
        Self::with_kind(name, Kind::Memcached(RemoteConfig::new(addr, built)))
    }

    /// Most entries held (in-process caches).
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// Most bytes of keys, headers and bodies held (in-process caches).
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// The TTL [`Cache::set`] uses when given none.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A prefix for every key in the remote store.
    pub fn prefix(mut self, prefix: &str) -> Self {
        if let Kind::Redis(r) | Kind::Memcached(r) = &mut self.kind {
            r.prefix = prefix.to_owned();
        }
        self
    }

    /// How long a remote operation may take before the cache is skipped.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Kind::Redis(r) | Kind::Memcached(r) = &mut self.kind {
            r.timeout = timeout;
        }
        self
    }
}

impl RemoteConfig {
    fn new(template: &str, built: &str) -> Self {
        RemoteConfig {
            template: template.to_owned(),
            built: built.to_owned(),
            prefix: String::new(),
            timeout: Duration::from_millis(100),
        }
    }

    /// The address to connect to now.
    fn target(&self) -> String {
        env::resolve(&self.template, &|k| std::env::var(k).ok())
            .unwrap_or_else(|| self.built.clone())
    }
}

/// Every cache an app declares, shared by all of its workers.
///
/// The generated `App::caches()` returns the app's one instance; `App::cache("name")`
/// finds one by name.
#[derive(Debug)]
pub struct Caches {
    caches: Box<[Cache]>,
}

impl Caches {
    /// The caches for these settings (in spec order: a [`Policy`] names its cache by index).
    pub fn new(configs: Vec<CacheConfig>) -> Self {
        Caches {
            caches: configs.into_iter().map(Cache::new).collect(),
        }
    }

    /// The cache named `name`.
    pub fn get(&self, name: &str) -> Option<&Cache> {
        self.caches.iter().find(|c| c.name == name)
    }

    /// Every cache, in spec order.
    pub fn iter(&self) -> impl Iterator<Item = &Cache> {
        self.caches.iter()
    }

    /// The cache at `index` (generated code only).
    #[doc(hidden)]
    pub fn at(&self, index: usize) -> &Cache {
        &self.caches[index]
    }

    /// Connects this worker thread to the remote backends (called by the generated
    /// `Service::on_worker_start`; connections are otherwise made on first use).
    pub fn worker_start(&self) {
        for c in self.caches.iter() {
            c.worker_start();
        }
    }

    /// Closes this worker thread's remote connections.
    pub fn worker_stop(&self) {
        for c in self.caches.iter() {
            remote::close(c);
        }
    }
}

/// A cache failed: the backend is unreachable or slow, or the operation does not apply.
///
/// Request handling never sees these: a cached route falls back to its handler. They
/// reach code that calls [`Cache`] methods directly.
#[derive(Debug)]
pub struct CacheError {
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Unavailable(String),
    Unsupported(&'static str),
    Decode(String),
    Rejected(String),
}

impl CacheError {
    fn unavailable(msg: impl Into<String>) -> Self {
        CacheError {
            kind: ErrorKind::Unavailable(msg.into()),
        }
    }

    /// The backend could not be reached in time (or is down).
    pub fn is_unavailable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable(_))
    }

    /// The operation is not possible on this kind of cache (a prefix purge on Memcached).
    pub fn is_unsupported(&self) -> bool {
        matches!(self.kind, ErrorKind::Unsupported(_))
    }

    /// A stored value did not decode as the requested type.
    pub fn is_decode(&self) -> bool {
        matches!(self.kind, ErrorKind::Decode(_))
    }

    /// The backend refused this one entry (Memcached: a value over its item size) while
    /// working normally: nothing was stored, and the backend stays in use.
    pub fn is_rejected(&self) -> bool {
        matches!(self.kind, ErrorKind::Rejected(_))
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Unavailable(m) => write!(f, "cache unavailable: {m}"),
            ErrorKind::Unsupported(m) => write!(f, "not supported: {m}"),
            ErrorKind::Decode(m) => write!(f, "cached value does not decode: {m}"),
            ErrorKind::Rejected(m) => write!(f, "entry refused by the backend: {m}"),
        }
    }
}

impl std::error::Error for CacheError {}

/// One named cache, as the generated `App::cache("name")` returns it.
///
/// Its methods are `async` because a remote cache talks to its backend; they run on the
/// calling worker's connection (call them from handlers).
///
/// ```ignore
/// // A data cache (`caches: { users: { ttl: 60s } }` in ember.yaml):
/// let cache = crate::App::cache("users").expect("declared in ember.yaml");
/// if let Some(user) = cache.get::<User>(&id).await? {
///     return Ok(Json(user));
/// }
/// let user = load_user(&id).await?;
/// cache.set(&id, &user, None).await?;
/// // After a write, drop every cached page of the list:
/// cache.purge_prefix("GET /users").await?;
/// ```
#[derive(Debug)]
pub struct Cache {
    name: String,
    kind: Kind,
    /// Entries (in-process kinds) and flights (every kind).
    store: Store,
    /// Bumped by every purge: a computation that started before one is not stored.
    epoch: AtomicU64,
    default_ttl: Duration,
    /// Keys of a remote cache being refreshed in the background by this process, with
    /// what their refresh's write is conditional on (see `remote::Token`).
    refreshing: std::sync::Mutex<std::collections::HashMap<Arc<[u8]>, remote::Token>>,
    /// Remote caches: the store in the connection registry (shared with every other
    /// user of the same address), found on first use.
    endpoint: std::sync::OnceLock<Option<&'static crate::remote::Endpoint>>,
}

impl Cache {
    fn new(c: CacheConfig) -> Self {
        let (entries, bytes) = match c.kind {
            Kind::Memory if c.max_entries == 0 && c.max_bytes == 0 => (10_000, 0),
            Kind::Memory | Kind::Static => (c.max_entries, c.max_bytes),
            // Remote caches keep only flights here.
            Kind::Redis(_) | Kind::Memcached(_) => (0, 0),
        };
        Cache {
            name: c.name,
            kind: c.kind,
            store: Store::new(entries, bytes),
            epoch: AtomicU64::new(0),
            default_ttl: c.ttl.unwrap_or(Duration::from_secs(60)),
            refreshing: std::sync::Mutex::default(),
            endpoint: std::sync::OnceLock::new(),
        }
    }

    /// The cache's name in the spec.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ttl`, `static`, `redis` or `memcached`.
    pub fn kind(&self) -> &'static str {
        match self.kind {
            Kind::Memory => "ttl",
            Kind::Static => "static",
            Kind::Redis(_) => "redis",
            Kind::Memcached(_) => "memcached",
        }
    }

    fn is_remote(&self) -> bool {
        matches!(self.kind, Kind::Redis(_) | Kind::Memcached(_))
    }

    /// Whether the cache is kept in Redis (scale: single-flight across instances).
    fn is_redis(&self) -> bool {
        matches!(self.kind, Kind::Redis(_))
    }

    fn remote_config(&self) -> Option<&RemoteConfig> {
        match &self.kind {
            Kind::Redis(r) | Kind::Memcached(r) => Some(r),
            _ => None,
        }
    }

    fn worker_start(&self) {
        if self.is_remote() {
            remote::connect(self);
        }
    }

    /// Removes the entry under `key` (for a cached response, `GET /path?query`); whether
    /// one was there (remote stores: whether the backend had it).
    ///
    /// A purge wins over every write that started before it: a miss or refresh whose
    /// handler was running (on this instance, or — through the store — on another one
    /// sharing the remote cache) does not store its answer afterwards. See
    /// `remote.rs` for how (Redis: a version per cache; Memcached: CAS and tombstones).
    pub async fn purge(&self, key: &str) -> Result<bool, CacheError> {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if self.is_remote() {
            remote::delete(self, key.as_bytes()).await
        } else {
            Ok(self.store.remove(key.as_bytes()))
        }
    }

    /// Removes every entry whose key starts with `prefix` (`GET /tasks` drops every page
    /// and query of `/tasks`, and `/tasks/…`); how many. Redis scans its keys for it;
    /// Memcached cannot list keys and answers [`CacheError::is_unsupported`]. Like
    /// [`Cache::purge`], it wins over writes that started before it (on Redis, over every
    /// pending write of the cache).
    pub async fn purge_prefix(&self, prefix: &str) -> Result<usize, CacheError> {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match &self.kind {
            Kind::Memory | Kind::Static => Ok(self.store.remove_prefix(prefix.as_bytes())),
            Kind::Redis(_) => remote::delete_prefix(self, prefix.as_bytes()).await,
            Kind::Memcached(_) => Err(CacheError {
                kind: ErrorKind::Unsupported("Memcached cannot purge by prefix"),
            }),
        }
    }

    /// The raw bytes stored under `key` by [`Cache::set_bytes`] (or a response's body).
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let now = now_ms();
        if self.is_remote() {
            let (e, _) = remote::get(self, key.as_bytes()).await?;
            Ok(e.filter(|e| e.freshness(now) != entry::Freshness::Expired)
                .map(|e| e.body.clone()))
        } else {
            Ok(self.store.get(key.as_bytes(), now).map(|e| e.body.clone()))
        }
    }

    /// Stores `value` under `key` for `ttl` (default: the cache's `ttl`, or a minute;
    /// a static cache keeps it until purged).
    pub async fn set_bytes(
        &self,
        key: &str,
        value: impl Into<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let now = now_ms();
        let ttl = ttl.unwrap_or(self.default_ttl);
        let until = match self.kind {
            Kind::Static => u64::MAX,
            _ => now.saturating_add(ttl.as_millis() as u64),
        };
        let e = Arc::new(Entry::new(0, Bytes::new(), value.into(), until, until));
        if self.is_remote() {
            remote::set(self, key.as_bytes(), &e, remote::Token::Any)
                .await
                .map(|_| ())
        } else {
            self.store.put(key.as_bytes(), e);
            Ok(())
        }
    }

    /// The value stored under `key` by [`Cache::set`], decoded from JSON.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        match self.get_bytes(key).await? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| CacheError {
                    kind: ErrorKind::Decode(e.to_string()),
                }),
        }
    }

    /// Stores `value` (as JSON) under `key` for `ttl` (see [`Cache::set_bytes`]).
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let bytes = serde_json::to_vec(value).map_err(|e| CacheError {
            kind: ErrorKind::Decode(e.to_string()),
        })?;
        self.set_bytes(key, bytes, ttl).await
    }

    /// Entries held in process (0 for remote caches), for tests and metrics.
    pub fn local_len(&self) -> usize {
        self.store.len()
    }
}
