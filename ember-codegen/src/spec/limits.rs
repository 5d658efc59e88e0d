//! `limits:` as written (server-wide under `server:`, or on a group or route).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Scalar;

/// `limits:` under `server`, a group or a route.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Idle time allowed between requests on a connection (server only).
    pub keep_alive_timeout: Option<Spanned<Scalar>>,
    /// Time to send a complete request head (server only).
    pub header_read_timeout: Option<Spanned<Scalar>>,
    /// Time to send a request body (server only).
    pub body_read_timeout: Option<Spanned<Scalar>>,
    /// Time a handler may run.
    pub handler_timeout: Option<Spanned<Scalar>>,
    /// Longest request line (server only).
    pub max_request_line: Option<Spanned<Scalar>>,
    /// Most bytes of request head (server only).
    pub max_header_bytes: Option<Spanned<Scalar>>,
    /// Most header fields (server only).
    pub max_headers: Option<Spanned<Scalar>>,
    /// Largest request body.
    pub max_body_size: Option<Spanned<Scalar>>,
    /// Most simultaneous connections (server only).
    pub max_connections: Option<Spanned<Scalar>>,
}

/// The keys of `limits`, for suggestions.
pub(crate) const LIMIT_KEYS: &[&str] = &[
    "keep_alive_timeout",
    "header_read_timeout",
    "body_read_timeout",
    "handler_timeout",
    "max_request_line",
    "max_header_bytes",
    "max_headers",
    "max_body_size",
    "max_connections",
];
