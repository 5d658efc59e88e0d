//! `cookies:` and `sessions:` as written (issue 15).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{RemoteSpec, Scalar};

/// `cookies:`: where the keys of signed and private cookies come from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookiesSpec {
    /// The environment variable holding the keys (read when the server starts).
    pub keys_env: Option<Spanned<String>>,
    /// A file holding the keys (read when the server starts).
    pub keys_file: Option<Spanned<String>>,
}

/// The keys of `cookies:`, for suggestions.
pub(crate) const COOKIES_KEYS: &[&str] = &["keys_env", "keys_file"];

/// One entry of `sessions:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// `cookie`, `memory` or `redis`.
    pub store: Option<Spanned<Scalar>>,
    /// The Redis store's `url`, `prefix` and `timeout`.
    pub redis: Option<Spanned<RemoteSpec>>,
    /// The session cookie's name and attributes.
    pub cookie: Option<Spanned<SessionCookieSpec>>,
    /// Longest time between two uses.
    pub idle_ttl: Option<Spanned<Scalar>>,
    /// Longest life from creation.
    pub absolute_ttl: Option<Spanned<Scalar>>,
    /// `fail_open` (default) or `fail_closed`.
    pub on_store_error: Option<Spanned<Scalar>>,
}

/// The keys of a `sessions:` entry, for suggestions.
pub(crate) const SESSION_KEYS: &[&str] = &[
    "store",
    "redis",
    "cookie",
    "idle_ttl",
    "absolute_ttl",
    "on_store_error",
];

/// `cookie:` under a session.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCookieSpec {
    /// The cookie's name (default `<session name>_session`).
    pub name: Option<Spanned<String>>,
    /// `Path` (default `/`).
    pub path: Option<Spanned<String>>,
    /// `Domain` (default none).
    pub domain: Option<Spanned<String>>,
    /// `Secure` (default `true`).
    pub secure: Option<Spanned<Scalar>>,
    /// `HttpOnly` (default `true`).
    pub http_only: Option<Spanned<Scalar>>,
    /// `SameSite`: `strict`, `lax` (default) or `none`.
    pub same_site: Option<Spanned<Scalar>>,
    /// `Partitioned` (default `false`).
    pub partitioned: Option<Spanned<Scalar>>,
}

/// The keys of a session's `cookie:`, for suggestions.
pub(crate) const SESSION_COOKIE_KEYS: &[&str] = &[
    "name",
    "path",
    "domain",
    "secure",
    "http_only",
    "same_site",
    "partitioned",
];
