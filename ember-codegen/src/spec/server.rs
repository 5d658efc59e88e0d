//! `server:` as written, with its `io_uring:` settings.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{LimitsSpec, Scalar};

/// `server:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// `host:port`.
    pub listen: Option<Spanned<String>>,
    /// `auto` or a count.
    pub workers: Option<Spanned<Scalar>>,
    /// `auto`, `io_uring` or `tokio`.
    pub backend: Option<Spanned<String>>,
    /// io_uring ring and buffer-pool settings.
    pub io_uring: Option<Spanned<UringSpec>>,
    /// Limits and timeouts.
    pub limits: Option<Spanned<LimitsSpec>>,
    /// How long in-flight requests may run once shutdown begins.
    pub shutdown_grace: Option<Spanned<Scalar>>,
    /// Allow joining a port another process already listens on (`SO_REUSEPORT`).
    pub reuse_port: Option<Spanned<Scalar>>,
    /// scale (issue 18.3): after SIGTERM, how long to report not-ready while serving.
    pub drain: Option<Spanned<Scalar>>,
}

/// The keys of `server:`, for suggestions.
pub(crate) const SERVER_KEYS: &[&str] = &[
    "listen",
    "workers",
    "backend",
    "io_uring",
    "limits",
    "shutdown_grace",
    "reuse_port",
    "drain",
];

/// `server.io_uring`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UringSpec {
    /// Submission-queue entries per ring.
    pub entries: Option<Spanned<Scalar>>,
    /// Receive buffers per worker.
    pub num_bufs: Option<Spanned<Scalar>>,
    /// Size of each receive buffer.
    pub buf_size: Option<Spanned<Scalar>>,
    /// `false`: single-shot receives into each connection's own buffer, no shared ring.
    pub provided_buffers: Option<Spanned<Scalar>>,
    /// `false`: rings without `DEFER_TASKRUN`.
    pub defer_taskrun: Option<Spanned<Scalar>>,
}

/// The keys of `server.io_uring`, for suggestions.
pub(crate) const URING_KEYS: &[&str] = &[
    "entries",
    "num_bufs",
    "buf_size",
    "provided_buffers",
    "defer_taskrun",
];
