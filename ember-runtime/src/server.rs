//! Workers, listeners, backend selection and shutdown.
//!
//! Each worker is a thread with its own tokio current-thread runtime and its own
//! `SO_REUSEPORT` listener, so the kernel spreads connections across workers and no state
//! is shared on the request path (the one exception: the process-wide `max_connections`
//! count, an atomic touched once per connection). With io_uring, each worker also owns one
//! ring.
//!
//! The first listener is bound before `SO_REUSEPORT` is turned on, so an address another
//! socket already holds is an error naming it, rather than a silent share of the traffic
//! with another process; `reuse_port` (`server.reuse_port`, `EMBER_REUSE_PORT=1`) allows
//! joining such a port on purpose.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

use crate::config::{Backend, ServerConfig};
use crate::http::date;
use crate::io::backend::{Engine, Tokio, Uring};
use crate::io::timer::TICK;
use crate::io::{ConnLimit, WorkerState};
use crate::observe; // observe (obs)
use crate::service::Service;

/// A server ready to start: a service and its settings.
#[derive(Debug)]
pub struct Server<S> {
    service: S,
    config: ServerConfig,
}

impl<S: Service> Server<S> {
    /// A server for `service` with the settings from its spec (no environment overrides).
    pub fn new(service: S) -> Self {
        let config = service.config();
        Server { service, config }
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The settings the server will use.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Binds and starts every worker on background threads; the handle stops them.
    pub fn start(self) -> io::Result<ServerHandle> {
        self.service.prepare()?;
        let plan = Plan::new(&self.config)?;
        // observe (obs): the server's access log, request ids and metrics.
        let observe = observe::Server::new(&self.config.observe, self.service.metric_families())?;
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let workers = plan.listeners.len();
        let mut threads = Vec::with_capacity(workers);
        for (id, listener) in plan.listeners.into_iter().enumerate() {
            let service = self.service.clone();
            let rx = rx.clone();
            let backend = plan.backend;
            let config = self.config.clone();
            let connections = plan.connections.clone();
            let observe = observe.clone(); // observe (obs)
            let t = std::thread::Builder::new()
                .name(format!("ember-worker-{id}"))
                .spawn(move || {
                    let connections = (connections, observe);
                    worker_main(listener, backend, &config, connections, service, rx, None)
                })?;
            threads.push(t);
        }
        Ok(ServerHandle {
            local_addr: plan.local_addr,
            backend: plan.backend,
            workers: threads.len(),
            shutdown: tx,
            threads,
        })
    }

    /// Binds, prints the start-up line to stderr, and serves until SIGINT or SIGTERM.
    ///
    /// Worker 0 runs on the calling thread: with one worker, no thread is spawned.
    pub fn run(self) -> io::Result<()> {
        self.service.prepare()?;
        let plan = Plan::new(&self.config)?;
        // observe (obs): the server's access log, request ids and metrics.
        let observe = observe::Server::new(&self.config.observe, self.service.metric_families())?;
        eprintln!(
            "ember: listening on http://{} backend={} workers={}",
            plan.local_addr,
            plan.backend,
            plan.listeners.len()
        );
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let mut listeners = plan.listeners.into_iter();
        let first = listeners
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no workers"))?;
        let mut threads = Vec::new();
        for (i, listener) in listeners.enumerate() {
            let service = self.service.clone();
            let rx = rx.clone();
            let backend = plan.backend;
            let config = self.config.clone();
            let connections = (plan.connections.clone(), observe.clone()); // observe (obs)
            threads.push(
                std::thread::Builder::new()
                    .name(format!("ember-worker-{}", i + 1))
                    .spawn(move || {
                        worker_main(listener, backend, &config, connections, service, rx, None)
                    })?,
            );
        }
        let result = worker_main(
            first,
            plan.backend,
            &self.config,
            (plan.connections.clone(), observe), // observe (obs)
            self.service,
            rx,
            Some(tx.clone()),
        );
        let _ = tx.send(true);
        for t in threads {
            let _ = t.join();
        }
        result
    }
}

/// Runs `service` with its spec settings and the `EMBER_*` environment overrides until
/// SIGINT or SIGTERM. This is what a generated app's `main` calls. It first installs the
/// default `tracing` subscriber (`EMBER_LOG`, else `RUST_LOG`, else `warn`, to stderr)
/// unless the application installed one: see [`crate::log`].
///
/// ```ignore
/// fn main() -> std::io::Result<()> {
///     ember_runtime::run(hello::App) // the generated app of the crate `hello`
/// }
/// ```
pub fn run<S: Service>(service: S) -> io::Result<()> {
    crate::log::install_default();
    let config = service
        .config()
        .apply_env()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Server::new(service).with_config(config).run()
}

/// A running server started with [`Server::start`]; dropping it shuts the server down.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    backend: Backend,
    workers: usize,
    shutdown: Arc<watch::Sender<bool>>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when `:0` was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The backend in use (never `Auto`).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the workers.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        let _ = self.shutdown.send(true);
        let mut result = Ok(());
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(io::Error::other("a worker panicked")),
            }
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The bound listeners, the chosen backend and the process-wide connection limit.
struct Plan {
    listeners: Vec<TcpListener>,
    local_addr: SocketAddr,
    backend: Backend,
    connections: Arc<ConnLimit>,
}

impl Plan {
    fn new(config: &ServerConfig) -> io::Result<Plan> {
        let backend = crate::io::backend::choose(config)?;
        let addr = config
            .listen_addr()
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "listen address `{}` resolves to nothing",
                        config.listen_addr()
                    ),
                )
            })?;
        let workers = config.worker_setting().resolve();
        let first = bind_first(addr, config.reuse_port_setting())?;
        let local_addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..workers {
            listeners.push(bind(local_addr, true)?);
        }
        Ok(Plan {
            listeners,
            local_addr,
            backend,
            connections: ConnLimit::new(config.limits.max_connections),
        })
    }
}

/// The first worker's listener. Unless `reuse_port` is set, it is bound *without*
/// `SO_REUSEPORT`, so the bind fails when any other socket (another process's, with or
/// without `SO_REUSEPORT`) already holds the address; only then is `SO_REUSEPORT` turned on,
/// before `listen`, so the other workers can join it. With `reuse_port`, the address may be
/// shared with another process on purpose (a same-port handover during a restart).
fn bind_first(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    bind(addr, reuse_port).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{addr} is already in use by another socket (to share the port with another \
                     process on purpose, set `server.reuse_port: true` or EMBER_REUSE_PORT=1)"
                ),
            )
        } else {
            io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
        }
    })
}

/// A listening socket on `addr`. With `join`, `SO_REUSEPORT` is set before binding (the
/// address may already be held by sockets that also set it); without, it is set only once
/// the bind has succeeded, so the bind itself fails if anything else holds the address, and
/// later workers can still join.
fn bind(addr: SocketAddr, join: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if join {
        socket.set_reuse_port(true)?;
    }
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: no syscall per
    // connection.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    #[cfg(unix)]
    if !join {
        socket.set_reuse_port(true)?;
    }
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

// observe (obs): what every worker of a server shares: the connection limit and the
// observability state.
type Shared = (Arc<ConnLimit>, Option<Arc<observe::Server>>);

/// One worker on the chosen backend.
fn worker_main<S: Service>(
    listener: TcpListener,
    backend: Backend,
    config: &ServerConfig,
    connections: Shared,
    service: S,
    shutdown: watch::Receiver<bool>,
    signals: Option<Arc<watch::Sender<bool>>>,
) -> io::Result<()> {
    match backend {
        Backend::IoUring => {
            worker::<Uring, S>(listener, config, connections, service, shutdown, signals)
        }
        Backend::Tokio | Backend::Auto => {
            worker::<Tokio, S>(listener, config, connections, service, shutdown, signals)
        }
    }
}

/// One worker: a current-thread runtime (and what the backend `E` prepares for it),
/// serving until shutdown.
fn worker<E: Engine, S: Service>(
    listener: TcpListener,
    config: &ServerConfig,
    (connections, observe): Shared,
    service: S,
    mut shutdown: watch::Receiver<bool>,
    signals: Option<Arc<watch::Sender<bool>>>,
) -> io::Result<()> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    let engine = E::prepare(config, &mut builder)?;
    let rt = builder.build()?;
    let local = tokio::task::LocalSet::new();
    let limits = config.limits;
    let mut worker = WorkerState::with_limit(connections);
    // observe (obs): this worker's access-log buffer and metric cells.
    worker.observe = observe.map(|o| Rc::new(o.worker()));
    let worker = Rc::new(worker);
    let grace = config.shutdown_grace;
    let drain = config.drain;

    let hooks = service.clone();
    let result = local.block_on(&rt, async {
        if let Some(o) = &worker.observe {
            o.start(); // observe (obs)
        }
        hooks.on_worker_start();
        {
            let worker = worker.clone();
            tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(TICK);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    date::refresh();
                    worker.timers.sweep();
                }
            });
        }
        {
            let worker = worker.clone();
            tokio::task::spawn_local(async move {
                wait_for_shutdown(&mut shutdown, signals, drain).await;
                worker.begin_shutdown();
            });
        }
        let served = engine
            .serve(listener, service, limits, worker.clone())
            .await;
        // Accepting has stopped; give busy connections the grace period to finish.
        let _ = tokio::time::timeout(grace, worker.drained()).await;
        hooks.on_worker_stop();
        if let Some(o) = &worker.observe {
            o.stop(); // observe (obs)
        }
        served
    });
    drop(local);
    drop(rt);
    engine.finish();
    result
}

/// Resolves when the handle asks for shutdown or, on the main worker, a signal arrives.
async fn wait_for_shutdown(
    shutdown: &mut watch::Receiver<bool>,
    signals: Option<Arc<watch::Sender<bool>>>,
    drain: Duration,
) {
    let Some(tx) = signals else {
        let _ = shutdown.wait_for(|&stop| stop).await;
        return;
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(t), Ok(i)) => (t, i),
            _ => {
                let _ = shutdown.wait_for(|&stop| stop).await;
                return;
            }
        };
        let term_seen = tokio::select! {
            _ = shutdown.wait_for(|&stop| stop) => false,
            _ = term.recv() => true,
            _ = int.recv() => {
                eprintln!("ember: SIGINT, shutting down");
                false
            }
        };
        if term_seen {
            // scale: not ready at once, serving for the drain period, then closing.
            crate::probe::begin_drain();
            if drain.is_zero() {
                eprintln!("ember: SIGTERM, shutting down");
            } else {
                eprintln!("ember: SIGTERM, draining for {drain:?} (not ready), then shutting down");
                tokio::select! {
                    _ = shutdown.wait_for(|&stop| stop) => {}
                    _ = tokio::time::sleep(drain) => {}
                    _ = int.recv() => {}
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = drain;
        tokio::select! {
            _ = shutdown.wait_for(|&stop| stop) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    let _ = tx.send(true);
}
