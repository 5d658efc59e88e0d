//! `caches:` and the routes' references to them.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::Builder;
use std::ops::Range;

use crate::diag::{Diagnostic, did_you_mean, line_col};
use crate::spec::{CacheSpec, Entries, QuerySpec, RemoteSpec, Scalar};
use crate::validate::server::looks_like_host_port;
use crate::validate::{count, duration, refuse, size};

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

/// `cache: NAME` or `cache: off` on a route or group: `Some(None)` for off.
pub(super) fn cache_ref(
    cx: &mut Builder<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
) -> Option<Option<usize>> {
    // `cache: ${APP_CACHE:-hot}` lets a build choose (or turn off) a route's cache.
    let name = cx.scalar(f, v)?;
    let name = name.as_str();
    if name == "off" || name == "none" {
        return Some(None);
    }
    if let Some(i) = cx.caches.iter().position(|c| c.name == name) {
        return Some(Some(i));
    }
    if cx.bad_caches.iter().any(|c| c == name) {
        return None;
    }
    let span = cx.span(f, v);
    let names: Vec<&str> = cx.caches.iter().map(|c| c.name.as_str()).collect();
    let mut d = Diagnostic::new(format!("unknown cache `{name}`")).at(
        span,
        if names.is_empty() {
            "no `caches:` are declared".to_owned()
        } else {
            format!("declared caches: {}", names.join(", "))
        },
    );
    d = match did_you_mean(name, &names) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!(
            "declare it under `caches:`, e.g. `{name}: {{ ttl: 1s }}`, or write `cache: off`"
        )),
    };
    cx.error(f, d);
    None
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
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || n == "off"
            || n == "none"
        {
            let d = Diagnostic::new(format!("invalid cache name `{n}`")).at(
                name_span,
                "use letters, digits, `_` and `-` (not `off` or `none`)",
            );
            cx.error(0, d);
            continue;
        }
        if let Some(first) = cx.caches.iter().find(|c| c.name == n) {
            let d = Diagnostic::new(format!(
                "cache `{n}` is declared twice (first on line {})",
                first.line
            ))
            .at(name_span, "duplicate cache");
            cx.error(0, d);
            continue;
        }
        match cache_plan(cx, n, name_span, line, &spec.value) {
            Some(plan) => cx.caches.push(plan),
            None => cx.bad_caches.push(n.to_owned()),
        }
    }
}

fn cache_plan(
    cx: &mut Builder<'_, '_>,
    name: &str,
    name_span: Range<usize>,
    line: usize,
    s: &CacheSpec,
) -> Option<CachePlan> {
    let errors = cx.errors.len();
    let fixed = match &s.fixed {
        None => false,
        Some(v) => match v.value.0.as_str() {
            "on" | "true" | "yes" => true,
            "off" | "false" | "no" => false,
            other => {
                let span = cx.span(0, v);
                let d =
                    Diagnostic::new(format!("`static` must be `true` or `false`, not `{other}`"))
                        .at(span, "here");
                cx.error(0, d);
                false
            }
        },
    };
    if let (Some(_), Some(m)) = (&s.redis, &s.memcached) {
        let span = cx.key_span(0, m, "memcached");
        let d = Diagnostic::new(format!("cache `{name}` has two backends"))
            .at(span, "`redis` is set too")
            .help("declare one cache per backend");
        cx.error(0, d);
        return None;
    }
    let kind = if let Some(r) = &s.redis {
        if fixed {
            refuse(
                cx,
                &s.fixed,
                "static",
                "a Redis cache expires its entries",
                "use `ttl`, or an in-process `static: true` cache",
            );
        }
        CacheKind::Redis(remote_plan(cx, r, "redis")?)
    } else if let Some(m) = &s.memcached {
        if fixed {
            refuse(
                cx,
                &s.fixed,
                "static",
                "a Memcached cache expires its entries",
                "use `ttl`, or an in-process `static: true` cache",
            );
        }
        CacheKind::Memcached(remote_plan(cx, m, "memcached")?)
    } else if fixed {
        CacheKind::Static
    } else {
        CacheKind::Ttl
    };
    let remote = matches!(kind, CacheKind::Redis(_) | CacheKind::Memcached(_));
    if remote {
        let why = "a remote backend bounds its own memory";
        refuse(
            cx,
            &s.max_entries,
            "max_entries",
            why,
            "configure the server's memory limit (Redis `maxmemory`, memcached `-m`)",
        );
        refuse(
            cx,
            &s.max_bytes,
            "max_bytes",
            why,
            "configure the server's memory limit (Redis `maxmemory`, memcached `-m`)",
        );
    }
    let mut ttl = None;
    if kind == CacheKind::Static {
        let why = "a static cache never expires";
        let help = "drop `static: true` for a TTL cache";
        refuse(cx, &s.ttl, "ttl", why, help);
        refuse(
            cx,
            &s.stale_while_revalidate,
            "stale_while_revalidate",
            why,
            help,
        );
        refuse(cx, &s.jitter, "jitter", why, help);
    } else {
        match &s.ttl {
            Some(t) => ttl = duration(cx, 0, t, false).flatten(),
            None => {
                let d = Diagnostic::new(format!("cache `{name}` needs a `ttl`"))
                    .at(name_span.clone(), "how long are its entries fresh?")
                    .help("add `ttl: 1s`, or `static: true` for a cache that never expires");
                cx.error(0, d);
            }
        }
    }
    let stale_while_revalidate = match &s.stale_while_revalidate {
        Some(v) if kind != CacheKind::Static => duration(cx, 0, v, true).flatten(),
        _ => None,
    };
    let jitter = match &s.jitter {
        Some(v) if kind != CacheKind::Static => jitter_plan(cx, v, ttl),
        _ => None,
    };
    let max_entries = match &s.max_entries {
        Some(v) if !remote => count(cx, 0, v, 1..=1 << 32),
        _ => None,
    };
    let max_bytes = match &s.max_bytes {
        Some(v) if !remote => size(cx, 0, v, 1024..=1 << 40),
        _ => None,
    };
    let mut query = QueryPlan::All;
    let mut vary = Vec::new();
    if let Some(k) = &s.key {
        if let Some(q) = &k.value.query {
            query = match &q.value {
                QuerySpec::Word(w) if w == "all" => QueryPlan::All,
                QuerySpec::Word(w) if w == "none" => QueryPlan::None,
                QuerySpec::Word(w) => {
                    let span = cx.span(0, q);
                    let d = Diagnostic::new(format!("unknown query rule `{w}`"))
                        .at(span, "expected `all`, `none` or a list of parameter names")
                        .help(format!("to keep only this parameter, write `query: [{w}]`"));
                    cx.error(0, d);
                    QueryPlan::All
                }
                QuerySpec::Only(list) if list.is_empty() => {
                    let span = cx.span(0, q);
                    let d = Diagnostic::new("an empty query allow-list")
                        .at(span, "no parameter would enter the key")
                        .help("write `query: none` to leave the query out of the key");
                    cx.error(0, d);
                    QueryPlan::All
                }
                QuerySpec::Only(list) => {
                    let mut names: Vec<String> = Vec::new();
                    for p in list {
                        let ok =
                            !p.value.is_empty() && !p.value.contains(['&', '=', '?', '#', ' ']);
                        if !ok || names.contains(&p.value) {
                            let span = cx.span(0, p);
                            let what = if ok {
                                "listed twice"
                            } else {
                                "not a query parameter name"
                            };
                            let d =
                                Diagnostic::new(format!("query parameter `{}` is {what}", p.value))
                                    .at(span, "here");
                            cx.error(0, d);
                            continue;
                        }
                        names.push(p.value.clone());
                    }
                    QueryPlan::Only(names)
                }
            };
        }
        if let Some(v) = &k.value.vary {
            for h in &v.value {
                let lower = h.value.to_ascii_lowercase();
                let token = !lower.is_empty()
                    && lower
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !token || vary.contains(&lower) {
                    let span = cx.span(0, h);
                    let what = if token {
                        "listed twice"
                    } else {
                        "not a header name"
                    };
                    let d =
                        Diagnostic::new(format!("`{}` is {what}", h.value)).at(span, "in `vary`");
                    cx.error(0, d);
                    continue;
                }
                vary.push(lower);
            }
        }
    }
    let mut statuses = Vec::new();
    match &s.statuses {
        None => statuses.push(200),
        Some(list) => {
            if list.value.is_empty() {
                let span = cx.span(0, list);
                let d = Diagnostic::new("`statuses` is empty: nothing would be cached")
                    .at(span, "here")
                    .help("leave it out to cache `200` answers");
                cx.error(0, d);
            }
            for st in &list.value {
                match st.value.0.parse::<u16>() {
                    Ok(n)
                        if (200..=599).contains(&n)
                            && n != 204
                            && n != 304
                            && !statuses.contains(&n) =>
                    {
                        statuses.push(n)
                    }
                    _ => {
                        let span = cx.span(0, st);
                        let d = Diagnostic::new(format!(
                            "`{}` is not a status that can be cached",
                            st.value.0
                        ))
                        .at(
                            span,
                            "expected a status from 200 to 599 (not 204 or 304), once",
                        );
                        cx.error(0, d);
                    }
                }
            }
        }
    }
    let header = match &s.header {
        None => Some("X-Cache".to_owned()),
        Some(h) if h.value.0 == "off" || h.value.0 == "none" => None,
        Some(h) => {
            let v = &h.value.0;
            let token = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            let reserved = [
                "content-length",
                "transfer-encoding",
                "connection",
                "content-type",
                "date",
                "server",
            ]
            .iter()
            .any(|r| r.eq_ignore_ascii_case(v));
            if !token || reserved {
                let span = cx.span(0, h);
                let d = Diagnostic::new(format!("`{v}` cannot be the cache status header"))
                    .at(
                        span,
                        if reserved {
                            "the runtime owns this header"
                        } else {
                            "not a header name"
                        },
                    )
                    .help("use a name like `X-Cache`, or `off`");
                cx.error(0, d);
            }
            Some(v.clone())
        }
    };
    if cx.errors.len() != errors {
        return None;
    }
    Some(CachePlan {
        name: name.to_owned(),
        kind,
        ttl,
        stale_while_revalidate,
        jitter,
        max_entries,
        max_bytes,
        query,
        vary,
        statuses,
        header,
        line,
    })
}

fn jitter_plan(
    cx: &mut Builder<'_, '_>,
    v: &Spanned<Scalar>,
    ttl: Option<Duration>,
) -> Option<JitterPlan> {
    let text = cx.scalar(0, v)?;
    let span = cx.span(0, v);
    if let Some(p) = text.strip_suffix('%') {
        return match p.trim().parse::<u8>() {
            Ok(n) if (1..=99).contains(&n) => Some(JitterPlan::Percent(n)),
            _ => {
                let d = Diagnostic::new(format!("`{text}` is not a jitter percentage"))
                    .at(span, "expected 1% to 99% of the TTL");
                cx.error(0, d);
                None
            }
        };
    }
    let d = duration(cx, 0, v, false).flatten()?;
    if let Some(t) = ttl
        && d >= t
    {
        let diag = Diagnostic::new(format!("jitter `{text}` is not shorter than the TTL"))
            .at(span, "entries could expire at once")
            .help("use a fraction of the TTL, like `10%`");
        cx.error(0, diag);
        return None;
    }
    Some(JitterPlan::Duration(d))
}

fn remote_plan(
    cx: &mut Builder<'_, '_>,
    r: &Spanned<RemoteSpec>,
    which: &str,
) -> Option<RemotePlan> {
    let (want, other) = if which == "redis" {
        ("url", "addr")
    } else {
        ("addr", "url")
    };
    let (given, stray) = if which == "redis" {
        (&r.value.url, &r.value.addr)
    } else {
        (&r.value.addr, &r.value.url)
    };
    if let Some(s) = stray {
        let span = cx.key_span(0, s, other);
        let d = Diagnostic::new(format!("`{which}` takes `{want}`, not `{other}`"))
            .at(span, "here")
            .help(format!("write `{want}:`"));
        cx.error(0, d);
        return None;
    }
    let Some(t) = given else {
        let span = cx.key_span(0, r, which);
        let example = if which == "redis" {
            "url: \"${REDIS_URL:-redis://127.0.0.1:6379}\""
        } else {
            "addr: \"${MEMCACHED_ADDR:-127.0.0.1:11211}\""
        };
        let d = Diagnostic::new(format!("`{which}` needs `{want}`"))
            .at(span, "here")
            .help(format!("add `{example}`"));
        cx.error(0, d);
        return None;
    };
    let value = cx.text(0, t)?;
    let valid = if which == "redis" {
        ["redis://", "rediss://", "unix://", "redis+unix://"]
            .iter()
            .any(|p| value.starts_with(p) && value.len() > p.len())
    } else {
        value.parse::<std::net::SocketAddr>().is_ok() || looks_like_host_port(&value)
    };
    if !valid {
        let span = cx.span(0, t);
        let expected = if which == "redis" {
            "expected `redis://host:port` (or `rediss://`, `unix://`)"
        } else {
            "expected `host:port`"
        };
        let d = Diagnostic::new(format!("`{value}` is not a {which} address")).at(span, expected);
        cx.error(0, d);
        return None;
    }
    let prefix = match &r.value.prefix {
        Some(p) => cx.text(0, p)?,
        None => String::new(),
    };
    let timeout = match &r.value.timeout {
        Some(t) => duration(cx, 0, t, false).flatten()?,
        None => Duration::from_millis(100),
    };
    Some(RemotePlan {
        template: t.value.clone(),
        value,
        prefix,
        timeout,
    })
}
