//! `server:`: address, workers, backend, io_uring settings.

use std::time::Duration;

use super::{Builder, LimitsPlan};
use crate::spec::ServerSpec;
use crate::validate::server::{Server, Uring, server};

/// `server.io_uring` settings given in the spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UringPlan {
    /// `entries`.
    pub entries: Option<u32>,
    /// `num_bufs`.
    pub num_bufs: Option<u16>,
    /// `buf_size`.
    pub buf_size: Option<u32>,
    /// `provided_buffers`.
    pub provided_buffers: Option<bool>,
    /// `defer_taskrun`.
    pub defer_taskrun: Option<bool>,
}

/// Server settings given in the spec (unset ones take the runtime's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerPlan {
    /// `host:port`.
    pub listen: Option<String>,
    /// `None` = auto.
    pub workers: Option<usize>,
    /// `auto`, `io_uring` or `tokio`.
    pub backend: Option<String>,
    /// `limits`.
    pub limits: LimitsPlan,
    /// `io_uring`.
    pub io_uring: UringPlan,
    /// `shutdown_grace`.
    pub shutdown_grace: Option<Duration>,
    /// `reuse_port`.
    pub reuse_port: Option<bool>,
    /// `drain` (scale).
    pub drain: Option<Duration>,
}

impl From<Uring> for UringPlan {
    fn from(u: Uring) -> UringPlan {
        UringPlan {
            entries: u.entries,
            num_bufs: u.num_bufs,
            buf_size: u.buf_size,
            provided_buffers: u.provided_buffers,
            defer_taskrun: u.defer_taskrun,
        }
    }
}

impl From<Server> for ServerPlan {
    fn from(s: Server) -> ServerPlan {
        ServerPlan {
            listen: s.listen,
            workers: s.workers,
            backend: s.backend,
            limits: s.limits.into(),
            io_uring: s.io_uring.into(),
            shutdown_grace: s.shutdown_grace,
            reuse_port: s.reuse_port,
            drain: s.drain,
        }
    }
}

/// The server settings `s` gives, checked by [`crate::validate::server`].
pub(super) fn server_plan(cx: &mut Builder<'_, '_>, s: &ServerSpec) -> ServerPlan {
    server(cx, s).into()
}
