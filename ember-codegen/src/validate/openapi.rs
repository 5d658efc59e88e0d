//! Rules of `openapi:` (issue 16): the routes it serves are plain static paths, and the
//! docs page needs the document's route.

use std::ops::Range;

use crate::ctx::Ctx;
use crate::diag::Diagnostic;
use crate::path::{Segment, parse_path};

/// Checks a route path `openapi:` serves (`key` is `path` or `docs`): a static path that
/// starts with `/`. Returns it, or reports the error at `span` in file `f`.
pub(crate) fn served_path(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    key: &str,
    (text, span): (&str, Range<usize>),
) -> Option<String> {
    let static_path = match parse_path(text) {
        Ok(segs) => segs.iter().all(|s| matches!(s, Segment::Static(_))),
        Err(_) => false,
    };
    if !text.starts_with('/') || !static_path || text == "/" {
        let d = Diagnostic::new(format!(
            "`openapi.{key}: {text}` is not a static route path"
        ))
        .at(span, "expected a path like `/openapi.json` or `/docs`")
        .help("the document and its docs page are served at fixed paths, without parameters");
        cx.error(f, d);
        return None;
    }
    Some(text.to_owned())
}

/// `docs` without `path`: the page would have no document to show.
pub(crate) fn docs_needs_path(cx: &mut Ctx<'_, '_>, f: usize, span: Range<usize>) {
    let d = Diagnostic::new("`openapi.docs` needs `openapi.path`")
        .at(span, "the docs page loads the document from `path`")
        .help("add `path: /openapi.json`");
    cx.error(f, d);
}

/// Checks the `schemas:` file (`idx` in the context's files; `span` the key's value in the
/// root): a JSON object whose values are JSON Schemas (objects or booleans). Returns the
/// names it gives schemas for, or reports the error in the file (a syntax error at its line
/// and column) or at `span`.
pub(crate) fn schemas_file(
    cx: &mut Ctx<'_, '_>,
    idx: usize,
    span: Range<usize>,
) -> Option<Vec<String>> {
    let source = cx.source(idx).to_owned();
    let value: serde_json::Value = match serde_json::from_str(&source) {
        Ok(v) => v,
        Err(e) => {
            let at = crate::diag::offset_of(&source, e.line(), e.column().max(1));
            let end = (at + 1).min(source.len()).max(at);
            let text = e.to_string();
            let text = text.split(" at line ").next().unwrap_or(&text);
            let d =
                Diagnostic::new(format!("`openapi.schemas`: not JSON: {text}")).at(at..end, "here");
            cx.error(idx, d);
            return None;
        }
    };
    let Some(map) = value.as_object() else {
        let d = Diagnostic::new("`openapi.schemas` must be a JSON object of schemas by type name")
            .at(span, "this file")
            .help("e.g. {\"NewTask\": {\"type\": \"object\", …}}, one entry per `body:`/`query:` type");
        cx.error(0, d);
        return None;
    };
    let bad: Vec<&str> = map
        .iter()
        .filter(|(_, v)| !(v.is_object() || v.is_boolean()))
        .map(|(k, _)| k.as_str())
        .collect();
    if !bad.is_empty() {
        let d = Diagnostic::new(format!(
            "`openapi.schemas`: the entries for {} are not JSON Schemas (objects)",
            bad.join(", ")
        ))
        .at(span, "in this file");
        cx.error(0, d);
        return None;
    }
    Some(map.keys().cloned().collect())
}

/// The `schemas:` file could not be read.
pub(crate) fn schemas_unreadable(
    cx: &mut Ctx<'_, '_>,
    path: &std::path::Path,
    span: Range<usize>,
    e: &std::io::Error,
) {
    let d = Diagnostic::new(format!("cannot read `{}`: {e}", path.display()))
        .at(span, "`openapi.schemas` names it");
    cx.error(0, d);
}
