//! Drivers: the connection loop shared by both backends, and the backends themselves.
//!
//! [`conn::serve`] runs the sans-IO HTTP core over anything that implements [`Transport`];
//! `tokio` implements it over tokio sockets, `uring` over an io_uring owned by the worker.

pub(crate) mod conn;
pub(crate) mod pool;
pub(crate) mod timer;
pub(crate) mod tokio;
#[cfg(target_os = "linux")]
pub(crate) mod uring;

use std::cell::Cell;
use std::io;

use ::tokio::sync::Notify;

/// A byte stream a connection is served over.
pub(crate) trait Transport {
    /// Reads into `buf`, appending; `Ok(0)` means end of stream. When `buf` has no
    /// capacity (an idle connection holds none), the transport takes one from `pool` only
    /// once bytes have arrived.
    async fn read(&mut self, buf: &mut Vec<u8>, pool: &pool::BufPool) -> io::Result<usize>;
    /// Writes all of `buf`, then clears it (keeping its capacity).
    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()>;
    /// The peer's IP address, read once per connection (for `Request::peer_ip`).
    fn peer_ip(&self) -> Option<std::net::IpAddr> {
        None
    }
}

/// Per-worker state shared by its connections: the shutdown flag, the live count, the
/// connection limit and the coarse timers.
#[derive(Debug, Default)]
pub(crate) struct WorkerState {
    shutting_down: Cell<bool>,
    notify: Notify,
    active: Cell<usize>,
    drained: Notify,
    /// Most connections this worker serves at once (0: no limit).
    pub(crate) max_connections: usize,
    /// The connections' deadlines.
    pub(crate) timers: timer::Timers,
    /// Read and write buffers not in use.
    pub(crate) pool: pool::BufPool,
}

impl WorkerState {
    /// State for a worker that serves at most `max_connections` at once.
    pub(crate) fn new(max_connections: usize) -> Self {
        WorkerState {
            max_connections,
            ..WorkerState::default()
        }
    }

    /// Whether another connection would exceed the limit.
    pub(crate) fn at_capacity(&self) -> bool {
        self.max_connections != 0 && self.active.get() >= self.max_connections
    }

    /// Starts a graceful shutdown: idle connections close, busy ones finish their batch.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.set(true);
        self.notify.notify_waiters();
    }

    /// Whether a shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// Resolves once a shutdown has begun.
    pub(crate) async fn shutdown_started(&self) {
        let notified = self.notify.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if self.shutting_down.get() {
            return;
        }
        notified.await;
    }

    /// Counts a connection in; the guard counts it out when dropped.
    pub(crate) fn enter(&self) -> ActiveGuard<'_> {
        self.active.set(self.active.get() + 1);
        ActiveGuard(self)
    }

    /// Resolves when no connection is left.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.active.get() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts one live connection; see [`WorkerState::enter`].
#[derive(Debug)]
pub(crate) struct ActiveGuard<'a>(&'a WorkerState);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        let n = self.0.active.get() - 1;
        self.0.active.set(n);
        if n == 0 {
            self.0.drained.notify_waiters();
        }
    }
}
