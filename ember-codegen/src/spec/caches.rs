//! `caches:` as written, and a route's cache `key:`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_saphyr::Spanned;

use super::Scalar;

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
