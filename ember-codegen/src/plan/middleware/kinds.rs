//! Each middleware kind's options, checked and resolved into its plan.

use std::ops::Range;

use super::{AuthPlan, CorsPlan, MwKind, RateKeyPlan, RatePlan};
use std::net::IpAddr;

use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::routes::METHODS;
use crate::units::parse_duration;
use crate::validate::middleware::{Opts, parse_rate};

pub(super) fn cors(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>) -> Option<CorsPlan> {
    let mut p = CorsPlan::default();
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

pub(super) fn auth(
    o: &mut Opts<'_, '_, '_, '_>,
    at: Range<usize>,
    api_key: bool,
) -> Option<AuthPlan> {
    let (env_key, file_key) = if api_key {
        ("keys_env", "keys_file")
    } else {
        ("tokens_env", "tokens_file")
    };
    let mut p = AuthPlan {
        api_key,
        env: o.text(env_key),
        file: o.text(file_key),
        verify: o.rust_path("verify"),
        realm: o.text("realm").unwrap_or_else(|| "api".to_owned()),
        ..AuthPlan::default()
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

pub(super) fn rate(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>, name: &str) -> Option<RatePlan> {
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
        "client_ip" => RateKeyPlan::ClientIp(Vec::new()),
        "global" => RateKeyPlan::Global,
        "identity" => RateKeyPlan::Identity,
        other => match other.strip_prefix("header:") {
            Some(h) if !h.trim().is_empty() => RateKeyPlan::Header(h.trim().to_ascii_lowercase()),
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
            RateKeyPlan::ClientIp(ips) => {
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
        "redis" => Some(
            o.text("redis_url")
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
        ),
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
    ok.then_some(RatePlan {
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

pub(super) fn hook(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>) -> Option<MwKind> {
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
    Some(MwKind::Hook {
        before,
        extend,
        after,
    })
}
