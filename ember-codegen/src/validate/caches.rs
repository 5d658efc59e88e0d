//! Rules of `caches:` (names, kinds, TTLs, keys, statuses, backends) and of the routes'
//! references to them.

use std::ops::Range;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::server::looks_like_host_port;
use super::{count, duration, refuse, size};
use crate::ctx::Ctx;
use crate::diag::Diagnostic;
use crate::spec::{CacheSpec, QuerySpec, RemoteSpec, Scalar};

/// Where a checked cache keeps its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// In process, with a TTL.
    Ttl,
    /// In process, never expiring (`static: true`).
    Static,
    /// Redis.
    Redis(Remote),
    /// Memcached.
    Memcached(Remote),
}

/// A checked remote backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remote {
    /// `url`/`addr` as written.
    pub(crate) template: String,
    /// Its value at build time.
    pub(crate) value: String,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
}

/// A checked `jitter:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    Duration(Duration),
    /// 1 to 99.
    Percent(u8),
}

/// A checked `key.query` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Query {
    All,
    None,
    /// Distinct parameter names, in order.
    Only(Vec<String>),
}

/// A checked cache declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cache {
    pub(crate) kind: Kind,
    /// `None` for a static cache.
    pub(crate) ttl: Option<Duration>,
    pub(crate) stale_while_revalidate: Option<Duration>,
    pub(crate) jitter: Option<Jitter>,
    pub(crate) max_entries: Option<u64>,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) query: Query,
    /// Lower-case, distinct header names.
    pub(crate) vary: Vec<String>,
    /// Distinct cacheable statuses.
    pub(crate) statuses: Vec<u16>,
    /// `None`: off.
    pub(crate) header: Option<String>,
}

/// Checks a cache's name: letters, digits, `_`, `-`, not `off`/`none`, and not declared
/// before (`first_line`: the line of an earlier declaration of the same name).
pub(crate) fn name(
    cx: &mut Ctx<'_, '_>,
    name: &Spanned<String>,
    first_line: Option<usize>,
) -> bool {
    super::declared_name(cx, "cache", name, first_line)
}

/// `cache: NAME` or `cache: off` on a route or group: `Some(None)` for off.
///
/// `declared` are the caches declared without errors (the result indexes them), `bad` the
/// ones declared with errors (already reported, so references to them are not).
pub(crate) fn cache_ref(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    declared: &[&str],
    bad: &[String],
) -> Option<Option<usize>> {
    // `cache: ${APP_CACHE:-hot}` lets a build choose (or turn off) a route's cache.
    super::declared_ref(cx, f, v, ("cache", "{ ttl: 1s }"), declared, bad)
}

/// Checks the cache `name` (declared at `name_span`): `None` if it has errors (reported).
pub(crate) fn cache(
    cx: &mut Ctx<'_, '_>,
    name: &str,
    name_span: Range<usize>,
    s: &CacheSpec,
) -> Option<Cache> {
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
        Kind::Redis(remote(cx, r, "redis")?)
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
        Kind::Memcached(remote(cx, m, "memcached")?)
    } else if fixed {
        Kind::Static
    } else {
        Kind::Ttl
    };
    let remote = matches!(kind, Kind::Redis(_) | Kind::Memcached(_));
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
    if kind == Kind::Static {
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
        Some(v) if kind != Kind::Static => duration(cx, 0, v, true).flatten(),
        _ => None,
    };
    let jitter = match &s.jitter {
        Some(v) if kind != Kind::Static => jitter(cx, v, ttl),
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
    let mut query = Query::All;
    let mut vary = Vec::new();
    if let Some(k) = &s.key {
        if let Some(q) = &k.value.query {
            query = match &q.value {
                QuerySpec::Word(w) if w == "all" => Query::All,
                QuerySpec::Word(w) if w == "none" => Query::None,
                QuerySpec::Word(w) => {
                    let span = cx.span(0, q);
                    let d = Diagnostic::new(format!("unknown query rule `{w}`"))
                        .at(span, "expected `all`, `none` or a list of parameter names")
                        .help(format!("to keep only this parameter, write `query: [{w}]`"));
                    cx.error(0, d);
                    Query::All
                }
                QuerySpec::Only(list) if list.is_empty() => {
                    let span = cx.span(0, q);
                    let d = Diagnostic::new("an empty query allow-list")
                        .at(span, "no parameter would enter the key")
                        .help("write `query: none` to leave the query out of the key");
                    cx.error(0, d);
                    Query::All
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
                    Query::Only(names)
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
    Some(Cache {
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
    })
}

/// Checks `jitter:` (a duration shorter than `ttl`, or 1% to 99%).
fn jitter(cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>, ttl: Option<Duration>) -> Option<Jitter> {
    let text = cx.scalar(0, v)?;
    let span = cx.span(0, v);
    if let Some(p) = text.strip_suffix('%') {
        return match p.trim().parse::<u8>() {
            Ok(n) if (1..=99).contains(&n) => Some(Jitter::Percent(n)),
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
    Some(Jitter::Duration(d))
}

/// Checks `redis:` or `memcached:` (`which`).
pub(crate) fn remote(cx: &mut Ctx<'_, '_>, r: &Spanned<RemoteSpec>, which: &str) -> Option<Remote> {
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
    // scale (issue 18): without its own `url`, a Redis backend uses the top-level `redis:`.
    if given.is_none()
        && which == "redis"
        && let Some(top) = cx.redis.clone()
    {
        let prefix = match &r.value.prefix {
            Some(p) => cx.text(0, p)?,
            None => String::new(),
        };
        let timeout = match &r.value.timeout {
            Some(t) => duration(cx, 0, t, false).flatten()?,
            None => top.timeout,
        };
        return Some(Remote {
            template: top.template,
            value: top.value,
            prefix,
            timeout,
        });
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
            .help(format!("add `{example}` (or a top-level `redis:`)"));
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
    Some(Remote {
        template: t.value.clone(),
        value,
        prefix,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::check_table;

    /// A spec, and the `LINE:COL` and part of the message of the one error it must get
    /// (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        // Names.
        ("caches:\n  hot-1_a: { ttl: 1s }\n", "", ""),
        (
            "caches:\n  off: { ttl: 1s }\n",
            "2:3",
            "invalid cache name `off`",
        ),
        (
            "caches:\n  'a b': { ttl: 1s }\n",
            "2:3",
            "invalid cache name `a b`",
        ),
        (
            "caches:\n  c: { ttl: 1s }\n  c: { ttl: 2s }\n",
            "3:3",
            "cache `c` is declared twice (first on line 2)",
        ),
        // Kinds and TTLs.
        ("caches:\n  c: { static: true }\n", "", ""),
        (
            "caches:\n  c: { ttl: 1s, static: maybe }\n",
            "2:25",
            "`static` must be `true` or `false`",
        ),
        ("caches:\n  c: {}\n", "2:3", "cache `c` needs a `ttl`"),
        ("caches:\n  c: { ttl: 0s }\n", "2:13", "`0s` is zero"),
        (
            "caches:\n  c: { static: true, stale_while_revalidate: 1s }\n",
            "2:22",
            "`stale_while_revalidate` makes no sense here",
        ),
        (
            "caches:\n  c: { ttl: 1s, redis: { url: 'redis://h:1' }, memcached: { addr: 'h:1' } }\n",
            "2:48",
            "cache `c` has two backends",
        ),
        (
            "caches:\n  c: { ttl: 1s, static: true, redis: { url: 'redis://h:1' } }\n",
            "2:17",
            "`static` makes no sense here",
        ),
        (
            "caches:\n  c: { ttl: 1s, max_entries: 10, redis: { url: 'redis://h:1' } }\n",
            "2:17",
            "`max_entries` makes no sense here",
        ),
        (
            "caches:\n  c: { ttl: 1s, max_entries: 0 }\n",
            "2:30",
            "invalid count `0`",
        ),
        (
            "caches:\n  c: { ttl: 1s, max_bytes: 10 }\n",
            "2:28",
            "`10` is out of range",
        ),
        // Jitter.
        ("caches:\n  c: { ttl: 1s, jitter: 10% }\n", "", ""),
        ("caches:\n  c: { ttl: 1s, jitter: 100ms }\n", "", ""),
        (
            "caches:\n  c: { ttl: 1s, jitter: 100% }\n",
            "2:25",
            "`100%` is not a jitter percentage",
        ),
        (
            "caches:\n  c: { ttl: 1s, jitter: 2s }\n",
            "2:25",
            "jitter `2s` is not shorter than the TTL",
        ),
        // Remote backends.
        (
            "caches:\n  c: { ttl: 1s, memcached: { addr: '127.0.0.1:11211', prefix: p, timeout: 50ms } }\n",
            "",
            "",
        ),
        (
            "caches:\n  c: { ttl: 1s, redis: { addr: 'h:1' } }\n",
            "2:26",
            "`redis` takes `url`, not `addr`",
        ),
        (
            "caches:\n  c: { ttl: 1s, redis: {} }\n",
            "2:17",
            "`redis` needs `url`",
        ),
        (
            "caches:\n  c: { ttl: 1s, redis: { url: 'http://h' } }\n",
            "2:31",
            "`http://h` is not a redis address",
        ),
        (
            "caches:\n  c: { ttl: 1s, memcached: { addr: nowhere } }\n",
            "2:36",
            "`nowhere` is not a memcached address",
        ),
        // Keys.
        (
            "caches:\n  c: { ttl: 1s, key: { query: [a, b], vary: [Accept] } }\n",
            "",
            "",
        ),
        (
            "caches:\n  c: { ttl: 1s, key: { query: some } }\n",
            "2:31",
            "unknown query rule `some`",
        ),
        (
            "caches:\n  c: { ttl: 1s, key: { query: [] } }\n",
            "2:31",
            "an empty query allow-list",
        ),
        (
            "caches:\n  c: { ttl: 1s, key: { query: [a, a] } }\n",
            "2:35",
            "query parameter `a` is listed twice",
        ),
        (
            "caches:\n  c: { ttl: 1s, key: { query: ['a=b'] } }\n",
            "2:32",
            "query parameter `a=b` is not a query parameter name",
        ),
        (
            "caches:\n  c: { ttl: 1s, key: { vary: [Accept, accept] } }\n",
            "2:39",
            "`accept` is listed twice",
        ),
        (
            "caches:\n  c: { ttl: 1s, key: { vary: ['a b'] } }\n",
            "2:31",
            "`a b` is not a header name",
        ),
        // Statuses and the status header.
        (
            "caches:\n  c: { ttl: 1s, statuses: [200, 404], header: off }\n",
            "",
            "",
        ),
        (
            "caches:\n  c: { ttl: 1s, statuses: [] }\n",
            "2:27",
            "`statuses` is empty",
        ),
        (
            "caches:\n  c: { ttl: 1s, statuses: [204] }\n",
            "2:28",
            "`204` is not a status that can be cached",
        ),
        (
            "caches:\n  c: { ttl: 1s, header: Date }\n",
            "2:25",
            "`Date` cannot be the cache status header",
        ),
        // References.
        (
            "caches:\n  hot: { ttl: 1s }\nroutes:\n  GET /a: { handler: h, cache: hit }\n",
            "4:32",
            "unknown cache `hit`",
        ),
        (
            "caches:\n  hot: { ttl: 1s }\nroutes:\n  GET /a: { handler: h, cache: off }\n",
            "",
            "",
        ),
        (
            "caches:\n  bad: { ttl: 0s }\nroutes:\n  GET /a: { handler: h, cache: bad }\n",
            "2:15",
            "`0s` is zero",
        ),
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }
}
