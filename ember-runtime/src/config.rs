//! Server settings: compiled in from `ember.yaml`, overridable from the environment.

// observe (obs, issue 16): the access-log, request-id and metrics settings.
pub(crate) mod observe;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Which I/O backend serves connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring when the kernel allows it, else tokio (the default).
    #[default]
    Auto,
    /// io_uring, failing at start-up if the kernel refuses it.
    IoUring,
    /// tokio's epoll reactor.
    Tokio,
}

impl Backend {
    /// The name used in `ember.yaml`, `EMBER_BACKEND` and the start-up line.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::IoUring => "io_uring",
            Backend::Tokio => "tokio",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "auto" => Ok(Backend::Auto),
            "io_uring" | "io-uring" | "uring" => Ok(Backend::IoUring),
            "tokio" | "epoll" => Ok(Backend::Tokio),
            other => Err(ConfigError::new(format!(
                "unknown backend `{other}` (expected io_uring, tokio or auto)"
            ))),
        }
    }
}

/// How many worker threads serve connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Workers {
    /// One per available core (the default).
    #[default]
    Auto,
    /// Exactly this many (at least one).
    Count(usize),
}

impl Workers {
    /// The number of workers this setting means on this machine.
    pub fn resolve(self) -> usize {
        match self {
            Workers::Auto => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            Workers::Count(n) => n.max(1),
        }
    }
}

impl FromStr for Workers {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        if s == "auto" {
            return Ok(Workers::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Workers::Count(n)),
            _ => Err(ConfigError::new(format!(
                "invalid worker count `{s}` (expected a whole number ≥ 1 or `auto`)"
            ))),
        }
    }
}

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: String) -> Self {
        ConfigError { message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Connection and request limits (`server.limits` in the spec). The defaults are safe for
/// a public server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub(crate) max_request_line: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_body_size: u64,
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) handler_timeout: Option<Duration>,
    pub(crate) max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body_size: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(30),
            handler_timeout: Some(Duration::from_secs(30)),
            max_connections: 10_000,
        }
    }
}

impl Limits {
    /// The defaults: 8 KiB request line, 16 KiB of headers, 100 headers, 1 MiB bodies, 10 s to
    /// send a head, 30 s to send a body, 30 s keep-alive idle, 30 s per handler, 10,000
    /// connections.
    pub fn new() -> Self {
        Self::default()
    }

    /// Longest request line (method, target, version); longer is `414`.
    pub fn max_request_line(mut self, bytes: usize) -> Self {
        self.max_request_line = bytes;
        self
    }

    /// Most bytes in a request head; more is `431`.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Most header fields in a request (at most 128); more is `431`.
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Largest request body; a larger `Content-Length` is `413` before the body is read.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Time a client has to send a whole request head once it starts one (slowloris).
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.header_read_timeout = d;
        self
    }

    /// Time a client has to send a request body once its head is in.
    pub fn body_read_timeout(mut self, d: Duration) -> Self {
        self.body_read_timeout = d;
        self
    }

    /// How long an idle keep-alive connection is kept.
    pub fn keep_alive_timeout(mut self, d: Duration) -> Self {
        self.keep_alive_timeout = d;
        self
    }

    /// How long a handler may run before the client gets `503` (`None`: no limit).
    pub fn handler_timeout(mut self, d: Option<Duration>) -> Self {
        self.handler_timeout = d;
        self
    }

    /// Most simultaneous connections (across all workers); more are closed on accept.
    pub fn max_connections(mut self, count: usize) -> Self {
        self.max_connections = count;
        self
    }
}

/// Per-route overrides of [`Limits`] (a route's `limits:` in the spec).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteLimits {
    /// The route's largest body, if it differs from the server's.
    pub max_body_size: Option<u64>,
    /// The route's handler timeout, if it differs from the server's (`Some(None)`: none).
    pub handler_timeout: Option<Option<Duration>>,
}

/// io_uring settings (`server.io_uring`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UringConfig {
    pub(crate) entries: u32,
    pub(crate) num_bufs: u16,
    pub(crate) buf_size: u32,
    pub(crate) provided_buffers: bool,
    pub(crate) defer_taskrun: bool,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            entries: 1024,
            num_bufs: 512,
            buf_size: 1024,
            provided_buffers: true,
            defer_taskrun: true,
        }
    }
}

impl UringConfig {
    /// 1024 submission entries, 512 receive buffers of 1 KiB (512 KiB per worker: a request
    /// head usually fits one buffer; larger ones span several).
    pub fn new() -> Self {
        Self::default()
    }

    /// Submission-queue entries per worker ring (a power of two, 8–32768).
    pub fn entries(mut self, n: u32) -> Self {
        self.entries = n;
        self
    }

    /// Receive buffers in each worker's provided-buffer ring (a power of two, ≤ 32768).
    pub fn num_bufs(mut self, n: u16) -> Self {
        self.num_bufs = n;
        self
    }

    /// Size of each receive buffer.
    pub fn buf_size(mut self, bytes: u32) -> Self {
        self.buf_size = bytes;
        self
    }

    /// Whether receives use the provided-buffer ring (multishot receives into `num_bufs`
    /// shared buffers; the default). `false` uses single-shot receives into each
    /// connection's own buffer instead, as on kernels without buffer rings: no shared pool,
    /// one submission per read.
    pub fn provided_buffers(mut self, on: bool) -> Self {
        self.provided_buffers = on;
        self
    }

    /// Whether each worker's ring is set up with `DEFER_TASKRUN` (the default, where the
    /// kernel has it: Linux 6.1+): completions are posted in one batch when the worker asks
    /// for them, never by interrupting it, and an eventfd wakes the worker's reactor. `false`
    /// (or `EMBER_IO_URING_DEFER=0`) keeps `COOP_TASKRUN` and the ring's own descriptor.
    pub fn defer_taskrun(mut self, on: bool) -> Self {
        self.defer_taskrun = on;
        self
    }
}

/// Server settings.
///
/// Generated code builds one from the spec's `server:` section; [`ServerConfig::apply_env`]
/// then lets `EMBER_LISTEN`, `EMBER_WORKERS` and `EMBER_BACKEND` override it.
///
/// ```
/// use std::time::Duration;
/// use ember_runtime::{Backend, Limits, ServerConfig, UringConfig, Workers};
///
/// let config = ServerConfig::new()
///     .listen("0.0.0.0:8080")
///     .workers(Workers::Count(4))
///     .backend(Backend::Auto)
///     .limits(
///         Limits::new()
///             .max_body_size(64 * 1024)
///             .handler_timeout(Some(Duration::from_secs(5))),
///     )
///     .io_uring(UringConfig::new().entries(512));
/// assert_eq!(config.listen_addr(), "0.0.0.0:8080");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub(crate) listen: String,
    pub(crate) workers: Workers,
    pub(crate) backend: Backend,
    pub(crate) limits: Limits,
    pub(crate) io_uring: UringConfig,
    pub(crate) shutdown_grace: Duration,
    pub(crate) reuse_port: bool,
    // observe (obs, issue 16)
    /// Access log, request ids, metrics.
    pub(crate) observe: observe::ObserveConfig,
    /// scale (issue 16.3/18.3): how long, after SIGTERM, the server reports not-ready
    /// while it keeps serving, before it closes its listener (zero: no drain).
    pub(crate) drain: Duration,
    /// Test-only: behave as if the kernel refused io_uring (to exercise `auto`'s fallback).
    #[cfg(feature = "test-util")]
    pub(crate) simulate_no_uring: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:8000".to_owned(),
            workers: Workers::Auto,
            backend: Backend::Auto,
            limits: Limits::default(),
            io_uring: UringConfig::default(),
            shutdown_grace: Duration::from_secs(10),
            reuse_port: false,
            // observe (obs, issue 16)
            observe: Default::default(),
            drain: Duration::ZERO,
            #[cfg(feature = "test-util")]
            simulate_no_uring: false,
        }
    }
}

impl ServerConfig {
    /// The defaults: `0.0.0.0:8000`, one worker per core, backend `auto`, [`Limits::new`],
    /// [`UringConfig::new`], 10 s shutdown grace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the address to listen on (`host:port`).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// Sets the number of worker threads.
    pub fn workers(mut self, workers: Workers) -> Self {
        self.workers = workers;
        self
    }

    /// Sets the I/O backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the io_uring settings.
    pub fn io_uring(mut self, io_uring: UringConfig) -> Self {
        self.io_uring = io_uring;
        self
    }

    /// Sets how long in-flight requests may run once shutdown begins.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// After SIGTERM, reports not-ready (`/readyz` answers `503`) for `drain` while
    /// serving as usual, so a load balancer stops sending new requests; then shuts down
    /// as without it (the listener closes, in-flight requests get the shutdown grace).
    /// Default: no drain. `EMBER_DRAIN_MS` overrides it.
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Lets the server join a port that another process already listens on with
    /// `SO_REUSEPORT` (a same-port handover during a restart). Off by default: starting on
    /// an address another socket holds is an error, so two apps never silently share
    /// traffic.
    pub fn reuse_port(mut self, allow: bool) -> Self {
        self.reuse_port = allow;
        self
    }

    /// Whether joining a port held by another process is allowed (see
    /// [`ServerConfig::reuse_port`]).
    pub fn reuse_port_setting(&self) -> bool {
        self.reuse_port
    }

    /// Test-only (feature `test-util`): behave as if the kernel refused io_uring, so `auto`
    /// falls back to tokio and `io_uring` fails to start.
    #[cfg(feature = "test-util")]
    #[doc(hidden)]
    pub fn simulate_io_uring_unavailable(mut self, yes: bool) -> Self {
        self.simulate_no_uring = yes;
        self
    }

    /// The limits.
    pub fn limit_settings(&self) -> &Limits {
        &self.limits
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> &str {
        &self.listen
    }

    /// The worker setting.
    pub fn worker_setting(&self) -> Workers {
        self.workers
    }

    /// The backend setting.
    pub fn backend_setting(&self) -> Backend {
        self.backend
    }

    // observe (obs, issue 16)
    /// Sets the access log (the spec's `access_log:`; default off).
    pub fn access_log(mut self, log: crate::AccessLog) -> Self {
        self.observe.access_log = log;
        self
    }

    /// Sets request ids (the spec's `request_id:`; `None`, the default: off).
    pub fn request_id(mut self, ids: Option<crate::RequestIdConfig>) -> Self {
        self.observe.request_id = ids;
        self
    }

    /// Turns metrics recording on or off (on when the spec has `metrics:`, whose route
    /// serves them; off, that route answers 404).
    pub fn metrics(mut self, on: bool) -> Self {
        self.observe.metrics = on;
        self
    }

    /// Applies `EMBER_LISTEN`, `EMBER_WORKERS`, `EMBER_BACKEND` and `EMBER_REUSE_PORT` from
    /// the process environment (and `EMBER_ACCESS_LOG`, `EMBER_ACCESS_LOG_PATH`,
    /// `EMBER_METRICS`, `EMBER_DRAIN_MS`, `EMBER_IO_URING_DEFER`).
    pub fn apply_env(self) -> Result<Self, ConfigError> {
        self.apply_vars(|k| std::env::var(k).ok())
    }

    /// Applies overrides from any variable source (the environment, in [`apply_env`]).
    ///
    /// [`apply_env`]: ServerConfig::apply_env
    pub fn apply_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if let Some(listen) = var("EMBER_LISTEN").filter(|v| !v.is_empty()) {
            self.listen = listen;
        }
        if let Some(w) = var("EMBER_WORKERS").filter(|v| !v.is_empty()) {
            self.workers = w
                .parse()
                .map_err(|e: ConfigError| ConfigError::new(format!("EMBER_WORKERS: {e}")))?;
        }
        if let Some(b) = var("EMBER_BACKEND").filter(|v| !v.is_empty()) {
            self.backend = b
                .parse()
                .map_err(|e: ConfigError| ConfigError::new(format!("EMBER_BACKEND: {e}")))?;
        }
        // scale: the drain period, in milliseconds.
        if let Some(d) = var("EMBER_DRAIN_MS").filter(|v| !v.is_empty()) {
            let ms: u64 = d.parse().map_err(|_| {
                ConfigError::new(format!("EMBER_DRAIN_MS: expected milliseconds, got `{d}`"))
            })?;
            self.drain = Duration::from_millis(ms);
        }
        if let Some(d) = var("EMBER_IO_URING_DEFER").filter(|v| !v.is_empty()) {
            self.io_uring.defer_taskrun = match d.as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                other => {
                    return Err(ConfigError::new(format!(
                        "EMBER_IO_URING_DEFER: expected 1/true/yes or 0/false/no, got `{other}`"
                    )));
                }
            };
        }
        if let Some(r) = var("EMBER_REUSE_PORT").filter(|v| !v.is_empty()) {
            self.reuse_port = match r.as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                other => {
                    return Err(ConfigError::new(format!(
                        "EMBER_REUSE_PORT: expected 1/true/yes or 0/false/no, got `{other}`"
                    )));
                }
            };
        }
        // observe (obs, issue 16)
        self.observe.apply_vars(&var)?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides() {
        let vars = |k: &str| match k {
            "EMBER_LISTEN" => Some("127.0.0.1:9".to_owned()),
            "EMBER_WORKERS" => Some("3".to_owned()),
            "EMBER_BACKEND" => Some("tokio".to_owned()),
            _ => None,
        };
        let c = ServerConfig::new().apply_vars(vars).expect("valid");
        assert_eq!(c.listen_addr(), "127.0.0.1:9");
        assert_eq!(c.worker_setting(), Workers::Count(3));
        assert_eq!(c.backend_setting(), Backend::Tokio);
    }

    #[test]
    fn bad_env_values_are_errors() {
        let e = ServerConfig::new()
            .apply_vars(|k| (k == "EMBER_WORKERS").then(|| "0".to_owned()))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("EMBER_WORKERS: invalid worker count `0`"),
            "{e}"
        );
        let e = ServerConfig::new()
            .apply_vars(|k| (k == "EMBER_BACKEND").then(|| "kqueue".to_owned()))
            .unwrap_err();
        assert!(e.to_string().contains("unknown backend `kqueue`"), "{e}");
    }

    #[test]
    fn unset_and_empty_vars_change_nothing() {
        let c = ServerConfig::new()
            .apply_vars(|_| Some(String::new()))
            .expect("valid");
        assert_eq!(c, ServerConfig::new());
    }
}
