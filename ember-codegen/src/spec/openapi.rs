//! `openapi:` as written (issue 16): where the generated OpenAPI document and its docs page
//! are served, and the document's title and version.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `openapi:` (top level).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiSpec {
    /// The route serving the document as JSON (`/openapi.json`); absent: not served.
    pub path: Option<Spanned<String>>,
    /// The route serving the docs page (`/docs`); needs `path`.
    pub docs: Option<Spanned<String>>,
    /// The document's `info.title` (default: `app:`).
    pub title: Option<Spanned<String>>,
    /// The document's `info.version` (default `0.1.0`).
    pub version: Option<Spanned<String>>,
    /// A JSON file of JSON Schemas by Rust type name, for `body:` and `query:` types.
    pub schemas: Option<Spanned<String>>,
}

/// The keys of `openapi:`, for suggestions.
pub(crate) const OPENAPI_KEYS: &[&str] = &["path", "docs", "title", "version", "schemas"];
