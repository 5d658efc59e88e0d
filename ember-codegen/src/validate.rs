//! Spec → plan: every check that can be made before generating code, each failure a
//! located [`Diagnostic`].

use std::ops::Range;

use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, did_you_mean, line_col, offset_of};
use crate::path::{Segment, parse_path};
use crate::plan::{METHODS, MethodSel, Plan, RoutePlan, ServerPlan};
use crate::spec::{RouteValue, Spec, WorkersValue};

/// Byte range of a spanned value in `source` (empty at the start when unknown).
pub(crate) fn span_of<T>(source: &str, s: &Spanned<T>) -> Range<usize> {
    let sp = s.referenced.span();
    match (sp.byte_offset(), sp.byte_len()) {
        (Some(o), Some(l)) => o as usize..(o + l.max(1)) as usize,
        _ => {
            let line = s.referenced.line() as usize;
            let col = s.referenced.column() as usize;
            if line == 0 {
                return 0..0;
            }
            let o = offset_of(source, line, col);
            o..o + 1
        }
    }
}

struct Ctx<'a> {
    source: &'a str,
    errors: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn span<T>(&self, s: &Spanned<T>) -> Range<usize> {
        span_of(self.source, s)
    }

    /// The span of the key `name` whose value is `value` (the key stands before its value).
    fn key_span<T>(&self, value: &Spanned<T>, name: &str) -> Range<usize> {
        let end = self.span(value).start;
        let before = &self.source[..end.min(self.source.len())];
        let mut search = before.len();
        while let Some(i) = before[..search].rfind(name) {
            let after = before[i + name.len()..].trim_start_matches([' ', '\t']);
            let starts_word = i == 0 || !before.as_bytes()[i - 1].is_ascii_alphanumeric();
            if starts_word && after.starts_with(':') {
                return i..i + name.len();
            }
            search = i;
        }
        self.span(value)
    }

    /// The span of a scalar's text (inside quotes, if it is quoted).
    fn text_start<T>(&self, s: &Spanned<T>) -> usize {
        let start = self.span(s).start;
        match self.source.as_bytes().get(start) {
            Some(b'"') | Some(b'\'') => start + 1,
            _ => start,
        }
    }
}

/// Checks a parsed spec and plans the generated code.
pub(crate) fn validate(spec: &Spec, source: &str, file: &str) -> Result<Plan, Vec<Diagnostic>> {
    let mut cx = Ctx {
        source,
        errors: Vec::new(),
    };
    for (name, value) in [
        ("groups", &spec.groups),
        ("caches", &spec.caches),
        ("middleware", &spec.middleware),
        ("ai", &spec.ai),
        ("include", &spec.include),
    ] {
        if let Some(v) = value {
            let span = cx.key_span(v, name);
            cx.errors.push(
                Diagnostic::new(format!("`{name}` is not supported yet"))
                    .at(span, "this section is reserved for a later release")
                    .help(format!(
                        "remove `{name}:` for now; nothing in it would take effect"
                    )),
            );
        }
    }

    let app = spec
        .app
        .as_ref()
        .map(|a| a.value.clone())
        .unwrap_or_else(|| "app".to_owned());
    let handlers_mod = match &spec.handlers {
        Some(h) => {
            if syn::parse_str::<syn::Path>(&h.value).is_err() {
                let span = cx.span(h);
                cx.errors.push(
                    Diagnostic::new(format!("`{}` is not a Rust module path", h.value))
                        .at(span, "expected something like `crate::handlers`"),
                );
            }
            h.value.clone()
        }
        None => "crate::handlers".to_owned(),
    };

    let server = match &spec.server {
        Some(s) => server_plan(&mut cx, &s.value),
        None => ServerPlan::default(),
    };

    let mut routes: Vec<RoutePlan> = Vec::new();
    let mut route_spans: Vec<Range<usize>> = Vec::new();
    if let Some(entries) = &spec.routes {
        for (key, value) in &entries.value.0 {
            if let Some((route, span)) = route_plan(&mut cx, key, value, &handlers_mod) {
                routes.push(route);
                route_spans.push(span);
            }
        }
    }
    check_conflicts(&mut cx, &routes, &route_spans);

    if cx.errors.is_empty() {
        Ok(Plan {
            file: file.to_owned(),
            app,
            server,
            routes,
        })
    } else {
        Err(cx.errors)
    }
}

fn server_plan(cx: &mut Ctx<'_>, s: &crate::spec::ServerSpec) -> ServerPlan {
    let mut plan = ServerPlan::default();
    if let Some(l) = &s.listen {
        if l.value.parse::<std::net::SocketAddr>().is_err() && !looks_like_host_port(&l.value) {
            let span = cx.span(l);
            cx.errors.push(
                Diagnostic::new(format!("`{}` is not a `host:port` address", l.value))
                    .at(span, "expected something like `0.0.0.0:8080`"),
            );
        }
        plan.listen = Some(l.value.clone());
    }
    if let Some(w) = &s.workers {
        match &w.value {
            WorkersValue::Auto => {}
            WorkersValue::Count(n) if *n >= 1 && *n <= 4096 => plan.workers = Some(*n as usize),
            other => {
                let shown = match other {
                    WorkersValue::Count(n) => n.to_string(),
                    WorkersValue::Invalid(s) => s.clone(),
                    WorkersValue::Auto => String::new(),
                };
                let span = cx.span(w);
                cx.errors.push(
                    Diagnostic::new(format!("invalid worker count `{shown}`"))
                        .at(span, "expected `auto` or a whole number from 1 to 4096"),
                );
            }
        }
    }
    if let Some(b) = &s.backend {
        match b.value.as_str() {
            "auto" | "io_uring" | "tokio" => plan.backend = Some(b.value.clone()),
            other => {
                let span = cx.span(b);
                let mut d = Diagnostic::new(format!("unknown backend `{other}`"))
                    .at(span, "expected `auto`, `io_uring` or `tokio`");
                if let Some(s) = did_you_mean(other, &["auto", "io_uring", "tokio"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.errors.push(d);
            }
        }
    }
    for (name, v) in [
        ("io_uring", &s.io_uring),
        ("limits", &s.limits),
        ("shutdown_grace", &s.shutdown_grace),
    ] {
        if let Some(v) = v {
            let span = cx.key_span(v, name);
            cx.errors.push(
                Diagnostic::new(format!("`server.{name}` is not supported yet"))
                    .at(span, "reserved for a later release"),
            );
        }
    }
    plan
}

fn looks_like_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && port.parse::<u16>().is_ok()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        }
        None => false,
    }
}

fn route_plan(
    cx: &mut Ctx<'_>,
    key: &Spanned<String>,
    value: &Spanned<RouteValue>,
    handlers_mod: &str,
) -> Option<(RoutePlan, Range<usize>)> {
    let key_span = cx.span(key);
    let key_text_start = cx.text_start(key);
    let line = line_col(cx.source, key_span.start).0;
    let text = key.value.as_str();
    let Some((method_kw, path)) = text.split_once(char::is_whitespace) else {
        cx.errors.push(
            Diagnostic::new(format!("route `{text}` needs a method and a path"))
                .at(key_span, "expected `METHOD /path`, like `GET /users/{id}`"),
        );
        return None;
    };
    let path = path.trim_start();
    let path_offset = key_text_start + (text.len() - path.len());
    let Some(method) = MethodSel::from_keyword(method_kw) else {
        let mut d = Diagnostic::new(format!("unknown method `{method_kw}`")).at(
            key_text_start..key_text_start + method_kw.len(),
            format!("expected one of {}", METHODS.join(", ")),
        );
        let upper = method_kw.to_ascii_uppercase();
        if let Some(s) = did_you_mean(&upper, METHODS) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        cx.errors.push(d);
        return None;
    };
    let segments = match parse_path(path) {
        Ok(s) => s,
        Err(e) => {
            let mut d = Diagnostic::new(format!("invalid route path: {}", e.message)).at(
                path_offset + e.range.start..path_offset + e.range.end.max(e.range.start + 1),
                "here",
            );
            if let Some(h) = e.help {
                d = d.help(h);
            }
            cx.errors.push(d);
            return None;
        }
    };
    let (handler, handler_span, name, summary) = match &value.value {
        RouteValue::Short(h) => (h.clone(), cx.span(value), None, None),
        RouteValue::Long(l) => (
            l.handler.value.clone(),
            cx.span(&l.handler),
            l.name.as_ref().map(|n| n.value.clone()),
            l.summary.as_ref().map(|s| s.value.clone()),
        ),
    };
    if let RouteValue::Long(l) = &value.value {
        for (k, v) in [
            ("limits", &l.limits),
            ("cache", &l.cache),
            ("middleware", &l.middleware),
        ] {
            if let Some(v) = v {
                let span = cx.key_span(v, k);
                cx.errors.push(
                    Diagnostic::new(format!("route `{k}` is not supported yet"))
                        .at(span, "reserved for a later release"),
                );
            }
        }
    }
    let full = if handler.starts_with("crate::") || handler.starts_with("::") {
        handler.clone()
    } else {
        format!("{handlers_mod}::{handler}")
    };
    if syn::parse_str::<syn::Path>(&full).is_err() || handler.is_empty() {
        cx.errors.push(
            Diagnostic::new(format!(
                "`{handler}` is not a Rust path to a handler function"
            ))
            .at(
                handler_span,
                "expected a function path like `hello` or `users::show`",
            ),
        );
        return None;
    }
    Some((
        RoutePlan {
            method,
            path: path.to_owned(),
            segments,
            handler: full,
            name,
            summary,
            line,
        },
        key_span,
    ))
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
fn check_conflicts(cx: &mut Ctx<'_>, routes: &[RoutePlan], spans: &[Range<usize>]) {
    for i in 0..routes.len() {
        for j in 0..i {
            let (a, b) = (&routes[i], &routes[j]);
            if shape(&a.segments) != shape(&b.segments) {
                continue;
            }
            if a.method == b.method {
                cx.errors.push(
                    Diagnostic::new(format!(
                        "route `{} {}` is declared twice (first as `{} {}` on line {})",
                        a.method.keyword(),
                        a.path,
                        b.method.keyword(),
                        b.path,
                        b.line
                    ))
                    .at(spans[i].clone(), "duplicate route")
                    .also(spans[j].clone(), "first declared here")
                    .help("remove one of them, or give them different methods"),
                );
                continue;
            }
            if a.segments != b.segments {
                cx.errors.push(
                    Diagnostic::new(format!(
                        "route `{} {}` conflicts with `{} {}` (line {}): the same path shape must use the same parameter names and types",
                        a.method.keyword(), a.path, b.method.keyword(), b.path, b.line
                    ))
                    .at(spans[i].clone(), "this path")
                    .also(spans[j].clone(), "conflicts with this one")
                    .help(format!("spell both as `{}`", b.path)),
                );
            }
        }
    }
}
