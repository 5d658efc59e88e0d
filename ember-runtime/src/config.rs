//! Server settings: compiled in from `ember.yaml`, overridable from the environment.

use std::fmt;
use std::str::FromStr;

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
    fn new(message: String) -> Self {
        ConfigError { message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Server settings.
///
/// Generated code builds one from the spec's `server:` section; [`ServerConfig::apply_env`]
/// then lets `EMBER_LISTEN`, `EMBER_WORKERS` and `EMBER_BACKEND` override it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub(crate) listen: String,
    pub(crate) workers: Workers,
    pub(crate) backend: Backend,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:8000".to_owned(),
            workers: Workers::Auto,
            backend: Backend::Auto,
        }
    }
}

impl ServerConfig {
    /// The defaults: `0.0.0.0:8000`, one worker per core, backend `auto`.
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

    /// Applies `EMBER_LISTEN`, `EMBER_WORKERS` and `EMBER_BACKEND` from the process
    /// environment.
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
