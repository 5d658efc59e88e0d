//! Each middleware kind's options, checked into a small value the plan stage turns into
//! its plan.

use std::net::IpAddr;
use std::ops::Range;

use super::{Opts, parse_rate};
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::routes::METHODS;
use crate::units::parse_duration;

/// Checked `cors` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Cors {
    /// `allow_origins: "*"`.
    pub(crate) any: bool,
    /// Exact origins, lower-case.
    pub(crate) exact: Vec<String>,
    /// `.example.com` for `*.example.com`.
    pub(crate) suffixes: Vec<String>,
    /// Allowed methods, joined.
    pub(crate) methods: String,
    /// Allowed request headers, joined, lower-case.
    pub(crate) headers: String,
    pub(crate) credentials: bool,
    /// Seconds.
    pub(crate) max_age: Option<u64>,
    /// `expose_headers`, joined.
    pub(crate) expose: String,
}

/// Checked `bearer` / `api_key` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Auth {
    pub(crate) api_key: bool,
    /// `api_key`: the header carrying the key (lower-case).
    pub(crate) header: Option<String>,
    /// `api_key`: the query parameter carrying the key.
    pub(crate) query: String,
    pub(crate) env: Option<String>,
    pub(crate) file: Option<String>,
    /// A full Rust path.
    pub(crate) verify: Option<String>,
    pub(crate) realm: String,
}

/// What a checked rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RateKey {
    /// With the trusted proxies.
    ClientIp(Vec<IpAddr>),
    Global,
    Identity,
    /// Lower-case header name.
    Header(String),
}

/// Checked `rate_limit` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) count: u64,
    pub(crate) per_secs: u64,
    pub(crate) burst: u32,
    pub(crate) key: RateKey,
    /// `Some(url)` for the Redis store.
    pub(crate) redis: Option<String>,
    pub(crate) prefix: String,
    pub(crate) max_keys: u64,
    pub(crate) timeout_ms: Option<u64>,
}

/// Checked `hook` functions (full Rust paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hook {
    pub(crate) before: Option<String>,
    pub(crate) extend: Option<String>,
    pub(crate) after: Option<String>,
}

/// Checks `cors` options (`at`: the kind's span, for what is missing).
pub(crate) fn cors(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>) -> Option<Cors> {
    let mut p = Cors::default();
    let mut ok = true;
    let origins_span = o.get("allow_origins").map(|(_, s)| s);
    match o.list("allow_origins") {
        None => {
            o.err(at, "`cors` needs `allow_origins`", "no origins given");
            return None;
        }
        Some(list) => {
            for (origin, span) in list {
                if origin == "*" {
                    p.any = true;
                } else if let Some(rest) = origin.strip_prefix("*.") {
                    if rest.is_empty() || rest.contains(['/', '*', ':']) {
                        o.err(
                            span,
                            format!("`{origin}` is not a valid origin pattern"),
                            "expected `*.example.com`",
                        );
                        ok = false;
                    } else {
                        p.suffixes.push(format!(".{}", rest.to_ascii_lowercase()));
                    }
                } else {
                    let valid = match origin.split_once("://") {
                        Some((scheme, host)) => {
                            !scheme.is_empty()
                                && !host.is_empty()
                                && !host.contains(['/', '*', '?', '#'])
                        }
                        None => false,
                    };
                    if !valid {
                        let trimmed = origin.trim_end_matches('/');
                        let help = if trimmed != origin && trimmed.contains("://") {
                            format!("did you mean `{trimmed}`? (an origin has no path)")
                        } else {
                            "an origin is `scheme://host[:port]`, or `*.example.com`, or `*`"
                                .to_owned()
                        };
                        o.err_help(span, format!("`{origin}` is not an origin"), "here", help);
                        ok = false;
                    } else {
                        p.exact.push(origin.to_ascii_lowercase());
                    }
                }
            }
            if p.any && (!p.exact.is_empty() || !p.suffixes.is_empty()) {
                if let Some(s) = origins_span.clone() {
                    o.err(s, "`*` allows every origin: list no others with it", "here");
                }
                ok = false;
            }
        }
    }
    let methods = match o.list("allow_methods") {
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for (m, span) in list {
                let up = m.to_ascii_uppercase();
                if METHODS.contains(&up.as_str()) && up != "ANY" {
                    out.push(up);
                } else {
                    let mut d = Diagnostic::new(format!("unknown method `{m}`"))
                        .at(span, "in `allow_methods`");
                    if let Some(s) = did_you_mean(&up, METHODS) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    o.cx.error(o.f, d);
                    ok = false;
                }
            }
            out
        }
        None => ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    p.methods = methods.join(", ");
    if let Some(list) = o.list("allow_headers") {
        p.headers = list
            .iter()
            .map(|(h, _)| h.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(", ");
    }
    if let Some(list) = o.list("expose_headers") {
        p.expose = list
            .iter()
            .map(|(h, _)| h.clone())
            .collect::<Vec<_>>()
            .join(", ");
    }
    p.credentials = o.boolean("allow_credentials").unwrap_or(false);
    if p.credentials {
        if p.any {
            let span = o
                .get("allow_credentials")
                .map(|(_, s)| s)
                .unwrap_or(at.clone());
            o.err_help(
                span,
                "`allow_origins: \"*\"` with `allow_credentials: true` would let any site make credentialed requests".to_owned(),
                "credentials with every origin",
                "list the origins that may send credentials".to_owned(),
            );
            ok = false;
        }
        if p.headers == "*" {
            let span = o.get("allow_headers").map(|(_, s)| s).unwrap_or(at.clone());
            o.err_help(
                span,
                "`allow_headers: \"*\"` is not honoured by browsers with credentials".to_owned(),
                "here",
                "list the headers".to_owned(),
            );
            ok = false;
        }
    }
    if let Some(text) = o.text("max_age") {
        let span = o
            .get("max_age")
            .map(|(v, _)| o.cx.span(o.f, v))
            .unwrap_or(at);
        match text
            .parse::<u64>()
            .ok()
            .or_else(|| parse_duration(&text).ok().map(|d| d.as_secs()))
        {
            Some(s) => p.max_age = Some(s),
            None => {
                o.err(
                    span,
                    format!("invalid max_age `{text}`"),
                    "expected seconds or a duration like `10m`",
                );
                ok = false;
            }
        }
    }
    ok.then_some(p)
}

/// Checks `bearer` (or, with `api_key`, `api_key`) options.
pub(crate) fn auth(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>, api_key: bool) -> Option<Auth> {
    let (env_key, file_key) = if api_key {
        ("keys_env", "keys_file")
    } else {
        ("tokens_env", "tokens_file")
    };
    let mut p = Auth {
        api_key,
        env: o.text(env_key),
        file: o.text(file_key),
        verify: o.rust_path("verify"),
        realm: o.text("realm").unwrap_or_else(|| "api".to_owned()),
        ..Auth::default()
    };
    let mut ok = true;
    if p.realm.contains(['"', '\\']) {
        let span = o.get("realm").map(|(_, s)| s).unwrap_or(at.clone());
        o.err(span, "a realm may not contain `\"` or `\\`", "here");
        ok = false;
    }
    let has_secrets = p.env.is_some() || p.file.is_some();
    if p.verify.is_some() && has_secrets {
        let span = o.get("verify").map(|(_, s)| s).unwrap_or(at.clone());
        o.err_help(
            span,
            format!("`verify` replaces `{env_key}`/`{file_key}`: give one or the other"),
            "here",
            "remove one".to_owned(),
        );
        ok = false;
    } else if p.verify.is_none() && !has_secrets && o.get("verify").is_none() {
        o.err_help(
            at.clone(),
            "no secrets: nothing could ever be accepted".to_owned(),
            "here",
            format!("add `{env_key}: NAME`, `{file_key}: path` or `verify: function`"),
        );
        ok = false;
    }
    if api_key {
        let header = o.text("header");
        let query = o.text("query");
        if header.is_some() && query.is_some() {
            let span = o.get("query").map(|(_, s)| s).unwrap_or(at);
            o.err(span, "give `header` or `query`, not both", "here");
            ok = false;
        }
        match (header, query) {
            (_, Some(q)) => p.query = q,
            (h, None) => {
                p.header = Some(
                    h.unwrap_or_else(|| "x-api-key".to_owned())
                        .to_ascii_lowercase(),
                )
            }
        }
    }
    ok.then_some(p)
}

/// Checks `rate_limit` options; `name` is the entry's name (the default key prefix).
pub(crate) fn rate(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>, name: &str) -> Option<Rate> {
    let mut ok = true;
    let Some(rate_text) = o.text("rate") else {
        o.err_help(
            at,
            "`rate_limit` needs `rate`".to_owned(),
            "no rate given",
            "e.g. `rate: 100/s`".to_owned(),
        );
        return None;
    };
    let rate_span = o
        .get("rate")
        .map(|(v, _)| o.cx.span(o.f, v))
        .unwrap_or(at.clone());
    let (count, per_secs) = match parse_rate(&rate_text) {
        Some(r) => r,
        None => {
            o.err_help(
                rate_span,
                format!("invalid rate `{rate_text}`"),
                "here",
                "write `N/s`, `N/min`, `N/h` or `N/day` with N > 0".to_owned(),
            );
            ok = false;
            (1, 1)
        }
    };
    let burst = match o.text("burst") {
        Some(b) => match b.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                let span = o
                    .get("burst")
                    .map(|(v, _)| o.cx.span(o.f, v))
                    .unwrap_or(at.clone());
                o.err(
                    span,
                    format!("invalid burst `{b}`"),
                    "expected a whole number from 1",
                );
                ok = false;
                1
            }
        },
        None => count.clamp(1, u64::from(u32::MAX)) as u32,
    };
    let key_text = o.text("key").unwrap_or_else(|| "client_ip".to_owned());
    let key_span = o
        .get("key")
        .map(|(v, _)| o.cx.span(o.f, v))
        .unwrap_or(at.clone());
    let mut key = match key_text.as_str() {
        "client_ip" => RateKey::ClientIp(Vec::new()),
        "global" => RateKey::Global,
        "identity" => RateKey::Identity,
        other => match other.strip_prefix("header:") {
            Some(h) if !h.trim().is_empty() => RateKey::Header(h.trim().to_ascii_lowercase()),
            _ => {
                let mut d = Diagnostic::new(format!("unknown rate-limit key `{other}`")).at(
                    key_span,
                    "expected `client_ip`, `global`, `identity` or `header:NAME`",
                );
                if let Some(s) = did_you_mean(other, &["client_ip", "global", "identity"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                o.cx.error(o.f, d);
                return None;
            }
        },
    };
    if let Some(list) = o.list("trusted_proxies") {
        match &mut key {
            RateKey::ClientIp(ips) => {
                for (t, span) in list {
                    match t.parse::<IpAddr>() {
                        Ok(ip) => ips.push(ip),
                        Err(_) => {
                            o.err(
                                span,
                                format!("`{t}` is not an IP address"),
                                "expected e.g. `10.0.0.1`",
                            );
                            ok = false;
                        }
                    }
                }
            }
            _ => {
                let span = o
                    .get("trusted_proxies")
                    .map(|(_, s)| s)
                    .unwrap_or(at.clone());
                o.err(
                    span,
                    "`trusted_proxies` only applies to `key: client_ip`",
                    "here",
                );
                ok = false;
            }
        }
    }
    let store = o.text("store").unwrap_or_else(|| "memory".to_owned());
    let redis = match store.as_str() {
        "memory" => None,
        "redis" => Some(match o.text("redis_url") {
            Some(url) => url,
            // scale (issue 18): the top-level `redis:` (read at start-up), else the default.
            None => match &o.cx.redis {
                Some(top) => top.template.clone(),
                None => "redis://127.0.0.1:6379".to_owned(),
            },
        }),
        other => {
            let span = o
                .get("store")
                .map(|(v, _)| o.cx.span(o.f, v))
                .unwrap_or(at.clone());
            let mut d = Diagnostic::new(format!("unknown store `{other}`"))
                .at(span, "expected `memory` or `redis`");
            if let Some(s) = did_you_mean(other, &["memory", "redis"]) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            o.cx.error(o.f, d);
            return None;
        }
    };
    if redis.is_none() && o.get("redis_url").is_some() {
        let span = o.get("redis_url").map(|(_, s)| s).unwrap_or(at.clone());
        o.err(
            span,
            "`redis_url` needs `store: redis`",
            "ignored with the memory store",
        );
        ok = false;
    }
    let timeout_ms = match o.text("timeout") {
        // scale: a limiter on the top-level `redis:` takes its timeout.
        None if redis.is_some() && o.get("redis_url").is_none() => {
            o.cx.redis.as_ref().map(|t| t.timeout.as_millis() as u64)
        }
        None => None,
        Some(t) => {
            let span = o
                .get("timeout")
                .map(|(v, _)| o.cx.span(o.f, v))
                .unwrap_or(at.clone());
            match parse_duration(&t) {
                Ok(d) if d.as_millis() > 0 && redis.is_some() => Some(d.as_millis() as u64),
                Ok(_) if redis.is_none() => {
                    o.err(
                        span,
                        "`timeout` needs `store: redis`",
                        "the memory store never waits",
                    );
                    ok = false;
                    None
                }
                _ => {
                    o.err(
                        span,
                        format!("invalid timeout `{t}`"),
                        "expected a duration like `100ms` (more than zero)",
                    );
                    ok = false;
                    None
                }
            }
        }
    };
    let max_keys = match o.text("max_keys") {
        Some(t) => match t.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                let span = o
                    .get("max_keys")
                    .map(|(v, _)| o.cx.span(o.f, v))
                    .unwrap_or(at);
                o.err(
                    span,
                    format!("invalid max_keys `{t}`"),
                    "expected a whole number from 1",
                );
                ok = false;
                1
            }
        },
        None => 100_000,
    };
    let prefix = o
        .text("prefix")
        .unwrap_or_else(|| format!("ember:rl:{name}"));
    ok.then_some(Rate {
        count,
        per_secs,
        burst,
        key,
        redis,
        prefix,
        max_keys,
        timeout_ms,
    })
}

/// Checks `hook` options: at least one of `before`, `extend` and `after`.
pub(crate) fn hook(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>) -> Option<Hook> {
    let before = o.rust_path("before");
    let extend = o.rust_path("extend");
    let after = o.rust_path("after");
    if ["before", "extend", "after"]
        .iter()
        .all(|k| o.get(k).is_none())
    {
        o.err(
            at,
            "a `hook` needs `before`, `extend` or `after`",
            "nothing to call",
        );
        return None;
    }
    Some(Hook {
        before,
        extend,
        after,
    })
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::check_table;

    /// A spec, and the `LINE:COL` and part of the message of the one error it must get
    /// (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        // Entries and kinds.
        (
            "middleware:\n  - { cors: { allow_origins: '*' }, hook: { after: a } }\n",
            "2:5",
            "one `kind: options` pair",
        ),
        (
            "middleware:\n  - corz: {}\n",
            "2:5",
            "unknown middleware `corz`",
        ),
        (
            "routes:\n  GET /a: { handler: h, middleware: [ { skip: cors } ] }\n",
            "2:47",
            "no inherited middleware is named `cors`",
        ),
        // cors.
        (
            "middleware:\n  - cors: { allow_origins: [https://a.example, '*.b.example'], allow_methods: [get], max_age: 10m }\n",
            "",
            "",
        ),
        (
            "middleware:\n  - cors: {}\n",
            "2:5",
            "`cors` needs `allow_origins`",
        ),
        (
            "middleware:\n  - cors: { allow_origins: [https://a.example/] }\n",
            "2:29",
            "`https://a.example/` is not an origin",
        ),
        (
            "middleware:\n  - cors: { allow_origins: ['*.'] }\n",
            "2:29",
            "`*.` is not a valid origin pattern",
        ),
        (
            "middleware:\n  - cors: { allow_origins: ['*', https://a.example] }\n",
            "2:13",
            "`*` allows every origin",
        ),
        (
            "middleware:\n  - cors: { allow_origins: '*', allow_methods: [FETCH] }\n",
            "2:49",
            "unknown method `FETCH`",
        ),
        (
            "middleware:\n  - cors: { allow_origins: '*', allow_credentials: true }\n",
            "2:33",
            "with `allow_credentials: true`",
        ),
        (
            "middleware:\n  - cors: { allow_origins: '*', max_age: soon }\n",
            "2:42",
            "invalid max_age `soon`",
        ),
        // bearer and api_key.
        (
            "middleware:\n  - bearer: { tokens_env: T, realm: api }\n",
            "",
            "",
        ),
        (
            "middleware:\n  - bearer: {}\n",
            "2:5",
            "no secrets: nothing could ever be accepted",
        ),
        (
            "middleware:\n  - bearer: { tokens_env: T, verify: auth::check }\n",
            "2:30",
            "`verify` replaces `tokens_env`/`tokens_file`",
        ),
        (
            "middleware:\n  - bearer: { verify: 'not a path' }\n",
            "2:23",
            "`not a path` is not a Rust path to a function",
        ),
        (
            "middleware:\n  - bearer: { tokens_env: T, realm: 'a\"b' }\n",
            "2:30",
            "a realm may not contain",
        ),
        (
            "middleware:\n  - api_key: { keys_env: K, header: X-Key, query: key }\n",
            "2:44",
            "give `header` or `query`, not both",
        ),
        // rate_limit.
        (
            "middleware:\n  - rate_limit: { rate: 10/min, burst: 5, key: 'header:X-User', max_keys: 10 }\n",
            "",
            "",
        ),
        (
            "middleware:\n  - rate_limit: {}\n",
            "2:5",
            "`rate_limit` needs `rate`",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 0/s }\n",
            "2:25",
            "invalid rate `0/s`",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 1/s, burst: 0 }\n",
            "2:37",
            "invalid burst `0`",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 1/s, key: clientip }\n",
            "2:35",
            "unknown rate-limit key `clientip`",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 1/s, key: global, trusted_proxies: [10.0.0.1] }\n",
            "2:43",
            "`trusted_proxies` only applies to `key: client_ip`",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 1/s, trusted_proxies: [proxy] }\n",
            "2:48",
            "`proxy` is not an IP address",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 1/s, store: disk }\n",
            "2:37",
            "unknown store `disk`",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 1/s, redis_url: 'redis://h' }\n",
            "2:30",
            "`redis_url` needs `store: redis`",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 1/s, max_keys: none }\n",
            "2:40",
            "invalid max_keys `none`",
        ),
        // hook.
        (
            "middleware:\n  - hook: { before: b, extend: e, after: a }\n",
            "",
            "",
        ),
        (
            "middleware:\n  - hook: { name: h }\n",
            "2:5",
            "a `hook` needs `before`, `extend` or `after`",
        ),
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }
}
