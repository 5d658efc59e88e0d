//! The checked spec: everything the generator needs, with spec lines for comments.

use std::time::Duration;

use crate::path::Segment;

/// Which methods a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MethodSel {
    /// `GET` (and `HEAD`, unless a `HEAD` route exists for the same path).
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `ANY`: every method not routed separately for the same path.
    Any,
}

/// The method keywords a route key may start with.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY",
];

impl MethodSel {
    /// Parses a method keyword.
    pub fn from_keyword(k: &str) -> Option<Self> {
        Some(match k {
            "GET" => MethodSel::Get,
            "HEAD" => MethodSel::Head,
            "POST" => MethodSel::Post,
            "PUT" => MethodSel::Put,
            "PATCH" => MethodSel::Patch,
            "DELETE" => MethodSel::Delete,
            "OPTIONS" => MethodSel::Options,
            "ANY" => MethodSel::Any,
            _ => return None,
        })
    }

    /// The keyword.
    pub fn keyword(self) -> &'static str {
        METHODS[self as usize]
    }
}

/// Limits given in the spec (unset ones take the runtime's defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsPlan {
    /// `keep_alive_timeout`.
    pub keep_alive_timeout: Option<Duration>,
    /// `header_read_timeout`.
    pub header_read_timeout: Option<Duration>,
    /// `body_read_timeout`.
    pub body_read_timeout: Option<Duration>,
    /// `handler_timeout`: `Some(None)` is `off`.
    pub handler_timeout: Option<Option<Duration>>,
    /// `max_request_line`.
    pub max_request_line: Option<u64>,
    /// `max_header_bytes`.
    pub max_header_bytes: Option<u64>,
    /// `max_headers`.
    pub max_headers: Option<u64>,
    /// `max_body_size`.
    pub max_body_size: Option<u64>,
    /// `max_connections`.
    pub max_connections: Option<u64>,
}

impl LimitsPlan {
    /// Settings of `inner` where set, else `self`'s (route over group over server).
    pub fn overlay(self, inner: LimitsPlan) -> LimitsPlan {
        LimitsPlan {
            keep_alive_timeout: inner.keep_alive_timeout.or(self.keep_alive_timeout),
            header_read_timeout: inner.header_read_timeout.or(self.header_read_timeout),
            body_read_timeout: inner.body_read_timeout.or(self.body_read_timeout),
            handler_timeout: inner.handler_timeout.or(self.handler_timeout),
            max_request_line: inner.max_request_line.or(self.max_request_line),
            max_header_bytes: inner.max_header_bytes.or(self.max_header_bytes),
            max_headers: inner.max_headers.or(self.max_headers),
            max_body_size: inner.max_body_size.or(self.max_body_size),
            max_connections: inner.max_connections.or(self.max_connections),
        }
    }
}

/// `server.io_uring` settings given in the spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UringPlan {
    /// `entries`.
    pub entries: Option<u32>,
    /// `num_bufs`.
    pub num_bufs: Option<u16>,
    /// `buf_size`.
    pub buf_size: Option<u32>,
    /// `provided_buffers`.
    pub provided_buffers: Option<bool>,
}

/// Server settings given in the spec (unset ones take the runtime's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerPlan {
    /// `host:port`.
    pub listen: Option<String>,
    /// `None` = auto.
    pub workers: Option<usize>,
    /// `auto`, `io_uring` or `tokio`.
    pub backend: Option<String>,
    /// `limits`.
    pub limits: LimitsPlan,
    /// `io_uring`.
    pub io_uring: UringPlan,
    /// `shutdown_grace`.
    pub shutdown_grace: Option<Duration>,
    /// `reuse_port`.
    pub reuse_port: Option<bool>,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// The method.
    pub method: MethodSel,
    /// The path as written.
    pub path: String,
    /// The parsed path.
    pub segments: Vec<Segment>,
    /// The handler's full Rust path (`crate::handlers::hello`).
    pub handler: String,
    /// The optional route name.
    pub name: Option<String>,
    /// The optional summary.
    pub summary: Option<String>,
    /// The route's own limits, with its groups' folded in (route-level keys only).
    pub limits: LimitsPlan,
    /// The spec file the route is declared in.
    pub file: String,
    /// The line the route is declared on.
    pub line: usize,
    /// The cache its GET (and HEAD) answers go through: an index into `Plan::caches`.
    pub cache: Option<usize>,
    /// The route's middleware chain, outermost first (inherited entries included).
    pub middleware: Vec<crate::middleware::MwPlan>,
}

/// Where a cache keeps its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKind {
    /// In process, with a TTL (`ttl:` without a backend).
    Ttl,
    /// In process, never expiring (`static: true`).
    Static,
    /// Redis (`redis: { url }`).
    Redis(RemotePlan),
    /// Memcached (`memcached: { addr }`).
    Memcached(RemotePlan),
}

/// A remote backend's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePlan {
    /// `url`/`addr` as written (`${VAR}` is resolved again when the server starts).
    pub template: String,
    /// Its value at build time.
    pub value: String,
    /// Key prefix.
    pub prefix: String,
    /// Operation timeout.
    pub timeout: Duration,
}

/// `jitter:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JitterPlan {
    /// Up to this much shorter.
    Duration(Duration),
    /// Up to this share (1–99 %) of the TTL shorter.
    Percent(u8),
}

/// Which query parameters enter a key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum QueryPlan {
    /// The whole query (the default).
    #[default]
    All,
    /// None of it.
    None,
    /// These parameters, in this order.
    Only(Vec<String>),
}

/// One entry of `caches:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePlan {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: CacheKind,
    /// Freshness (`None` for a static cache).
    pub ttl: Option<Duration>,
    /// Stale-while-revalidate window.
    pub stale_while_revalidate: Option<Duration>,
    /// TTL jitter.
    pub jitter: Option<JitterPlan>,
    /// Most entries (in-process kinds).
    pub max_entries: Option<u64>,
    /// Most bytes (in-process kinds).
    pub max_bytes: Option<u64>,
    /// Query rule of the key.
    pub query: QueryPlan,
    /// Request headers in the key (lower-case).
    pub vary: Vec<String>,
    /// Cached statuses.
    pub statuses: Vec<u16>,
    /// The status header's name (`None`: off).
    pub header: Option<String>,
    /// The line it is declared on.
    pub line: usize,
}

/// A validated spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The spec file's name, for the generated header.
    pub file: String,
    /// `app:`.
    pub app: String,
    /// Server settings.
    pub server: ServerPlan,
    /// Routes in spec order (included files after the including file's own).
    pub routes: Vec<RoutePlan>,
    /// Caches in spec order.
    pub caches: Vec<CachePlan>,
    /// Every spec file read (for `cargo::rerun-if-changed`), the root first.
    pub files: Vec<String>,
    /// Every environment variable the spec read (for `cargo::rerun-if-env-changed`).
    pub env_vars: Vec<String>,
}
