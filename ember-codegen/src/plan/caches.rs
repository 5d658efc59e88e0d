//! `caches:` and the routes' references to them, built from the values
//! `validate::caches` checks.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::Builder;
use crate::diag::line_col;
use crate::spec::{CacheSpec, Entries, Scalar};
use crate::validate::caches::{self as rules, Cache, Jitter, Kind, Query, Remote};

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

impl From<Remote> for RemotePlan {
    fn from(r: Remote) -> RemotePlan {
        RemotePlan {
            template: r.template,
            value: r.value,
            prefix: r.prefix,
            timeout: r.timeout,
        }
    }
}

impl From<Kind> for CacheKind {
    fn from(k: Kind) -> CacheKind {
        match k {
            Kind::Ttl => CacheKind::Ttl,
            Kind::Static => CacheKind::Static,
            Kind::Redis(r) => CacheKind::Redis(r.into()),
            Kind::Memcached(r) => CacheKind::Memcached(r.into()),
        }
    }
}

impl From<Jitter> for JitterPlan {
    fn from(j: Jitter) -> JitterPlan {
        match j {
            Jitter::Duration(d) => JitterPlan::Duration(d),
            Jitter::Percent(p) => JitterPlan::Percent(p),
        }
    }
}

impl From<Query> for QueryPlan {
    fn from(q: Query) -> QueryPlan {
        match q {
            Query::All => QueryPlan::All,
            Query::None => QueryPlan::None,
            Query::Only(names) => QueryPlan::Only(names),
        }
    }
}

impl CachePlan {
    /// The plan of the checked cache `c`, named `name`, declared on `line`.
    fn new(name: &str, line: usize, c: Cache) -> CachePlan {
        CachePlan {
            name: name.to_owned(),
            kind: c.kind.into(),
            ttl: c.ttl,
            stale_while_revalidate: c.stale_while_revalidate,
            jitter: c.jitter.map(Into::into),
            max_entries: c.max_entries,
            max_bytes: c.max_bytes,
            query: c.query.into(),
            vary: c.vary,
            statuses: c.statuses,
            header: c.header,
            line,
        }
    }
}

/// `cache: NAME` or `cache: off` on a route or group: `Some(None)` for off, else the index
/// of the cache in the plan.
pub(super) fn cache_ref(
    cx: &mut Builder<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
) -> Option<Option<usize>> {
    let declared: Vec<&str> = cx.caches.iter().map(|c| c.name.as_str()).collect();
    rules::cache_ref(&mut cx.cx, f, v, &declared, &cx.bad_caches)
}

/// Checks `caches:` (in the root spec) into `cx.caches`.
pub(super) fn caches_plan(
    cx: &mut Builder<'_, '_>,
    caches: &Entries<Spanned<String>, Spanned<CacheSpec>>,
) {
    for (name, spec) in &caches.0 {
        let name_span = cx.span(0, name);
        let line = line_col(cx.source(0), name_span.start).0;
        let n = name.value.as_str();
        let first = cx.caches.iter().find(|c| c.name == n).map(|c| c.line);
        if !rules::name(cx, name, first) {
            continue;
        }
        match rules::cache(cx, n, name_span, &spec.value) {
            Some(c) => cx.caches.push(CachePlan::new(n, line, c)),
            None => cx.bad_caches.push(n.to_owned()),
        }
    }
}
