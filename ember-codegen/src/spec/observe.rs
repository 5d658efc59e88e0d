//! `access_log:`, `request_id:` and `metrics:` as written (obs, issue 16).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Scalar;

/// `access_log:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogSpec {
    /// `off`, `common` or `json`.
    pub format: Option<Spanned<Scalar>>,
    /// `stdout`, `stderr` or a file path.
    pub path: Option<Spanned<String>>,
}

/// The keys of `access_log:`, for suggestions.
pub(crate) const ACCESS_LOG_KEYS: &[&str] = &["format", "path"];

/// `request_id:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestIdSpec {
    /// The header read and echoed (default `X-Request-Id`).
    pub header: Option<Spanned<String>>,
    /// Whether a well-formed id from the client is kept (default `true`).
    pub accept: Option<Spanned<Scalar>>,
}

/// The keys of `request_id:`, for suggestions.
pub(crate) const REQUEST_ID_KEYS: &[&str] = &["header", "accept"];

/// `metrics:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// The route serving them (default `/metrics`).
    pub path: Option<Spanned<String>>,
}

/// The keys of `metrics:`, for suggestions.
pub(crate) const METRICS_KEYS: &[&str] = &["path"];
