//! Routes and groups: full paths, typed parameters, inherited limits, caches and
//! middleware; included files; conflicts between routes.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use super::LimitsPlan;
use super::caches::cache_ref;
use super::limits::{Level, limits_plan};
use super::{Builder, Inherit, Origin};
use crate::diag::{Diagnostic, SourceFile, did_you_mean, line_col};
use crate::path::{Segment, parse_path};
use crate::spec::parse_file;
pub use crate::spec::routes::{METHODS, MethodSel};
use crate::spec::{Entries, GroupSpec, Include, RouteValue, Spec};

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// The method.
    pub method: MethodSel,
    /// The path as written.
    pub path: String,
    /// The parsed path.
    pub segments: Vec<Segment>,
    /// The handler's full Rust path (`crate::handlers::hello`).
    pub handler: String,
    /// The optional route name.
    pub name: Option<String>,
    /// The optional summary.
    pub summary: Option<String>,
    /// The route's own limits, with its groups' folded in (route-level keys only).
    pub limits: LimitsPlan,
    /// The spec file the route is declared in.
    pub file: String,
    /// The line the route is declared on.
    pub line: usize,
    /// The cache its GET (and HEAD) answers go through: an index into `Plan::caches`.
    pub cache: Option<usize>,
    /// The route's middleware chain, outermost first (inherited entries included).
    pub middleware: Vec<super::middleware::MwPlan>,
}

impl RoutePlan {
    /// Whether the path has parameters (the route's functions take them).
    pub fn has_params(&self) -> bool {
        self.segments
            .iter()
            .any(|s| !matches!(s, Segment::Static(_)))
    }

    /// The parameter list of the route's generated functions after `req` (empty without
    /// parameters, so that no function takes an argument it does not use).
    pub(crate) fn params_decl(&self) -> &'static str {
        if self.has_params() {
            ", p: &[&'a str; N]"
        } else {
            ""
        }
    }

    /// The arguments after `req` that pass `p` on (`p` a reference to the parameters).
    pub(crate) fn params_pass(&self, p: &'static str) -> &'static str {
        match (self.has_params(), p) {
            (false, _) => "",
            (true, "p") => ", p",
            (true, _) => ", &p",
        }
    }
}

/// Adds a file's `routes`, `groups` and `include`.
pub(super) fn add_sections(cx: &mut Builder<'_, '_>, f: usize, spec: &Spec) {
    if let Some(routes) = &spec.routes {
        add_routes(cx, f, &routes.value, &Prefix::root(), Inherit::default());
    }
    if let Some(groups) = &spec.groups {
        for g in &groups.value {
            add_group(cx, f, g, &Prefix::root(), Inherit::default());
        }
    }
    if let Some(inc) = &spec.include {
        let items: Vec<(String, Range<usize>)> = match &inc.value {
            Include::One(p) => {
                let v = cx.interp(f, inc, p);
                v.map(|v| (v, cx.span(f, inc))).into_iter().collect()
            }
            Include::Many(list) => list
                .iter()
                .filter_map(|p| cx.text(f, p).map(|v| (v, cx.span(f, p))))
                .collect(),
        };
        for (path, span) in items {
            include(cx, f, &path, span);
        }
    }
}

fn include(cx: &mut Builder<'_, '_>, f: usize, rel: &str, span: Range<usize>) {
    let base = cx.paths[f]
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = normalize(&base.join(rel));
    if cx.paths.iter().any(|p| p == &path) {
        let d = Diagnostic::new(format!(
            "`{}` is included more than once (or includes itself)",
            path.display()
        ))
        .at(span, "included again here");
        cx.error(f, d);
        return;
    }
    let source = match (cx.load)(&path) {
        Ok(s) => s,
        Err(e) => {
            let d = Diagnostic::new(format!(
                "cannot read included file `{}`: {e}",
                path.display()
            ))
            .at(span, "included here");
            cx.error(f, d);
            return;
        }
    };
    let idx = cx.files.len();
    cx.files.push(SourceFile {
        name: path.display().to_string(),
        source,
    });
    cx.paths.push(path);
    let spec = match parse_file(cx.source(idx), idx) {
        Ok(s) => s,
        Err(d) => {
            cx.errors.push(d);
            return;
        }
    };
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
    add_sections(cx, idx, &spec);
}

/// Removes `.` and `name/..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// The path prefix and parameter names a group contributes to its routes.
#[derive(Clone, Default)]
struct Prefix {
    text: String,
    segments: Vec<Segment>,
}

impl Prefix {
    fn root() -> Self {
        Prefix::default()
    }
}

fn add_group(
    cx: &mut Builder<'_, '_>,
    f: usize,
    g: &Spanned<GroupSpec>,
    outer: &Prefix,
    inherit: Inherit,
) {
    let g_val = &g.value;
    let cache = match &g_val.cache {
        Some(c) => match cache_ref(cx, f, c) {
            Some(c) => c,
            None => return,
        },
        None => inherit.cache,
    };
    let limits = inherit.limits;
    let Some(prefix_text) = cx.text(f, &g_val.prefix) else {
        return;
    };
    let start = cx.text_start(f, &g_val.prefix);
    let span = cx.span(f, &g_val.prefix);
    if prefix_text.len() > 1 && prefix_text.ends_with('/') {
        let d = Diagnostic::new(format!(
            "group prefix `{prefix_text}` must not end with `/`"
        ))
        .at(span, "routes add their own `/`")
        .help(format!("write `{}`", prefix_text.trim_end_matches('/')));
        cx.error(f, d);
        return;
    }
    let mut prefix = outer.clone();
    if prefix_text != "/" {
        match parse_path(&prefix_text) {
            Ok(segs) => {
                if segs.iter().any(|s| matches!(s, Segment::CatchAll { .. })) {
                    let d = Diagnostic::new("a group prefix cannot contain a catch-all")
                        .at(span, "routes could never follow it");
                    cx.error(f, d);
                    return;
                }
                prefix.text.push_str(&prefix_text);
                prefix.segments.extend(segs);
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
                return;
            }
        }
    }
    let limits = match &g_val.limits {
        Some(l) => limits.overlay(limits_plan(cx, f, l, Level::Route)),
        None => limits,
    };
    let inherit = Inherit { limits, cache };
    let entered = super::middleware::enter(cx, f, &g_val.middleware);
    if let Some(routes) = &g_val.routes {
        add_routes(cx, f, &routes.value, &prefix, inherit);
    }
    if let Some(groups) = &g_val.groups {
        for inner in &groups.value {
            add_group(cx, f, inner, &prefix, inherit);
        }
    }
    super::middleware::leave(cx, entered);
}

fn add_routes(
    cx: &mut Builder<'_, '_>,
    f: usize,
    routes: &Entries<Spanned<String>, Spanned<RouteValue>>,
    prefix: &Prefix,
    inherit: Inherit,
) {
    for (key, value) in &routes.0 {
        if let Some((route, span)) = route_plan(cx, f, key, value, prefix, inherit) {
            cx.routes.push(route);
            cx.origins.push(Origin { file: f, span });
        }
    }
}

fn route_plan(
    cx: &mut Builder<'_, '_>,
    f: usize,
    key: &Spanned<String>,
    value: &Spanned<RouteValue>,
    prefix: &Prefix,
    inherit: Inherit,
) -> Option<(RoutePlan, Range<usize>)> {
    let inherited = inherit.limits;
    let key_span = cx.span(f, key);
    let key_text_start = cx.text_start(f, key);
    let line = line_col(cx.source(f), key_span.start).0;
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
    let own = match parse_path(path) {
        Ok(s) => s,
        Err(e) => {
            let mut d = Diagnostic::new(format!("invalid route path: {}", e.message)).at(
                path_offset + e.range.start..path_offset + e.range.end.max(e.range.start + 1),
                "here",
            );
            if let Some(h) = e.help {
                d = d.help(h);
            }
            cx.error(f, d);
            return None;
        }
    };
    // `GET /` inside a group is the prefix itself.
    let (full_path, segments) = if !prefix.text.is_empty() && path == "/" {
        (prefix.text.clone(), prefix.segments.clone())
    } else {
        let mut segs = prefix.segments.clone();
        segs.extend(own);
        (format!("{}{path}", prefix.text), segs)
    };
    let mut names: Vec<&str> = Vec::new();
    for s in &segments {
        if let Segment::Param { name, .. } | Segment::CatchAll { name } = s {
            if names.contains(&name.as_str()) {
                let d = Diagnostic::new(format!(
                    "parameter `{name}` appears twice in `{full_path}` (once in a group prefix)"
                ))
                .at(key_span, "rename one of them");
                cx.error(f, d);
                return None;
            }
            names.push(name);
        }
    }
    // A group's cache applies to its GET routes; other methods are never cached.
    let cacheable = matches!(method, MethodSel::Get | MethodSel::Any);
    let mut cache = inherit.cache.filter(|_| cacheable);
    let own_mw = match &value.value {
        RouteValue::Long(l) => l.middleware.as_ref(),
        RouteValue::Short(_) => None,
    };
    let middleware = super::middleware::for_route(cx, f, own_mw);
    let (handler, handler_span, name, summary, limits) = match &value.value {
        RouteValue::Short(h) => (h.clone(), cx.span(f, value), None, None, inherited),
        RouteValue::Long(l) => {
            if let Some(c) = &l.cache {
                let own = cache_ref(cx, f, c)?;
                if own.is_some() && !cacheable {
                    let span = cx.span(f, c);
                    let d = Diagnostic::new(format!(
                        "route `{} {}` cannot be cached: only GET (and ANY) routes are",
                        method.keyword(),
                        path
                    ))
                    .at(span, "a cache stores GET answers")
                    .help("purge the cache from this handler instead (`App::cache(\"…\")`)");
                    cx.error(f, d);
                    return None;
                }
                cache = own;
            }
            let limits = match &l.limits {
                Some(lim) => inherited.overlay(limits_plan(cx, f, lim, Level::Route)),
                None => inherited,
            };
            (
                l.handler.value.clone(),
                cx.span(f, &l.handler),
                l.name.as_ref().map(|n| n.value.clone()),
                l.summary.as_ref().map(|s| s.value.clone()),
                limits,
            )
        }
    };
    let full = if handler.starts_with("crate::") || handler.starts_with("::") {
        handler.clone()
    } else {
        format!("{}::{handler}", cx.handlers_mod)
    };
    if handler.is_empty() || !crate::code::is_path(&full) {
        let d = Diagnostic::new(format!(
            "`{handler}` is not a Rust path to a handler function"
        ))
        .at(
            handler_span,
            "expected a function path like `hello` or `users::show`",
        );
        cx.error(f, d);
        return None;
    }
    let route = format!("{} {full_path}", method.keyword());
    if !swr_keeps_context(cx, f, (key_span.clone(), &route), cache, &middleware) {
        return None;
    }
    let file = cx.files[f].name.clone();
    Some((
        RoutePlan {
            method,
            path: full_path,
            segments,
            handler: full,
            name,
            summary,
            limits,
            file,
            line,
            cache,
            middleware,
        },
        key_span,
    ))
}

/// A background refresh (`stale_while_revalidate`) runs the handler on a copy of the
/// request that keeps its identity and client address, but not a `hook`'s `extend` value
/// (its type is the application's): such a route is refused rather than refreshed with
/// the value missing.
fn swr_keeps_context(
    cx: &mut Builder<'_, '_>,
    f: usize,
    (key_span, route): (Range<usize>, &str),
    cache: Option<usize>,
    middleware: &[super::middleware::MwPlan],
) -> bool {
    let Some(plan) = cache.and_then(|c| cx.caches.get(c)) else {
        return true;
    };
    if plan.stale_while_revalidate.is_none() {
        return true;
    }
    let hook = middleware.iter().find(|m| {
        matches!(
            m.kind,
            super::middleware::MwKind::Hook {
                extend: Some(_),
                ..
            }
        )
    });
    let Some(hook) = hook else {
        return true;
    };
    let d = Diagnostic::new(format!(
        "route `{route}` is cached by `{}` with `stale_while_revalidate`, and its middleware `{}` has an `extend` hook",
        plan.name, hook.name
    ))
    .at(key_span, "a background refresh could not give the handler the hook's value")
    .help(
        "use a cache without `stale_while_revalidate` here, `cache: off`, or `skip` the hook on this route",
    );
    cx.error(f, d);
    false
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
pub(super) fn check_conflicts(cx: &mut Builder<'_, '_>) {
    let mut found = Vec::new();
    // Group routes by shape once (O(n)), then compare only within a group.
    let mut by_shape: std::collections::HashMap<Vec<String>, Vec<usize>> = Default::default();
    for (i, r) in cx.routes.iter().enumerate() {
        by_shape.entry(shape(&r.segments)).or_default().push(i);
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
        {
            let (a, b) = (&cx.routes[i], &cx.routes[j]);
            let (oa, ob) = (&cx.origins[i], &cx.origins[j]);
            let where_b = if oa.file == ob.file {
                format!("line {}", b.line)
            } else {
                format!("{}:{}", b.file, b.line)
            };
            let d = if a.method == b.method {
                Diagnostic::new(format!(
                    "route `{} {}` is declared twice (first as `{} {}` on {where_b})",
                    a.method.keyword(),
                    a.path,
                    b.method.keyword(),
                    b.path
                ))
                .at(oa.span.clone(), "duplicate route")
                .help("remove one of them, or give them different methods")
            } else if a.segments != b.segments {
                Diagnostic::new(format!(
                    "route `{} {}` conflicts with `{} {}` ({where_b}): the same path shape must use the same parameter names and types",
                    a.method.keyword(),
                    a.path,
                    b.method.keyword(),
                    b.path
                ))
                .at(oa.span.clone(), "this path")
                .help(format!("spell both as `{}`", b.path))
            } else {
                continue;
            };
            let d = if oa.file == ob.file {
                let label = if a.method == b.method {
                    "first declared here"
                } else {
                    "conflicts with this one"
                };
                d.also(ob.span.clone(), label)
            } else {
                d
            };
            found.push((oa.file, d));
        }
    }
    for (f, d) in found {
        cx.error(f, d);
    }
}
