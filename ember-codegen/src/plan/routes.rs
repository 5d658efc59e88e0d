//! Routes and groups: full paths, typed parameters, inherited limits, caches and
//! middleware; included files; conflicts between routes.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use super::LimitsPlan;
use super::caches::cache_ref;
use super::limits::{Level, limits_plan};
use super::{Builder, Inherit, Origin};
use crate::diag::{SourceFile, line_col};
use crate::path::Segment;
use crate::spec::parse_file;
pub use crate::spec::routes::{METHODS, MethodSel};
use crate::spec::{Entries, GroupSpec, Include, RouteValue, Spec};
use crate::validate::routes::{self as rules, Declared, RouteKey};

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
    /// For a route of `ai.routes`: what it calls.
    pub ai: Option<super::ai::AiRoute>,
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
    if !rules::first_include(cx, f, &path, span.clone()) {
        return;
    }
    let read = (cx.load)(&path);
    let Some(source) = rules::included_source(cx, f, &path, span, read) else {
        return;
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
    rules::included_sections(cx, idx, &spec);
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
    let Some(own) = rules::group_prefix(cx, f, &g_val.prefix) else {
        return;
    };
    let mut prefix = outer.clone();
    prefix.text.push_str(&own.text);
    prefix.segments.extend(own.segments);
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
    let line = line_col(cx.source(f), key_span.start).0;
    let RouteKey {
        method,
        path,
        segments: own,
    } = rules::route_key(cx, f, key)?;
    let path = path.as_str();
    // `GET /` inside a group is the prefix itself.
    let (full_path, segments) = if !prefix.text.is_empty() && path == "/" {
        (prefix.text.clone(), prefix.segments.clone())
    } else {
        let mut segs = prefix.segments.clone();
        segs.extend(own);
        (format!("{}{path}", prefix.text), segs)
    };
    if !rules::unique_params(cx, f, key_span.clone(), &full_path, &segments) {
        return None;
    }
    // A group's cache applies to its GET routes; other methods are never cached.
    let cacheable = rules::cacheable(method);
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
                if own.is_some() && !rules::cache_allowed(cx, f, c, method, path) {
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
    let full = rules::handler(&mut cx.cx, f, &handler, handler_span, &cx.handlers_mod)?;
    let route = format!("{} {full_path}", method.keyword());
    let swr_cache = cache
        .and_then(|c| cx.caches.get(c))
        .filter(|c| c.stale_while_revalidate.is_some())
        .map(|c| c.name.as_str());
    let extend_hook = middleware
        .iter()
        .find(|m| {
            matches!(
                m.kind,
                super::middleware::MwKind::Hook {
                    extend: Some(_),
                    ..
                }
            )
        })
        .map(|m| m.name.as_str());
    let at = (key_span.clone(), route.as_str());
    if !rules::swr_keeps_context(&mut cx.cx, f, at, swr_cache, extend_hook) {
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
            ai: None,
        },
        key_span,
    ))
}

/// Duplicate routes, and one path shape spelled with different parameter names or types
/// ([`rules::conflicts`]).
pub(super) fn check_conflicts(cx: &mut Builder<'_, '_>) {
    let declared: Vec<Declared<'_>> = cx
        .routes
        .iter()
        .zip(&cx.origins)
        .map(|(r, o)| Declared {
            method: r.method,
            path: &r.path,
            segments: &r.segments,
            file: (o.file, &r.file),
            line: r.line,
            span: o.span.clone(),
        })
        .collect();
    rules::conflicts(&mut cx.cx, &declared);
}
