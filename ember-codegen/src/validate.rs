//! Spec → plan: every check that can be made before generating code, each failure a
//! located [`Diagnostic`]. Included files are read through a loader, so this stays
//! testable without a file system.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::diag::{Diagnostic, Diagnostics, SourceFile, did_you_mean, line_col, offset_of};
use crate::path::{Segment, parse_path};
use crate::plan::{
    CacheKind, CachePlan, JitterPlan, LimitsPlan, METHODS, MethodSel, Plan, QueryPlan, RemotePlan,
    RoutePlan, ServerPlan, UringPlan,
};
use crate::spec::{
    CacheSpec, Entries, GroupSpec, Include, LimitsSpec, QuerySpec, RemoteSpec, RouteValue, Scalar,
    ServerSpec, Spec, UringSpec,
};
use crate::units::{interpolate, parse_duration, parse_size};

/// Reads an included file.
pub(crate) type Loader<'a> = dyn FnMut(&Path) -> std::io::Result<String> + 'a;
/// Reads an environment variable.
pub(crate) type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

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

/// Parses one spec source; a YAML error is a diagnostic in file `file`.
pub(crate) fn parse_file(source: &str, file: usize) -> Result<Spec, Diagnostic> {
    // Repeated keys reach the spec's own visitors, which report both locations.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options::<Spec>(source, options)
        .map_err(|e| crate::yaml_error(&e, source).in_file(file))
}

/// Where a route came from, for conflict messages.
struct Origin {
    file: usize,
    span: Range<usize>,
}

/// Which `limits` keys a place allows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Server,
    Route,
}

pub(crate) struct Ctx<'a, 'l> {
    files: Vec<SourceFile>,
    paths: Vec<PathBuf>,
    errors: Vec<Diagnostic>,
    env: &'a Env<'a>,
    env_read: Vec<String>,
    load: &'a mut Loader<'l>,
    pub(crate) handlers_mod: String,
    pub(crate) mw: crate::middleware::MwState,
    routes: Vec<RoutePlan>,
    origins: Vec<Origin>,
    caches: Vec<CachePlan>,
    /// Caches declared with errors (already reported): references to them are not.
    bad_caches: Vec<String>,
}

/// What a group passes down to its routes.
#[derive(Clone, Copy, Default)]
struct Inherit {
    limits: LimitsPlan,
    cache: Option<usize>,
}

impl Ctx<'_, '_> {
    fn source(&self, f: usize) -> &str {
        &self.files[f].source
    }

    pub(crate) fn span<T>(&self, f: usize, s: &Spanned<T>) -> Range<usize> {
        span_of(self.source(f), s)
    }

    pub(crate) fn error(&mut self, f: usize, d: Diagnostic) {
        self.errors.push(d.in_file(f));
    }

    /// The span of the key `name` whose value is `value` (the key stands before its value).
    fn key_span<T>(&self, f: usize, value: &Spanned<T>, name: &str) -> Range<usize> {
        let source = self.source(f);
        let end = self.span(f, value).start;
        let before = &source[..end.min(source.len())];
        let mut search = before.len();
        while let Some(i) = before[..search].rfind(name) {
            let after = before[i + name.len()..].trim_start_matches([' ', '\t', '"', '\'']);
            let starts_word = i == 0 || !before.as_bytes()[i - 1].is_ascii_alphanumeric();
            if starts_word && after.starts_with(':') {
                return i..i + name.len();
            }
            search = i;
        }
        self.span(f, value)
    }

    /// Where a scalar's text starts (inside quotes, if it is quoted).
    fn text_start<T>(&self, f: usize, s: &Spanned<T>) -> usize {
        let start = self.span(f, s).start;
        match self.source(f).as_bytes().get(start) {
            Some(b'"') | Some(b'\'') => start + 1,
            _ => start,
        }
    }

    /// A string value with `${ENV}` interpolated; an error is reported at its place.
    fn text(&mut self, f: usize, s: &Spanned<String>) -> Option<String> {
        self.interp(f, s, &s.value)
    }

    fn scalar(&mut self, f: usize, s: &Spanned<Scalar>) -> Option<String> {
        self.interp(f, s, &s.value.0)
    }

    pub(crate) fn interp<T>(&mut self, f: usize, at: &Spanned<T>, text: &str) -> Option<String> {
        let env = self.env;
        match interpolate(text, env, &mut self.env_read) {
            Ok(v) => Some(v),
            Err(e) => {
                let start = self.text_start(f, at);
                let d = Diagnostic::new(e.message)
                    .at(start + e.range.start..start + e.range.end, "here")
                    .help("set the variable, or give a default: `${NAME:-default}`");
                self.error(f, d);
                None
            }
        }
    }

    fn reserved<T>(&mut self, f: usize, value: &Option<Spanned<T>>, what: &str, key: &str) {
        if let Some(v) = value {
            let span = self.key_span(f, v, key);
            let d = Diagnostic::new(format!("`{what}` is not supported yet"))
                .at(span, "reserved for a later release")
                .help(format!(
                    "remove `{key}:` for now; nothing in it would take effect"
                ));
            self.error(f, d);
        }
    }
}

/// Checks a spec (and the files it includes) and plans the generated code.
pub(crate) fn compile(
    root_name: &str,
    root_source: String,
    load: &mut Loader<'_>,
    env: &Env<'_>,
) -> Result<Plan, Diagnostics> {
    let mut cx = Ctx {
        files: vec![SourceFile {
            name: root_name.to_owned(),
            source: root_source,
        }],
        paths: vec![PathBuf::from(root_name)],
        errors: Vec::new(),
        env,
        env_read: Vec::new(),
        load,
        handlers_mod: "crate::handlers".to_owned(),
        mw: Default::default(),
        routes: Vec::new(),
        origins: Vec::new(),
        caches: Vec::new(),
        bad_caches: Vec::new(),
    };
    let spec = match parse_file(cx.source(0), 0) {
        Ok(s) => s,
        Err(d) => return Err(Diagnostics::new(cx.files, vec![d])),
    };
    if let Some(c) = &spec.caches {
        caches_plan(&mut cx, &c.value);
    }
    cx.reserved(0, &spec.ai, "ai", "ai");

    let app = spec
        .app
        .as_ref()
        .map(|a| a.value.clone())
        .unwrap_or_else(|| "app".to_owned());
    if let Some(h) = &spec.handlers {
        if !crate::code::is_path(&h.value) {
            let span = cx.span(0, h);
            let d = Diagnostic::new(format!("`{}` is not a Rust module path", h.value))
                .at(span, "expected something like `crate::handlers`");
            cx.error(0, d);
        }
        cx.handlers_mod = h.value.clone();
    }
    let server = match &spec.server {
        Some(s) => server_plan(&mut cx, &s.value),
        None => ServerPlan::default(),
    };
    crate::middleware::enter(&mut cx, 0, &spec.middleware);
    add_sections(&mut cx, 0, &spec);

    check_conflicts(&mut cx);
    if cx.errors.is_empty() {
        Ok(Plan {
            file: root_name.to_owned(),
            app,
            server,
            routes: cx.routes,
            caches: cx.caches,
            files: cx.files.iter().map(|f| f.name.clone()).collect(),
            env_vars: cx.env_read,
        })
    } else {
        Err(Diagnostics::new(cx.files, cx.errors))
    }
}

/// Adds a file's `routes`, `groups` and `include`.
fn add_sections(cx: &mut Ctx<'_, '_>, f: usize, spec: &Spec) {
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

fn include(cx: &mut Ctx<'_, '_>, f: usize, rel: &str, span: Range<usize>) {
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
    cx: &mut Ctx<'_, '_>,
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
    let entered = crate::middleware::enter(cx, f, &g_val.middleware);
    if let Some(routes) = &g_val.routes {
        add_routes(cx, f, &routes.value, &prefix, inherit);
    }
    if let Some(groups) = &g_val.groups {
        for inner in &groups.value {
            add_group(cx, f, inner, &prefix, inherit);
        }
    }
    crate::middleware::leave(cx, entered);
}

fn add_routes(
    cx: &mut Ctx<'_, '_>,
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

fn server_plan(cx: &mut Ctx<'_, '_>, s: &ServerSpec) -> ServerPlan {
    let mut plan = ServerPlan::default();
    if let Some(l) = &s.listen
        && let Some(v) = cx.text(0, l)
    {
        if v.parse::<std::net::SocketAddr>().is_err() && !looks_like_host_port(&v) {
            let span = cx.span(0, l);
            let d = Diagnostic::new(format!("`{v}` is not a `host:port` address"))
                .at(span, "expected something like `0.0.0.0:8080`");
            cx.error(0, d);
        }
        plan.listen = Some(v);
    }
    if let Some(w) = &s.workers
        && let Some(v) = cx.scalar(0, w)
    {
        match v.parse::<usize>() {
            _ if v == "auto" => {}
            Ok(n) if (1..=4096).contains(&n) => plan.workers = Some(n),
            _ => {
                let span = cx.span(0, w);
                let d = Diagnostic::new(format!("invalid worker count `{v}`"))
                    .at(span, "expected `auto` or a whole number from 1 to 4096");
                cx.error(0, d);
            }
        }
    }
    if let Some(b) = &s.backend
        && let Some(v) = cx.text(0, b)
    {
        match v.as_str() {
            "auto" | "io_uring" | "tokio" => plan.backend = Some(v),
            other => {
                let span = cx.span(0, b);
                let mut d = Diagnostic::new(format!("unknown backend `{other}`"))
                    .at(span, "expected `auto`, `io_uring` or `tokio`");
                if let Some(s) = did_you_mean(other, &["auto", "io_uring", "tokio"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.error(0, d);
            }
        }
    }
    if let Some(l) = &s.limits {
        plan.limits = limits_plan(cx, 0, l, Level::Server);
    }
    if let Some(u) = &s.io_uring {
        plan.io_uring = uring_plan(cx, &u.value);
    }
    if let Some(g) = &s.shutdown_grace {
        plan.shutdown_grace = duration(cx, 0, g, false).flatten();
    }
    if let Some(r) = &s.reuse_port {
        plan.reuse_port = flag(cx, r);
    }
    plan
}

/// A `true`/`false` setting of the main spec (YAML's `on`/`off`/`yes`/`no` too).
fn flag(cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>) -> Option<bool> {
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

/// A duration value; `off` (where allowed) is `Some(None)`.
fn duration(
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
fn size(
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
fn count(
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

fn limits_plan(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    l: &Spanned<LimitsSpec>,
    level: Level,
) -> LimitsPlan {
    let s = &l.value;
    if level == Level::Route {
        for (name, v) in [
            ("keep_alive_timeout", &s.keep_alive_timeout),
            ("header_read_timeout", &s.header_read_timeout),
            ("body_read_timeout", &s.body_read_timeout),
            ("max_request_line", &s.max_request_line),
            ("max_header_bytes", &s.max_header_bytes),
            ("max_headers", &s.max_headers),
            ("max_connections", &s.max_connections),
        ] {
            if let Some(v) = v {
                let span = cx.key_span(f, v, name);
                let d = Diagnostic::new(format!("`{name}` can only be set under `server.limits`"))
                    .at(span, "it applies before a request is routed")
                    .help("routes and groups may set `max_body_size` and `handler_timeout`");
                cx.error(f, d);
            }
        }
    }
    let mut p = LimitsPlan::default();
    let big = 1u64 << 40;
    if let Some(v) = &s.keep_alive_timeout {
        p.keep_alive_timeout = duration(cx, f, v, false).flatten();
    }
    if let Some(v) = &s.header_read_timeout {
        p.header_read_timeout = duration(cx, f, v, false).flatten();
    }
    if let Some(v) = &s.body_read_timeout {
        p.body_read_timeout = duration(cx, f, v, false).flatten();
    }
    if let Some(v) = &s.handler_timeout {
        p.handler_timeout = duration(cx, f, v, true);
    }
    if let Some(v) = &s.max_request_line {
        p.max_request_line = size(cx, f, v, 64..=1 << 20);
    }
    if let Some(v) = &s.max_header_bytes {
        p.max_header_bytes = size(cx, f, v, 256..=1 << 20);
    }
    if let Some(v) = &s.max_headers {
        p.max_headers = count(cx, f, v, 1..=128);
    }
    if let Some(v) = &s.max_body_size {
        p.max_body_size = size(cx, f, v, 0..=big);
    }
    if let Some(v) = &s.max_connections {
        p.max_connections = count(cx, f, v, 1..=10_000_000);
    }
    p
}

fn uring_plan(cx: &mut Ctx<'_, '_>, u: &UringSpec) -> UringPlan {
    let mut p = UringPlan::default();
    let pow2 = |cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>, n: u64, what: &str| {
        if n.is_power_of_two() {
            true
        } else {
            let span = cx.span(0, v);
            let d = Diagnostic::new(format!("`{what}` must be a power of two"))
                .at(span, format!("{n} is not"))
                .help(format!("try {}", n.next_power_of_two()));
            cx.error(0, d);
            false
        }
    };
    if let Some(v) = &u.entries
        && let Some(n) = count(cx, 0, v, 8..=32768)
        && pow2(cx, v, n, "entries")
    {
        p.entries = Some(n as u32);
    }
    if let Some(v) = &u.num_bufs
        && let Some(n) = count(cx, 0, v, 1..=32768)
        && pow2(cx, v, n, "num_bufs")
    {
        p.num_bufs = Some(n as u16);
    }
    if let Some(v) = &u.buf_size {
        p.buf_size = size(cx, 0, v, 512..=1 << 20).map(|n| n as u32);
    }
    if let Some(v) = &u.provided_buffers {
        p.provided_buffers = flag(cx, v);
    }
    p
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
    cx: &mut Ctx<'_, '_>,
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
    let middleware = crate::middleware::for_route(cx, f, own_mw);
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
    cx: &mut Ctx<'_, '_>,
    f: usize,
    (key_span, route): (Range<usize>, &str),
    cache: Option<usize>,
    middleware: &[crate::middleware::MwPlan],
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
            crate::middleware::MwKind::Hook {
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
fn check_conflicts(cx: &mut Ctx<'_, '_>) {
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

/// `cache: NAME` or `cache: off` on a route or group: `Some(None)` for off.
fn cache_ref(cx: &mut Ctx<'_, '_>, f: usize, v: &Spanned<Scalar>) -> Option<Option<usize>> {
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
fn caches_plan(cx: &mut Ctx<'_, '_>, caches: &Entries<Spanned<String>, Spanned<CacheSpec>>) {
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

/// Reports an option that makes no sense for this kind of cache.
fn refuse<T>(
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

fn cache_plan(
    cx: &mut Ctx<'_, '_>,
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
    cx: &mut Ctx<'_, '_>,
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

fn remote_plan(cx: &mut Ctx<'_, '_>, r: &Spanned<RemoteSpec>, which: &str) -> Option<RemotePlan> {
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
