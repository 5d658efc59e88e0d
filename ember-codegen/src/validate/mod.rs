//! Rules that check spec values and turn them into plain checked values (numbers,
//! durations, flags, and one small value per section), or report located diagnostics.
//! They know the spec and the shared [`Ctx`], never the plan: the plan stage applies them
//! while it resolves the spec, and builds its plan from the checked values.
//!
//! This file holds the value rules every section uses; each section's own rules live in
//! its submodule (`limits`, `server`, `caches`, `routes`, `middleware`), each with a
//! table of cases beside it.

pub(crate) mod ai;
// semantic cache (semcache, issue 14)
pub(crate) mod ai_semantic;
pub(crate) mod caches;
// typed input (issue 15)
pub(crate) mod input;
pub(crate) mod limits;
pub(crate) mod middleware;
// openapi (issue 16, api)
pub(crate) mod openapi;
// observe (obs, issue 16)
pub(crate) mod observe;
pub(crate) mod routes;
pub(crate) mod server;
pub(crate) mod sessions;
// scale (issues 16.3, 18): `redis:` and `probes:`
pub(crate) mod scale;

use std::time::Duration;

use serde_saphyr::Spanned;

use crate::ctx::Ctx;
use crate::diag::Diagnostic;
use crate::spec::Scalar;
use crate::units::{parse_duration, parse_size};

/// A `true`/`false` setting of the main spec (YAML's `on`/`off`/`yes`/`no` too).
pub(crate) fn flag(cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>) -> Option<bool> {
    match cx.scalar(0, v)?.as_str() {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        other => {
            let span = cx.span(0, v);
            let d = Diagnostic::new(format!("`{other}` is not a boolean"))
                .at(span, "expected `true` or `false`");
            cx.error(0, d);
            None
        }
    }
}

/// Checks the name of a declared `what` (a cache, a session): letters, digits, `_`, `-`,
/// not `off`/`none` (which mean "none" where a route refers to one), and not declared
/// before (`first_line`: the line of an earlier declaration of the same name).
pub(crate) fn declared_name(
    cx: &mut Ctx<'_, '_>,
    what: &str,
    name: &Spanned<String>,
    first_line: Option<usize>,
) -> bool {
    let span = cx.span(0, name);
    let n = name.value.as_str();
    let ok = !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && n != "off"
        && n != "none";
    if !ok {
        let d = Diagnostic::new(format!("invalid {what} name `{n}`")).at(
            span,
            "use letters, digits, `_` and `-` (not `off` or `none`)",
        );
        cx.error(0, d);
        return false;
    }
    if let Some(first) = first_line {
        let d = Diagnostic::new(format!(
            "{what} `{n}` is declared twice (first on line {first})"
        ))
        .at(span, format!("duplicate {what}"));
        cx.error(0, d);
        return false;
    }
    true
}

/// A reference to a declared `what` (`cache: NAME`, `session: NAME`) on a route or group:
/// `Some(None)` for `off`/`none`, else its index in `declared`. `bad` are the ones declared
/// with errors (already reported, so references to them are not); an unknown name is
/// reported with the declared ones, "did you mean", or how to declare it (`example`: a
/// minimal declaration's value).
pub(crate) fn declared_ref(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    (what, example): (&str, &str),
    declared: &[&str],
    bad: &[String],
) -> Option<Option<usize>> {
    let name = cx.scalar(f, v)?;
    let name = name.as_str();
    if name == "off" || name == "none" {
        return Some(None);
    }
    if let Some(i) = declared.iter().position(|&c| c == name) {
        return Some(Some(i));
    }
    if bad.iter().any(|c| c == name) {
        return None;
    }
    let span = cx.span(f, v);
    let mut d = Diagnostic::new(format!("unknown {what} `{name}`")).at(
        span,
        if declared.is_empty() {
            format!("no `{what}s:` are declared")
        } else {
            format!("declared {what}s: {}", declared.join(", "))
        },
    );
    d = match crate::diag::did_you_mean(name, declared) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!(
            "declare it under `{what}s:`, e.g. `{name}: {example}`, or write `{what}: off`"
        )),
    };
    cx.error(f, d);
    None
}

/// A duration value; `off` (where allowed) is `Some(None)`.
pub(crate) fn duration(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    allow_off: bool,
) -> Option<Option<Duration>> {
    let text = cx.scalar(f, v)?;
    if allow_off && (text == "off" || text == "none") {
        return Some(None);
    }
    match parse_duration(&text) {
        Ok(d) if d.is_zero() => {
            let span = cx.span(f, v);
            let hint = if allow_off {
                "use `off` for no limit"
            } else {
                "use a positive duration"
            };
            cx.error(
                f,
                Diagnostic::new(format!("`{text}` is zero")).at(span, hint),
            );
            None
        }
        Ok(d) => Some(Some(d)),
        Err(e) => {
            let span = cx.span(f, v);
            cx.error(
                f,
                Diagnostic::new(e).at(span, "expected a duration like `30s` or `500ms`"),
            );
            None
        }
    }
}

/// A size value within `range`.
pub(crate) fn size(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    range: std::ops::RangeInclusive<u64>,
) -> Option<u64> {
    let text = cx.scalar(f, v)?;
    let span = cx.span(f, v);
    match parse_size(&text) {
        Ok(n) if range.contains(&n) => Some(n),
        Ok(_) => {
            let d = Diagnostic::new(format!("`{text}` is out of range")).at(
                span,
                format!("expected {} to {} bytes", range.start(), range.end()),
            );
            cx.error(f, d);
            None
        }
        Err(e) => {
            cx.error(
                f,
                Diagnostic::new(e).at(span, "expected a size like `16KiB` or `1MiB`"),
            );
            None
        }
    }
}

/// A plain count within `range`.
pub(crate) fn count(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    range: std::ops::RangeInclusive<u64>,
) -> Option<u64> {
    let text = cx.scalar(f, v)?;
    match text.parse::<u64>() {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            let span = cx.span(f, v);
            let d = Diagnostic::new(format!("invalid count `{text}`")).at(
                span,
                format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            );
            cx.error(f, d);
            None
        }
    }
}

/// Reports an option that makes no sense for this kind of cache.
pub(crate) fn refuse<T>(
    cx: &mut Ctx<'_, '_>,
    v: &Option<Spanned<T>>,
    key: &str,
    why: &str,
    help: &str,
) -> bool {
    match v {
        Some(v) => {
            let span = cx.key_span(0, v, key);
            let d = Diagnostic::new(format!("`{key}` makes no sense here: {why}"))
                .at(span, "remove this")
                .help(help.to_owned());
            cx.error(0, d);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    /// `LINE:COL: message` of each error the spec gets (through the whole pipeline: the
    /// rules are applied by the plan stage).
    pub(crate) fn errors(yaml: &str) -> Vec<String> {
        let result = crate::compile(
            yaml,
            "t.yaml",
            &mut |p| Err(std::io::Error::other(format!("{} not found", p.display()))),
            &|k| (k == "SET").then(|| "value".to_owned()),
        );
        match result {
            Ok(_) => Vec::new(),
            Err(d) => d
                .items()
                .iter()
                .zip(d.locations())
                .map(|(i, l)| format!("{}: {}", l.trim_start_matches("t.yaml:"), i.message))
                .collect(),
        }
    }

    /// Each rule: a spec, and the `LINE:COL` and part of the message of the one error it
    /// must get (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        // Values: durations, sizes, counts, flags.
        ("server:\n  limits:\n    header_read_timeout: 5s\n", "", ""),
        (
            "server:\n  limits:\n    header_read_timeout: 5 fortnights\n",
            "3:26",
            "unknown duration unit",
        ),
        (
            "server:\n  limits:\n    max_body_size: 10 parsecs\n",
            "3:20",
            "unknown size unit",
        ),
        ("server:\n  limits:\n    max_body_size: 1MiB\n", "", ""),
        (
            "server:\n  workers: many\n",
            "2:12",
            "invalid worker count `many`",
        ),
        ("server:\n  workers: 4\n", "", ""),
        ("server:\n  backend: fast\n", "2:12", "backend"),
        (
            "server:\n  listen: nowhere\n",
            "2:11",
            "is not a `host:port` address",
        ),
        ("server:\n  listen: 127.0.0.1:8080\n", "", ""),
        ("server:\n  listen: localhost:8080\n", "", ""),
        // Environment interpolation.
        ("server:\n  listen: ${UNSET_VAR}\n", "2:11", "UNSET_VAR"),
        ("server:\n  listen: ${UNSET_VAR:-127.0.0.1:1}\n", "", ""),
        // Routes.
        ("routes:\n  GET /a: h\n  GET /a: g\n", "3:3", "GET /a"),
        ("routes:\n  FETCH /a: h\n", "2:3", "FETCH"),
        (
            "routes:\n  GET /a/{id:float}: h\n",
            "2:10",
            "unknown parameter type `float`",
        ),
        ("routes:\n  GET /a/{id:u64}: h\n", "", ""),
        (
            "routes:\n  GET /a: 'not a path!'\n",
            "2:11",
            "not a Rust path",
        ),
        ("handlers: 'no way'\n", "1:11", "is not a Rust module path"),
        // Groups.
        (
            "groups:\n  - prefix: /v1/\n    routes:\n      GET /a: h\n",
            "2:13",
            "must not end with `/`",
        ),
        (
            "groups:\n  - prefix: /v1\n    routes:\n      GET /a: h\n",
            "",
            "",
        ),
        // Caches.
        (
            "caches:\n  c: { ttl: 1s }\nroutes:\n  POST /a: { handler: h, cache: c }\n",
            "4:33",
            "cannot be cached",
        ),
        (
            "routes:\n  GET /a: { handler: h, cache: nope }\n",
            "2:32",
            "unknown cache `nope`",
        ),
        ("caches:\n  c: { static: true, ttl: 1s }\n", "2:", "ttl"),
        // Middleware.
        (
            "middleware:\n  - teleport: {}\n",
            "2:5",
            "unknown middleware `teleport`",
        ),
        (
            "middleware:\n  - cors: { allow_origins: '*', max_agee: 5 }\n",
            "2:33",
            "unknown option `max_agee`",
        ),
        (
            "middleware:\n  - rate_limit: { rate: 5/fortnight }\n",
            "2:25",
            "invalid rate",
        ),
        ("middleware:\n  - rate_limit: { rate: 5/s }\n", "", ""),
        (
            "routes:\n  GET /a:\n    handler: h\n    middleware:\n      - skip: cors\n",
            "5:15",
            "no inherited middleware is named `cors`",
        ),
        // Includes.
        ("include: other.yaml\n", "1:10", "cannot read included file"),
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }

    /// Checks each case of a rule table: a spec, and the `LINE:COL` and part of the
    /// message of the one error it must get (`""` = valid); reports every mismatch.
    pub(crate) fn check_table(cases: &[(&str, &str, &str)]) {
        let mut failures = Vec::new();
        for &(yaml, at, message) in cases {
            let got = errors(yaml);
            let ok = match (at, got.as_slice()) {
                ("", []) => true,
                ("", _) => false,
                (at, [one]) => one.starts_with(at) && one.contains(message),
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{yaml:?}\n  want: {}\n  got:  {got:?}",
                    if at.is_empty() {
                        "no error".to_owned()
                    } else {
                        format!("{at}: …{message}…")
                    }
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
