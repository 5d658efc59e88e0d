//! The two backends behind one small trait: each owns its worker's lifecycle (what it needs
//! before the worker's runtime exists, what it serves with, what it tears down), and
//! [`choose`] resolves the configured [`Backend`] (probing io_uring for `auto`). The server
//! only picks the engine type; it never touches a ring.

use std::io;
use std::net::TcpListener;
use std::rc::Rc;

use super::WorkerState;
use crate::config::{Backend, Limits, ServerConfig};
use crate::service::Service;

/// One backend's worker lifecycle.
pub(crate) trait Engine: Sized {
    /// Makes what one worker needs before its runtime is built (io_uring: the ring) and
    /// hooks it into the runtime `builder`. Runs on the worker's thread.
    fn prepare(config: &ServerConfig, builder: &mut tokio::runtime::Builder) -> io::Result<Self>;

    /// Accepts on `listener` and serves every connection on this thread until the worker
    /// shuts down. Runs inside the worker's `LocalSet`.
    async fn serve<S: Service>(
        &self,
        listener: TcpListener,
        service: S,
        limits: Limits,
        worker: Rc<WorkerState>,
    ) -> io::Result<()>;

    /// Tears down what [`Engine::prepare`] made, once the worker's runtime is gone.
    fn finish(self) {}
}

/// The tokio (epoll) backend: nothing to prepare or tear down.
pub(crate) struct Tokio;

impl Engine for Tokio {
    fn prepare(_: &ServerConfig, _: &mut tokio::runtime::Builder) -> io::Result<Self> {
        Ok(Tokio)
    }

    async fn serve<S: Service>(
        &self,
        listener: TcpListener,
        service: S,
        limits: Limits,
        worker: Rc<WorkerState>,
    ) -> io::Result<()> {
        super::tokio::serve(listener, service, limits, worker).await
    }
}

/// The io_uring backend (a ring per worker).
#[cfg(target_os = "linux")]
pub(crate) use super::uring::Uring;

/// io_uring off Linux: never chosen ([`choose`] refuses it), and refusing to start.
#[cfg(not(target_os = "linux"))]
pub(crate) struct Uring;

#[cfg(not(target_os = "linux"))]
impl Engine for Uring {
    fn prepare(_: &ServerConfig, _: &mut tokio::runtime::Builder) -> io::Result<Self> {
        Err(unsupported())
    }

    async fn serve<S: Service>(
        &self,
        _: TcpListener,
        _: S,
        _: Limits,
        _: Rc<WorkerState>,
    ) -> io::Result<()> {
        Err(unsupported())
    }
}

#[cfg(not(target_os = "linux"))]
fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "io_uring is only available on Linux",
    )
}

/// Resolves `Auto` by probing io_uring; an explicit `IoUring` that the kernel refuses is an
/// error.
pub(crate) fn choose(config: &ServerConfig) -> io::Result<Backend> {
    let wanted = config.backend_setting();
    #[cfg(target_os = "linux")]
    {
        let probe = || {
            #[cfg(feature = "test-util")]
            if config.simulate_no_uring {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "io_uring refused (simulated for a test)",
                ));
            }
            probe_uring()
        };
        match wanted {
            Backend::Tokio => Ok(Backend::Tokio),
            Backend::IoUring => probe()
                .map(|()| Backend::IoUring)
                .map_err(|e| io::Error::new(e.kind(), format!("io_uring unavailable: {e}"))),
            Backend::Auto => match probe() {
                Ok(()) => Ok(Backend::IoUring),
                Err(e) => {
                    eprintln!("ember: io_uring unavailable ({e}); falling back to backend=tokio");
                    Ok(Backend::Tokio)
                }
            },
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        match wanted {
            Backend::IoUring => Err(unsupported()),
            _ => Ok(Backend::Tokio),
        }
    }
}

/// Probes io_uring on a thread of its own. When a ring is closed, the kernel finishes
/// tearing it down with task work queued on the thread that created it (`TWA_SIGNAL`),
/// which interrupts that thread's next blocking system call: a `recv` with a timeout then
/// fails with `EINTR`. The caller's thread (often the application's main thread) must not
/// see that, so the probe's ring is made and closed elsewhere.
#[cfg(target_os = "linux")]
fn probe_uring() -> io::Result<()> {
    std::thread::Builder::new()
        .name("ember-uring-probe".into())
        .spawn(super::uring::Driver::probe)?
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the io_uring probe panicked")))
}
