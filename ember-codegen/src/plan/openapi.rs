//! `openapi:` (issue 16): the document's title and version, and the routes that serve it
//! and its docs page, added to the app's routes (so a clash with a declared route is the
//! usual conflict error).

use serde_saphyr::Spanned;

use super::{Builder, LimitsPlan, MethodSel, Origin, RoutePlan};
use crate::diag::line_col;
use crate::path::parse_path;
use crate::spec::openapi::OpenApiSpec;
use crate::validate::openapi as rules;

/// What `openapi:` resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenApiPlan {
    /// The route serving the document (`/openapi.json`), if any.
    pub path: Option<String>,
    /// The route serving the docs page (`/docs`), if any.
    pub docs: Option<String>,
    /// `info.title`, when given.
    pub title: Option<String>,
    /// `info.version`, when given.
    pub version: Option<String>,
    /// `schemas:`: the file's JSON text (an object of JSON Schemas by Rust type name,
    /// checked), when given.
    pub schemas: Option<String>,
}

/// The generated functions (in the router module) of the routes `openapi:` adds: the
/// document, the docs page and the renderer's script.
pub const SERVED_HANDLERS: [&str; 3] = ["openapi_json", "openapi_docs", "openapi_docs_js"];

/// The path of the docs page's script, under the docs page's own path.
pub fn docs_script_path(docs: &str) -> String {
    format!(
        "{}/rapidoc-{}.min.js",
        docs.trim_end_matches('/'),
        RAPIDOC_VERSION
    )
}

/// The version of the vendored renderer (RapiDoc), in its script's path so a new version
/// is a new URL (the script is cached for a year).
pub const RAPIDOC_VERSION: &str = "9.3.8";

/// Plans `openapi:` (in the root file) and adds the routes it serves.
pub(super) fn openapi_plan(cx: &mut Builder<'_, '_>, spec: &Spanned<OpenApiSpec>) -> OpenApiPlan {
    let o = &spec.value;
    let mut plan = OpenApiPlan::default();
    let served = |cx: &mut Builder<'_, '_>, key: &str, v: &Option<Spanned<String>>| {
        let v = v.as_ref()?;
        let text = cx.text(0, v)?;
        let span = cx.span(0, v);
        rules::served_path(cx, 0, key, (&text, span.clone())).map(|p| (p, span))
    };
    let path = served(cx, "path", &o.path);
    let docs = served(cx, "docs", &o.docs);
    if let (Some(d), None) = (&o.docs, &o.path) {
        let span = cx.span(0, d);
        rules::docs_needs_path(cx, 0, span);
    }
    plan.title = o.title.as_ref().and_then(|t| cx.text(0, t));
    plan.version = o.version.as_ref().and_then(|t| cx.text(0, t));
    if let Some(file) = &o.schemas {
        plan.schemas = schemas(cx, file);
    }
    if let Some((p, span)) = path {
        add_route(cx, &p, SERVED_HANDLERS[0], span);
        plan.path = Some(p);
    }
    if plan.path.is_some()
        && let Some((d, span)) = docs
    {
        add_route(cx, &d, SERVED_HANDLERS[1], span.clone());
        add_route(cx, &docs_script_path(&d), SERVED_HANDLERS[2], span);
        plan.docs = Some(d);
    }
    plan
}

/// Adds `GET path` answered by the generated function `handler`, declared at `span`.
fn add_route(cx: &mut Builder<'_, '_>, path: &str, handler: &str, span: std::ops::Range<usize>) {
    let line = line_col(cx.source(0), span.start).0;
    // Checked by `rules::served_path` (the script's path adds one static segment).
    let segments = parse_path(path).unwrap_or_default();
    let file = cx.files[0].name.clone();
    cx.routes.push(RoutePlan {
        method: MethodSel::Get,
        path: path.to_owned(),
        segments,
        handler: handler.to_owned(),
        name: None,
        summary: None,
        // Static answers: no handler timeout, no body.
        limits: LimitsPlan {
            handler_timeout: Some(None),
            ..LimitsPlan::default()
        },
        file,
        line,
        cache: None,
        // Served without the app's middleware (like FastAPI's `/docs`): put the routes
        // behind a proxy's access control to hide them.
        middleware: Vec::new(),
        ai: None,
        session: None,
        input: Default::default(),
    });
    cx.origins.push(Origin { file: 0, span });
}

/// Reads and checks the `schemas:` file (relative to the spec), which joins the spec's
/// files (so a change rebuilds, and its errors point into it).
fn schemas(cx: &mut Builder<'_, '_>, file: &Spanned<String>) -> Option<String> {
    let rel = cx.text(0, file)?;
    let span = cx.span(0, file);
    let base = cx.paths[0]
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let path = base.join(&rel);
    let source = match (cx.load)(&path) {
        Ok(s) => s,
        Err(e) => {
            rules::schemas_unreadable(cx, &path, span, &e);
            return None;
        }
    };
    let idx = cx.files.len();
    cx.files.push(crate::diag::SourceFile {
        name: path.display().to_string(),
        source: source.clone(),
    });
    cx.paths.push(path);
    rules::schemas_file(cx, idx, span)?;
    Some(source)
}
