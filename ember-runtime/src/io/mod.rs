//! Drivers: the connection loop shared by both backends, and the backends themselves.
//!
//! [`conn::serve`] runs the sans-IO HTTP core over anything that implements [`Transport`];
//! `tokio` implements it over tokio sockets, `uring` over an io_uring owned by the worker.

pub(crate) mod backend;
pub(crate) mod conn;
pub(crate) mod pool;
pub(crate) mod timer;
pub(crate) mod tokio;
#[cfg(target_os = "linux")]
pub(crate) mod uring;

use std::cell::Cell;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ::tokio::sync::Notify;

/// A byte stream a connection is served over.
pub(crate) trait Transport {
    /// Reads into `buf`, appending; `Ok(0)` means end of stream. When `buf` has no
    /// capacity (an idle connection holds none), the transport takes one from `pool` only
    /// once bytes have arrived.
    async fn read(&mut self, buf: &mut Vec<u8>, pool: &pool::BufPool) -> io::Result<usize>;
    /// Writes all of `buf`, then clears it (keeping its capacity).
    async fn write_all(&mut self, buf: &mut Vec<u8>) -> io::Result<()>;
    /// While a response streams: waits until the peer sends more bytes or closes,
    /// appending what arrived to `buf` (`Ok(0)`: the peer closed its end; an error: the
    /// connection broke). Cancel-safe: dropped before it resolves it loses no bytes, so the
    /// connection loop races it against the body stream. The default never resolves (a
    /// transport that cannot watch notices a gone peer only when a write fails).
    async fn watch(&mut self, buf: &mut Vec<u8>, pool: &pool::BufPool) -> io::Result<usize> {
        let _ = (buf, pool);
        std::future::pending().await
    }
    /// The connection's socket, whose peer address `Request::peer_ip` looks up on first
    /// use (`None`: the transport has no socket, and requests have no peer address).
    fn socket_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}

/// The process-wide connection limit (`max_connections`), shared by every worker: one
/// atomic count, incremented when a connection is admitted and decremented when it closes.
#[derive(Debug, Default)]
pub(crate) struct ConnLimit {
    live: AtomicUsize,
    /// Most connections served at once across all workers (0: no limit).
    max: usize,
}

impl ConnLimit {
    /// A limit of `max` connections (0: no limit).
    pub(crate) fn new(max: usize) -> Arc<ConnLimit> {
        Arc::new(ConnLimit {
            live: AtomicUsize::new(0),
            max,
        })
    }

    /// Counts a new connection in, unless that would exceed the limit; the permit counts it
    /// out when dropped.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<ConnPermit> {
        if self.max == 0 {
            self.live.fetch_add(1, Ordering::Relaxed);
        } else {
            self.live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < self.max).then_some(n + 1)
                })
                .ok()?;
        }
        Some(ConnPermit(self.clone()))
    }

    /// Connections admitted and not yet closed.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }
}

/// One admitted connection; see [`ConnLimit::admit`].
#[derive(Debug)]
pub(crate) struct ConnPermit(Arc<ConnLimit>);

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Per-worker state shared by its connections: the shutdown flag, the live count, the
/// process-wide connection limit and the coarse timers.
#[derive(Debug, Default)]
pub(crate) struct WorkerState {
    shutting_down: Cell<bool>,
    notify: Notify,
    active: Cell<usize>,
    drained: Notify,
    /// The connection limit shared with the other workers.
    pub(crate) connections: Arc<ConnLimit>,
    /// The connections' deadlines.
    pub(crate) timers: timer::Timers,
    /// Read and write buffers not in use.
    pub(crate) pool: pool::BufPool,
    // observe (obs, issue 16)
    /// Access log, request ids and metrics of this worker (`None`: all off).
    pub(crate) observe: Option<std::rc::Rc<crate::observe::Worker>>,
}

impl WorkerState {
    /// State for a lone worker that serves at most `max_connections` at once.
    pub(crate) fn new(max_connections: usize) -> Self {
        Self::with_limit(ConnLimit::new(max_connections))
    }

    /// State for a worker sharing `connections` with the other workers.
    pub(crate) fn with_limit(connections: Arc<ConnLimit>) -> Self {
        WorkerState {
            connections,
            ..WorkerState::default()
        }
    }

    /// Starts a graceful shutdown: idle connections close, busy ones finish their batch.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.set(true);
        self.notify.notify_waiters();
        // Idle keep-alive connections wait on their timers only (no shutdown future per
        // read): expiring those timers closes them.
        self.timers.expire_idle();
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

#[cfg(test)]
mod tests {
    use super::ConnLimit;

    #[test]
    fn the_connection_limit_is_shared_by_every_holder() {
        let limit = ConnLimit::new(3);
        // Admissions from several threads (workers) count against one total.
        let permits: Vec<_> = (0..3)
            .map(|_| {
                let l = limit.clone();
                std::thread::spawn(move || l.admit().expect("under the limit"))
            })
            .map(|t| t.join().expect("thread"))
            .collect();
        assert_eq!(limit.live(), 3);
        assert!(limit.admit().is_none(), "over the limit");
        drop(permits);
        assert_eq!(limit.live(), 0);
        assert!(limit.admit().is_some());
        // 0: no limit, still counted.
        let none = ConnLimit::new(0);
        let many: Vec<_> = (0..100).filter_map(|_| none.admit()).collect();
        assert_eq!(none.live(), 100);
        drop(many);
        assert_eq!(none.live(), 0);
    }
}
