//! Rules of the top-level `redis:` (the connection Redis-backed features share) and of
//! `probes:` (scale, issues 16.3 and 18).

use std::ops::Range;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::{count, duration, flag};
use crate::ctx::{Ctx, TopRedis};
use crate::diag::Diagnostic;
use crate::path::{Segment, parse_path};
use crate::spec::scale::{ProbesSpec, RedisSpec};

/// Whether `v` is a Redis URL the runtime opens.
fn redis_url(v: &str) -> bool {
    ["redis://", "rediss://", "unix://", "redis+unix://"]
        .iter()
        .any(|p| v.starts_with(p) && v.len() > p.len())
}

/// Checks `redis:`; `None` if it has errors (reported).
pub(crate) fn redis(cx: &mut Ctx<'_, '_>, r: &Spanned<RedisSpec>) -> Option<TopRedis> {
    let s = &r.value;
    let (template, value) = match (&s.url, &s.nodes) {
        (Some(_), Some(n)) => {
            let span = cx.key_span(0, n, "nodes");
            let d = Diagnostic::new("`redis` takes `url` or `nodes`, not both")
                .at(span, "`url` is set too")
                .help("`url` names one server, `nodes` a Redis Cluster's seed nodes");
            cx.error(0, d);
            return None;
        }
        (None, None) => {
            let span = cx.key_span(0, r, "redis");
            let d = Diagnostic::new("`redis` needs `url` or `nodes`")
                .at(span, "here")
                .help("add `url: \"${REDIS_URL:-redis://127.0.0.1:6379}\"`");
            cx.error(0, d);
            return None;
        }
        (Some(u), None) => {
            let value = cx.text(0, u)?;
            if !redis_url(&value) {
                let span = cx.span(0, u);
                let d = Diagnostic::new(format!("`{value}` is not a redis address")).at(
                    span,
                    "expected `redis://host:port` (or `rediss://`, `unix://`)",
                );
                cx.error(0, d);
                return None;
            }
            (u.value.clone(), value)
        }
        (None, Some(nodes)) => {
            if nodes.value.is_empty() {
                let span = cx.span(0, nodes);
                let d = Diagnostic::new("`nodes` is empty")
                    .at(span, "list the cluster's seed nodes")
                    .help("write `nodes: [\"redis://10.0.0.1:7000\", \"redis://10.0.0.2:7000\"]`");
                cx.error(0, d);
                return None;
            }
            let (mut templates, mut values) = (Vec::new(), Vec::new());
            for n in &nodes.value {
                let value = cx.text(0, n)?;
                // A variable may hold several nodes, separated by commas.
                let bad = value
                    .split(',')
                    .map(str::trim)
                    .find(|part| !redis_url(part));
                if let Some(bad) = bad {
                    let span = cx.span(0, n);
                    let d = Diagnostic::new(format!("`{bad}` is not a redis address"))
                        .at(span, "expected `redis://host:port` (or `rediss://`)");
                    cx.error(0, d);
                    return None;
                }
                templates.push(n.value.clone());
                values.push(value);
            }
            (
                format!("cluster:{}", templates.join(",")),
                format!("cluster:{}", values.join(",")),
            )
        }
    };
    let timeout = match &s.timeout {
        Some(t) => duration(cx, 0, t, false).flatten()?,
        None => Duration::from_millis(100),
    };
    let pool_size = match &s.pool_size {
        Some(p) => count(cx, 0, p, 1..=64)?,
        None => 1,
    };
    let required = match &s.required {
        Some(f) => flag(cx, f)?,
        None => false,
    };
    Some(TopRedis {
        template,
        value,
        timeout,
        pool_size,
        required,
    })
}

/// Checks one probe path (`which`: `livez` or `readyz`): a path without parameters.
pub(crate) fn probe_path(
    cx: &mut Ctx<'_, '_>,
    p: &Spanned<String>,
    which: &str,
) -> Option<(String, Vec<Segment>)> {
    let text = cx.text(0, p)?;
    let segments = match parse_path(&text) {
        Ok(s) if s.iter().all(|s| matches!(s, Segment::Static(_))) && text.starts_with('/') => s,
        Ok(_) => {
            let span = cx.span(0, p);
            let d = Diagnostic::new(format!("`{which}` takes a fixed path"))
                .at(span, "no parameters here")
                .help(format!("write `{which}: /{which}`"));
            cx.error(0, d);
            return None;
        }
        Err(e) => {
            let span = cx.span(0, p);
            let d = Diagnostic::new(format!("`{text}` is not a path: {}", e.message))
                .at(span, "expected a path like `/readyz`");
            cx.error(0, d);
            return None;
        }
    };
    Some((text, segments))
}

/// A probe route to generate: which probe, its path and segments, and where it is
/// written (the `probes:` mapping for a default path).
pub(crate) type Probe = (&'static str, String, Vec<Segment>, Range<usize>);

/// The probe paths `probes:` asks for (absent keys take their default path).
pub(crate) fn probes(cx: &mut Ctx<'_, '_>, p: &Spanned<ProbesSpec>) -> Vec<Probe> {
    let mut out = Vec::new();
    for (which, given) in [("livez", &p.value.livez), ("readyz", &p.value.readyz)] {
        let found = match given {
            Some(path) => {
                let span = cx.span(0, path);
                probe_path(cx, path, which).map(|(t, s)| (t, s, span))
            }
            None => {
                let text = format!("/{which}");
                let span = cx.span(0, p);
                parse_path(&text).ok().map(|s| (text, s, span))
            }
        };
        if let Some((text, segs, span)) = found {
            out.push((which, text, segs, span));
        }
    }
    out
}
