//! `redis:` (the connection Redis-backed features share) and `probes:` as written
//! (scale, issues 16.3 and 18).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Scalar;

/// Top-level `redis:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    /// One server: `redis://host:port/db` (`${VAR:-default}` allowed).
    pub url: Option<Spanned<String>>,
    /// A Redis Cluster's seed nodes (each may be a comma-separated list from a variable).
    pub nodes: Option<Spanned<Vec<Spanned<String>>>>,
    /// How long an operation may take (default 100ms); features may set their own.
    pub timeout: Option<Spanned<Scalar>>,
    /// Connections per worker (1).
    pub pool_size: Option<Spanned<Scalar>>,
    /// `true`: `/readyz` answers `503` while this Redis does not answer.
    pub required: Option<Spanned<Scalar>>,
}

/// The keys of `redis:`, for suggestions.
pub(crate) const REDIS_KEYS: &[&str] = &["url", "nodes", "timeout", "pool_size", "required"];

/// Top-level `probes:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesSpec {
    /// The liveness path (`/livez`).
    pub livez: Option<Spanned<String>>,
    /// The readiness path (`/readyz`).
    pub readyz: Option<Spanned<String>>,
}

/// The keys of `probes:`, for suggestions.
pub(crate) const PROBES_KEYS: &[&str] = &["livez", "readyz"];
