//! The spec as written: `ember.yaml` deserialized with every value's location kept.
//!
//! These types mirror the YAML one to one; [`crate::validate`] turns them into a checked
//! [`crate::plan::Plan`]. Sections that later releases implement are parsed only so that
//! they can be refused with a located "not supported yet" error, never silently ignored.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
pub use serde_saphyr::Spanned;

/// The whole `ember.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The application's name.
    pub app: Option<Spanned<String>>,
    /// The Rust module handler paths are relative to (default `crate::handlers`).
    pub handlers: Option<Spanned<String>>,
    /// Server settings.
    pub server: Option<Spanned<ServerSpec>>,
    /// `METHOD /path: handler` entries, in order.
    pub routes: Option<Spanned<Entries<Spanned<String>, Spanned<RouteValue>>>>,
    /// Route groups: a prefix and settings shared by their routes.
    pub groups: Option<Spanned<Vec<Spanned<GroupSpec>>>>,
    /// Named caches that routes and groups refer to with `cache: NAME`.
    pub caches: Option<Spanned<Entries<Spanned<String>, Spanned<CacheSpec>>>>,
    /// Middleware, outermost first (see [`crate::middleware`]).
    pub middleware: Option<Spanned<crate::middleware::MwList>>,
    /// Reserved: AI routes.
    pub ai: Option<Spanned<IgnoredAny>>,
    /// Further spec files whose `routes`, `groups` and `include` are merged in.
    pub include: Option<Spanned<Include>>,
}

/// `include: file.yaml` or `include: [a.yaml, b.yaml]`.
#[derive(Debug)]
pub enum Include {
    /// One path (its span is the enclosing `Spanned`).
    One(String),
    /// A list of paths.
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Include {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Include;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file path or a list of file paths")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Include, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(Include::Many(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Include, E> {
                Ok(Include::One(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A route group (`groups:` at the top level or inside another group).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The path prefix of every route in the group (`/admin`, `/orgs/{org}`).
    pub prefix: Spanned<String>,
    /// A name for the group.
    pub name: Option<Spanned<String>>,
    /// Limits for the group's routes (route-level keys only).
    pub limits: Option<Spanned<LimitsSpec>>,
    /// The group's routes.
    pub routes: Option<Spanned<Entries<Spanned<String>, Spanned<RouteValue>>>>,
    /// Nested groups.
    pub groups: Option<Spanned<Vec<Spanned<GroupSpec>>>>,
    /// Middleware, outermost first (see [`crate::middleware`]).
    pub middleware: Option<Spanned<crate::middleware::MwList>>,
    /// The cache for the group's GET routes (`NAME`, or `off`).
    pub cache: Option<Spanned<Scalar>>,
}

/// The keys of a group, for suggestions.
pub(crate) const GROUP_KEYS: &[&str] = &[
    "prefix",
    "name",
    "limits",
    "routes",
    "groups",
    "middleware",
    "cache",
];

/// A scalar written as a string or a number (`16KiB`, `4096`, `30s`), kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                // YAML 1.1 reads a plain `off`/`on` as a boolean.
                Ok(Scalar(if v { "on" } else { "off" }.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `limits:` under `server`, a group or a route.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Idle time allowed between requests on a connection (server only).
    pub keep_alive_timeout: Option<Spanned<Scalar>>,
    /// Time to send a complete request head (server only).
    pub header_read_timeout: Option<Spanned<Scalar>>,
    /// Time to send a request body (server only).
    pub body_read_timeout: Option<Spanned<Scalar>>,
    /// Time a handler may run.
    pub handler_timeout: Option<Spanned<Scalar>>,
    /// Longest request line (server only).
    pub max_request_line: Option<Spanned<Scalar>>,
    /// Most bytes of request head (server only).
    pub max_header_bytes: Option<Spanned<Scalar>>,
    /// Most header fields (server only).
    pub max_headers: Option<Spanned<Scalar>>,
    /// Largest request body.
    pub max_body_size: Option<Spanned<Scalar>>,
    /// Most simultaneous connections (server only).
    pub max_connections: Option<Spanned<Scalar>>,
}

/// The keys of `limits`, for suggestions.
pub(crate) const LIMIT_KEYS: &[&str] = &[
    "keep_alive_timeout",
    "header_read_timeout",
    "body_read_timeout",
    "handler_timeout",
    "max_request_line",
    "max_header_bytes",
    "max_headers",
    "max_body_size",
    "max_connections",
];

/// `server.io_uring`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UringSpec {
    /// Submission-queue entries per ring.
    pub entries: Option<Spanned<Scalar>>,
    /// Receive buffers per worker.
    pub num_bufs: Option<Spanned<Scalar>>,
    /// Size of each receive buffer.
    pub buf_size: Option<Spanned<Scalar>>,
    /// `false`: single-shot receives into each connection's own buffer, no shared ring.
    pub provided_buffers: Option<Spanned<Scalar>>,
}

/// The keys of `server.io_uring`, for suggestions.
pub(crate) const URING_KEYS: &[&str] = &["entries", "num_bufs", "buf_size", "provided_buffers"];

/// The top-level keys, for suggestions.
pub(crate) const TOP_KEYS: &[&str] = &[
    "app",
    "handlers",
    "server",
    "routes",
    "groups",
    "caches",
    "middleware",
    "ai",
    "include",
];

/// `server:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// `host:port`.
    pub listen: Option<Spanned<String>>,
    /// `auto` or a count.
    pub workers: Option<Spanned<Scalar>>,
    /// `auto`, `io_uring` or `tokio`.
    pub backend: Option<Spanned<String>>,
    /// io_uring ring and buffer-pool settings.
    pub io_uring: Option<Spanned<UringSpec>>,
    /// Limits and timeouts.
    pub limits: Option<Spanned<LimitsSpec>>,
    /// How long in-flight requests may run once shutdown begins.
    pub shutdown_grace: Option<Spanned<Scalar>>,
    /// Allow joining a port another process already listens on (`SO_REUSEPORT`).
    pub reuse_port: Option<Spanned<Scalar>>,
}

/// The keys of `server:`, for suggestions.
pub(crate) const SERVER_KEYS: &[&str] = &[
    "listen",
    "workers",
    "backend",
    "io_uring",
    "limits",
    "shutdown_grace",
    "reuse_port",
];

/// One entry of `caches:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// How long an entry is fresh (required unless `static`).
    pub ttl: Option<Spanned<Scalar>>,
    /// `static: true`: computed once, never expires.
    #[serde(rename = "static")]
    pub fixed: Option<Spanned<Scalar>>,
    /// A Redis backend.
    pub redis: Option<Spanned<RemoteSpec>>,
    /// A Memcached backend.
    pub memcached: Option<Spanned<RemoteSpec>>,
    /// Most entries held in process.
    pub max_entries: Option<Spanned<Scalar>>,
    /// Most bytes held in process.
    pub max_bytes: Option<Spanned<Scalar>>,
    /// How long past its TTL an entry is served while one refresh runs.
    pub stale_while_revalidate: Option<Spanned<Scalar>>,
    /// A random shortening of each entry's TTL (`100ms` or `10%`).
    pub jitter: Option<Spanned<Scalar>>,
    /// What the key is made of.
    pub key: Option<Spanned<KeySpec>>,
    /// The statuses that are cached (default `[200]`).
    pub statuses: Option<Spanned<Vec<Spanned<Scalar>>>>,
    /// The `X-Cache` header's name, or `off`.
    pub header: Option<Spanned<Scalar>>,
}

/// The keys of a cache, for suggestions.
pub(crate) const CACHE_KEYS: &[&str] = &[
    "ttl",
    "static",
    "redis",
    "memcached",
    "max_entries",
    "max_bytes",
    "stale_while_revalidate",
    "jitter",
    "key",
    "statuses",
    "header",
];

/// `redis:` or `memcached:` under a cache.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSpec {
    /// Redis: `redis://host:port/db` (`${VAR:-default}` allowed).
    pub url: Option<Spanned<String>>,
    /// Memcached: `host:port` (`${VAR:-default}` allowed).
    pub addr: Option<Spanned<String>>,
    /// Prefix of every key in the backend.
    pub prefix: Option<Spanned<String>>,
    /// How long an operation may take before the cache is skipped (default 100ms).
    pub timeout: Option<Spanned<Scalar>>,
}

/// The keys of `redis:`/`memcached:`, for suggestions.
pub(crate) const REMOTE_KEYS: &[&str] = &["url", "addr", "prefix", "timeout"];

/// `key:` under a cache.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// `all` (default), `none`, or the query parameters to keep.
    pub query: Option<Spanned<QuerySpec>>,
    /// Request headers whose values enter the key.
    pub vary: Option<Spanned<Vec<Spanned<String>>>>,
}

/// The keys of `key:`, for suggestions.
pub(crate) const KEY_KEYS: &[&str] = &["query", "vary"];

/// `query: all`, `query: none` or `query: [a, b]`.
#[derive(Debug)]
pub enum QuerySpec {
    /// A word (`all` or `none`; anything else is reported).
    Word(String),
    /// Parameter names.
    Only(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for QuerySpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = QuerySpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`all`, `none` or a list of query parameter names")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<QuerySpec, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(QuerySpec::Only(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<QuerySpec, E> {
                Ok(QuerySpec::Word(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<QuerySpec, E> {
                Ok(QuerySpec::Word(if v { "all" } else { "none" }.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A route's value: a handler path, or the long form.
#[derive(Debug)]
pub enum RouteValue {
    /// `GET /x: handler`.
    Short(String),
    /// `GET /x: { handler: …, name: …, summary: … }`.
    Long(Box<RouteLong>),
}

/// The long form of a route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteLong {
    /// The handler path.
    pub handler: Spanned<String>,
    /// A name for the route (used in generated identifiers and tooling).
    pub name: Option<Spanned<String>>,
    /// A one-line description.
    pub summary: Option<Spanned<String>>,
    /// Limits for this route (route-level keys only).
    pub limits: Option<Spanned<LimitsSpec>>,
    /// The cache for this (GET) route: `NAME`, or `off` to opt out of its group's.
    pub cache: Option<Spanned<Scalar>>,
    /// Middleware, outermost first (see [`crate::middleware`]).
    pub middleware: Option<Spanned<crate::middleware::MwList>>,
}

/// The keys of a long-form route, for suggestions.
pub(crate) const ROUTE_KEYS: &[&str] = &[
    "handler",
    "name",
    "summary",
    "limits",
    "cache",
    "middleware",
];

impl<'de> Deserialize<'de> for RouteValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RouteValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a handler path or a mapping with `handler`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RouteValue, E> {
                Ok(RouteValue::Short(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RouteValue, A::Error> {
                RouteLong::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|l| RouteValue::Long(Box::new(l)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A YAML mapping kept as ordered entries (spans survive, duplicates are visible).
#[derive(Debug)]
pub struct Entries<K, V>(pub Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Vis<K, V> {
            type Value = Entries<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(Entries(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Entries(Vec::new()))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}
