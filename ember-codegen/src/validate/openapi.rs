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
