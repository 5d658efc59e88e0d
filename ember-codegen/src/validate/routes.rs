//! Rules of `routes:`, `groups:` and `include:`: route keys (`METHOD /path`), group
//! prefixes, parameter names, handler paths, which routes may be cached, what an included
//! file may hold, and conflicts between routes.

use std::ops::Range;
use std::path::Path;

use serde_saphyr::Spanned;

use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::path::{Segment, parse_path};
use crate::spec::routes::{METHODS, MethodSel};
use crate::spec::{Scalar, Spec};

/// A checked route key: `METHOD /path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteKey {
    pub(crate) method: MethodSel,
    /// The path as written (after the method).
    pub(crate) path: String,
    /// The parsed path.
    pub(crate) segments: Vec<Segment>,
}

/// Checks a route key `METHOD /path` in file `f`.
pub(crate) fn route_key(cx: &mut Ctx<'_, '_>, f: usize, key: &Spanned<String>) -> Option<RouteKey> {
    let key_span = cx.span(f, key);
    let key_text_start = cx.text_start(f, key);
    let text = key.value.as_str();
    let Some((method_kw, path)) = text.split_once(char::is_whitespace) else {
        let d = Diagnostic::new(format!("route `{text}` needs a method and a path"))
            .at(key_span, "expected `METHOD /path`, like `GET /users/{id}`");
        cx.error(f, d);
        return None;
    };
    let path = path.trim_start();
    let path_offset = key_text_start + (text.len() - path.len());
    let Some(method) = MethodSel::from_keyword(method_kw) else {
        let mut d = Diagnostic::new(format!("unknown method `{method_kw}`")).at(
            key_text_start..key_text_start + method_kw.len(),
            format!("expected one of {}", METHODS.join(", ")),
        );
        if let Some(s) = did_you_mean(&method_kw.to_ascii_uppercase(), METHODS) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        cx.error(f, d);
        return None;
    };
    match parse_path(path) {
        Ok(segments) => Some(RouteKey {
            method,
            path: path.to_owned(),
            segments,
        }),
        Err(e) => {
            let mut d = Diagnostic::new(format!("invalid route path: {}", e.message)).at(
                path_offset + e.range.start..path_offset + e.range.end.max(e.range.start + 1),
                "here",
            );
            if let Some(h) = e.help {
                d = d.help(h);
            }
            cx.error(f, d);
            None
        }
    }
}

/// A checked group prefix (`prefix: /` is the empty prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupPrefix {
    /// The prefix as written (empty for `/`).
    pub(crate) text: String,
    /// The parsed prefix (no catch-all).
    pub(crate) segments: Vec<Segment>,
}

/// Checks a group's `prefix:` in file `f`.
pub(crate) fn group_prefix(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    prefix: &Spanned<String>,
) -> Option<GroupPrefix> {
    let text = cx.text(f, prefix)?;
    let start = cx.text_start(f, prefix);
    let span = cx.span(f, prefix);
    if text.len() > 1 && text.ends_with('/') {
        let d = Diagnostic::new(format!("group prefix `{text}` must not end with `/`"))
            .at(span, "routes add their own `/`")
            .help(format!("write `{}`", text.trim_end_matches('/')));
        cx.error(f, d);
        return None;
    }
    if text == "/" {
        return Some(GroupPrefix {
            text: String::new(),
            segments: Vec::new(),
        });
    }
    match parse_path(&text) {
        Ok(segments) => {
            if segments
                .iter()
                .any(|s| matches!(s, Segment::CatchAll { .. }))
            {
                let d = Diagnostic::new("a group prefix cannot contain a catch-all")
                    .at(span, "routes could never follow it");
                cx.error(f, d);
                return None;
            }
            Some(GroupPrefix { text, segments })
        }
        Err(e) => {
            let mut d = Diagnostic::new(format!("invalid group prefix: {}", e.message)).at(
                start + e.range.start..start + e.range.end.max(e.range.start + 1),
                "here",
            );
            if let Some(h) = e.help {
                d = d.help(h);
            }
            cx.error(f, d);
            None
        }
    }
}

/// Checks that no parameter name appears twice in a route's full path (its groups'
/// prefixes included); reported at the route key `key_span`.
pub(crate) fn unique_params(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    key_span: Range<usize>,
    full_path: &str,
    segments: &[Segment],
) -> bool {
    let mut names: Vec<&str> = Vec::new();
    for s in segments {
        if let Segment::Param { name, .. } | Segment::CatchAll { name } = s {
            if names.contains(&name.as_str()) {
                let d = Diagnostic::new(format!(
                    "parameter `{name}` appears twice in `{full_path}` (once in a group prefix)"
                ))
                .at(key_span, "rename one of them");
                cx.error(f, d);
                return false;
            }
            names.push(name);
        }
    }
    true
}

/// Whether routes of this method may be cached (GET and ANY; a group's cache applies to
/// those only).
pub(crate) fn cacheable(method: MethodSel) -> bool {
    matches!(method, MethodSel::Get | MethodSel::Any)
}

/// Checks that a route naming a cache (`cache` in file `f`) may be cached.
pub(crate) fn cache_allowed(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    cache: &Spanned<Scalar>,
    method: MethodSel,
    path: &str,
) -> bool {
    if cacheable(method) {
        return true;
    }
    let span = cx.span(f, cache);
    let d = Diagnostic::new(format!(
        "route `{} {}` cannot be cached: only GET (and ANY) routes are",
        method.keyword(),
        path
    ))
    .at(span, "a cache stores GET answers")
    .help("purge the cache from this handler instead (`App::cache(\"…\")`)");
    cx.error(f, d);
    false
}

/// Checks a handler path (at `span` in file `f`) and returns its full Rust path: relative
/// ones are under `handlers_mod`.
pub(crate) fn handler(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    handler: &str,
    span: Range<usize>,
    handlers_mod: &str,
) -> Option<String> {
    let full = if handler.starts_with("crate::") || handler.starts_with("::") {
        handler.to_owned()
    } else {
        format!("{handlers_mod}::{handler}")
    };
    if handler.is_empty() || !crate::code::is_path(&full) {
        let d = Diagnostic::new(format!(
            "`{handler}` is not a Rust path to a handler function"
        ))
        .at(
            span,
            "expected a function path like `hello` or `users::show`",
        );
        cx.error(f, d);
        return None;
    }
    Some(full)
}

/// Checks `handlers:` (the module handler paths are relative to).
pub(crate) fn handlers_module(cx: &mut Ctx<'_, '_>, h: &Spanned<String>) -> bool {
    if crate::code::is_path(&h.value) {
        return true;
    }
    let span = cx.span(0, h);
    let d = Diagnostic::new(format!("`{}` is not a Rust module path", h.value))
        .at(span, "expected something like `crate::handlers`");
    cx.error(0, d);
    false
}

/// A background refresh (`stale_while_revalidate`) runs the handler on a copy of the
/// request that keeps its identity and client address, but not a `hook`'s `extend` value
/// (its type is the application's): such a route is refused rather than refreshed with
/// the value missing. `swr_cache` is the route's cache if it has `stale_while_revalidate`,
/// `extend_hook` its first middleware with an `extend` hook.
pub(crate) fn swr_keeps_context(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    (key_span, route): (Range<usize>, &str),
    swr_cache: Option<&str>,
    extend_hook: Option<&str>,
) -> bool {
    let (Some(cache), Some(hook)) = (swr_cache, extend_hook) else {
        return true;
    };
    let d = Diagnostic::new(format!(
        "route `{route}` is cached by `{cache}` with `stale_while_revalidate`, and its middleware `{hook}` has an `extend` hook"
    ))
    .at(key_span, "a background refresh could not give the handler the hook's value")
    .help(
        "use a cache without `stale_while_revalidate` here, `cache: off`, or `skip` the hook on this route",
    );
    cx.error(f, d);
    false
}

/// Checks that `path` (included from file `f` at `span`) has not been read before.
pub(crate) fn first_include(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    path: &Path,
    span: Range<usize>,
) -> bool {
    if !cx.paths.iter().any(|p| p == path) {
        return true;
    }
    let d = Diagnostic::new(format!(
        "`{}` is included more than once (or includes itself)",
        path.display()
    ))
    .at(span, "included again here");
    cx.error(f, d);
    false
}

/// The text of an included file, or the read error reported at its `include` (`span` in
/// file `f`).
pub(crate) fn included_source(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    path: &Path,
    span: Range<usize>,
    read: std::io::Result<String>,
) -> Option<String> {
    match read {
        Ok(s) => Some(s),
        Err(e) => {
            let d = Diagnostic::new(format!(
                "cannot read included file `{}`: {e}",
                path.display()
            ))
            .at(span, "included here");
            cx.error(f, d);
            None
        }
    }
}

/// Checks that an included file (`idx`) holds only `routes`, `groups` and `include`.
pub(crate) fn included_sections(cx: &mut Ctx<'_, '_>, idx: usize, spec: &Spec) {
    for (name, present) in [
        ("app", spec.app.as_ref().map(|v| cx.key_span(idx, v, "app"))),
        (
            "handlers",
            spec.handlers
                .as_ref()
                .map(|v| cx.key_span(idx, v, "handlers")),
        ),
        (
            "server",
            spec.server.as_ref().map(|v| cx.key_span(idx, v, "server")),
        ),
        (
            "caches",
            spec.caches.as_ref().map(|v| cx.key_span(idx, v, "caches")),
        ),
        (
            "middleware",
            spec.middleware
                .as_ref()
                .map(|v| cx.key_span(idx, v, "middleware")),
        ),
        ("ai", spec.ai.as_ref().map(|v| cx.key_span(idx, v, "ai"))),
    ] {
        if let Some(s) = present {
            let d = Diagnostic::new(format!("`{name}` cannot appear in an included file"))
                .at(s, "only `routes`, `groups` and `include` may")
                .help("move it to the main spec");
            cx.error(idx, d);
        }
    }
}

/// A checked route, as the conflict rule sees it.
pub(crate) struct Declared<'r> {
    pub(crate) method: MethodSel,
    /// The full path as written.
    pub(crate) path: &'r str,
    pub(crate) segments: &'r [Segment],
    /// The index of the file it is declared in, and that file's name.
    pub(crate) file: (usize, &'r str),
    pub(crate) line: usize,
    /// Its key's span.
    pub(crate) span: Range<usize>,
}

/// The shape of a path for conflict checks: parameter names and types do not count.
fn shape(segments: &[Segment]) -> Vec<String> {
    segments
        .iter()
        .map(|s| match s {
            Segment::Static(t) => format!("s:{t}"),
            Segment::Param { .. } => "{}".to_owned(),
            Segment::CatchAll { .. } => "{*}".to_owned(),
        })
        .collect()
}

/// Duplicate routes, and one path shape spelled with different parameter names or types.
pub(crate) fn conflicts(cx: &mut Ctx<'_, '_>, routes: &[Declared<'_>]) {
    let mut found = Vec::new();
    // Group routes by shape once (O(n)), then compare only within a group.
    let mut by_shape: std::collections::HashMap<Vec<String>, Vec<usize>> = Default::default();
    for (i, r) in routes.iter().enumerate() {
        by_shape.entry(shape(r.segments)).or_default().push(i);
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for group in by_shape.values() {
        for (k, &i) in group.iter().enumerate() {
            for &j in &group[..k] {
                pairs.push((i, j));
            }
        }
    }
    pairs.sort_unstable();
    for (i, j) in pairs {
        let (a, b) = (&routes[i], &routes[j]);
        let same_file = a.file.0 == b.file.0;
        let where_b = if same_file {
            format!("line {}", b.line)
        } else {
            format!("{}:{}", b.file.1, b.line)
        };
        let d = if a.method == b.method {
            Diagnostic::new(format!(
                "route `{} {}` is declared twice (first as `{} {}` on {where_b})",
                a.method.keyword(),
                a.path,
                b.method.keyword(),
                b.path
            ))
            .at(a.span.clone(), "duplicate route")
            .help("remove one of them, or give them different methods")
        } else if a.segments != b.segments {
            Diagnostic::new(format!(
                "route `{} {}` conflicts with `{} {}` ({where_b}): the same path shape must use the same parameter names and types",
                a.method.keyword(),
                a.path,
                b.method.keyword(),
                b.path
            ))
            .at(a.span.clone(), "this path")
            .help(format!("spell both as `{}`", b.path))
        } else {
            continue;
        };
        let d = if same_file {
            let label = if a.method == b.method {
                "first declared here"
            } else {
                "conflicts with this one"
            };
            d.also(b.span.clone(), label)
        } else {
            d
        };
        found.push((a.file.0, d));
    }
    for (f, d) in found {
        cx.error(f, d);
    }
}

#[cfg(test)]
mod tests {
    use super::{Path, included_sections};
    use crate::ctx::Ctx;
    use crate::validate::tests::check_table;

    /// A spec, and the `LINE:COL` and part of the message of the one error it must get
    /// (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        // Route keys.
        ("routes:\n  ANY /a/{*rest}: h\n", "", ""),
        (
            "routes:\n  GET: h\n",
            "2:3",
            "route `GET` needs a method and a path",
        ),
        ("routes:\n  get /a: h\n", "2:3", "unknown method `get`"),
        ("routes:\n  GET a: h\n", "2:7", "invalid route path"),
        (
            "routes:\n  'GET /a/{id:u64}/{id}': h\n",
            "2:8",
            "invalid route path",
        ),
        // Group prefixes.
        (
            "groups:\n  - prefix: /\n    routes:\n      GET /a: h\n",
            "",
            "",
        ),
        (
            "groups:\n  - prefix: /f/{*rest}\n    routes:\n      GET /a: h\n",
            "2:13",
            "a group prefix cannot contain a catch-all",
        ),
        (
            "groups:\n  - prefix: v1\n    routes:\n      GET /a: h\n",
            "2:13",
            "invalid group prefix",
        ),
        // Parameters across a prefix and a route.
        (
            "groups:\n  - prefix: /u/{id}\n    routes:\n      GET /p/{id}: h\n",
            "4:7",
            "parameter `id` appears twice in `/u/{id}/p/{id}`",
        ),
        // Handlers.
        (
            "handlers: crate::api\nroutes:\n  GET /a: users::show\n",
            "",
            "",
        ),
        ("routes:\n  GET /a: ::x::y\n", "", ""),
        (
            "routes:\n  GET /a: { handler: '' }\n",
            "2:22",
            "`` is not a Rust path to a handler function",
        ),
        ("handlers: 'crate::'\n", "1:11", "is not a Rust module path"),
        // Which routes may be cached.
        (
            "caches:\n  c: { ttl: 1s }\nroutes:\n  ANY /a: { handler: h, cache: c }\n",
            "",
            "",
        ),
        (
            "caches:\n  c: { ttl: 1s }\nroutes:\n  DELETE /a: { handler: h, cache: c }\n",
            "4:35",
            "route `DELETE /a` cannot be cached",
        ),
        (
            "caches:\n  c: { ttl: 1s }\nroutes:\n  DELETE /a: { handler: h, cache: off }\n",
            "",
            "",
        ),
        (
            "caches:\n  c: { ttl: 1s, stale_while_revalidate: 1s }\n\
             middleware:\n  - hook: { name: t, extend: e }\nroutes:\n  GET /a: { handler: h, cache: c }\n",
            "6:3",
            "route `GET /a` is cached by `c` with `stale_while_revalidate`, and its middleware `t`",
        ),
        (
            "caches:\n  c: { ttl: 1s }\n\
             middleware:\n  - hook: { name: t, extend: e }\nroutes:\n  GET /a: { handler: h, cache: c }\n",
            "",
            "",
        ),
        // Conflicts.
        (
            "routes:\n  GET /a/{id}: h\n  POST /a/{id}: g\n  GET /a/b: k\n",
            "",
            "",
        ),
        (
            "routes:\n  GET /a/{id}: h\n  POST /a/{name}: g\n",
            "3:3",
            "route `POST /a/{name}` conflicts with `GET /a/{id}` (line 2)",
        ),
        (
            "routes:\n  GET /a/{id:u64}: h\n  GET /a/{id}: g\n",
            "3:3",
            "route `GET /a/{id}` is declared twice (first as `GET /a/{id:u64}` on line 2)",
        ),
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }

    /// Included files: (root spec, `inc.yaml`'s text or `None` if unreadable, the one
    /// error's `FILE:LINE:COL` and part of its message).
    const INCLUDES: &[(&str, Option<&str>, &str, &str)] = &[
        (
            "include: inc.yaml\n",
            Some("routes:\n  GET /a: h\n"),
            "",
            "",
        ),
        (
            "include: inc.yaml\n",
            None,
            "t.yaml:1:10",
            "cannot read included file `inc.yaml`",
        ),
        (
            "include: [inc.yaml, ./inc.yaml]\n",
            Some("routes:\n  GET /a: h\n"),
            "t.yaml:1:21",
            "`inc.yaml` is included more than once",
        ),
        (
            "include: inc.yaml\n",
            Some("include: inc.yaml\n"),
            "inc.yaml:1:10",
            "`inc.yaml` is included more than once (or includes itself)",
        ),
        (
            "include: inc.yaml\n",
            Some("caches: {}\n"),
            "inc.yaml:1:1",
            "`caches` cannot appear in an included file",
        ),
        (
            "include: inc.yaml\n",
            Some("ai:\n  models: {}\n"),
            "inc.yaml:1:1",
            "`ai` cannot appear in an included file",
        ),
        (
            "routes:\n  GET /a: h\ninclude: inc.yaml\n",
            Some("routes:\n  GET /a: g\n"),
            "inc.yaml:2:3",
            "route `GET /a` is declared twice (first as `GET /a` on t.yaml:2)",
        ),
    ];

    #[test]
    fn includes() {
        let mut failures = Vec::new();
        for &(root, inc, at, message) in INCLUDES {
            let result = crate::compile(
                root,
                "t.yaml",
                &mut |p| match inc {
                    Some(text) if p == Path::new("inc.yaml") => Ok(text.to_owned()),
                    _ => Err(std::io::Error::other("not found")),
                },
                &|_| None,
            );
            let got: Vec<String> = match result {
                Ok(_) => Vec::new(),
                Err(d) => d
                    .items()
                    .iter()
                    .zip(d.locations())
                    .map(|(i, l)| format!("{l}: {}", i.message))
                    .collect(),
            };
            let ok = match (at, got.as_slice()) {
                ("", []) => true,
                (at, [one]) => !at.is_empty() && one.starts_with(at) && one.contains(message),
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{root:?} + {inc:?}: want {at} {message}, got {got:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn an_included_file_holds_routes_groups_and_include_only() {
        let src = "app: x\nserver: {}\nroutes:\n  GET /a: h\ngroups: []\n";
        let spec = crate::spec::parse_file(src, 0).expect("valid YAML");
        let mut load = |_: &Path| Err(std::io::Error::other("no files"));
        let env = |_: &str| None;
        let mut cx = Ctx::new("inc.yaml", src.to_owned(), &mut load, &env);
        included_sections(&mut cx, 0, &spec);
        let got: Vec<&str> = cx.errors.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            got,
            [
                "`app` cannot appear in an included file",
                "`server` cannot appear in an included file"
            ]
        );
    }
}
