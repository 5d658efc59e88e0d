//! The settings of the spec's `access_log:`, `request_id:` and `metrics:` as the runtime
//! takes them: part of [`crate::ServerConfig`], so code (and the `EMBER_ACCESS_LOG`,
//! `EMBER_ACCESS_LOG_PATH`, `EMBER_METRICS` variables) can override what the spec says.

use std::path::PathBuf;

use super::ConfigError;

/// How access-log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// No access log (the default): nothing is formatted or written.
    #[default]
    Off,
    /// The Common Log Format, with the route template, request id and duration appended.
    Common,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for AccessLogFormat {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "off" | "false" | "none" => Ok(AccessLogFormat::Off),
            "common" | "clf" => Ok(AccessLogFormat::Common),
            "json" => Ok(AccessLogFormat::Json),
            other => Err(ConfigError::new(format!(
                "unknown access log format `{other}` (expected off, common or json)"
            ))),
        }
    }
}

/// Where access-log lines go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// Standard output (the default).
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, opened for appending when the server starts (created if missing).
    File(PathBuf),
}

impl AccessLogTarget {
    /// `stdout`, `stderr`, or a file path.
    pub fn parse(s: &str) -> AccessLogTarget {
        match s {
            "stdout" | "-" => AccessLogTarget::Stdout,
            "stderr" => AccessLogTarget::Stderr,
            path => AccessLogTarget::File(PathBuf::from(path)),
        }
    }
}

/// The access log: one line per answered request (see `docs/spec.md`, `access_log:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessLog {
    /// The line format (`Off`: no log).
    pub format: AccessLogFormat,
    /// Where lines go.
    pub target: AccessLogTarget,
}

impl AccessLog {
    /// A log in `format` written to `target`.
    pub fn new(format: AccessLogFormat, target: AccessLogTarget) -> Self {
        AccessLog { format, target }
    }
}

/// Request ids (the spec's `request_id:`): each request gets one, echoed on its response,
/// in its access-log line and given to its handler (`Request::request_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIdConfig {
    /// The header read from the client and set on the response (`X-Request-Id`).
    pub header: String,
    /// Whether a well-formed id sent by the client is kept (else one is always generated).
    pub accept: bool,
}

impl Default for RequestIdConfig {
    fn default() -> Self {
        RequestIdConfig {
            header: "X-Request-Id".to_owned(),
            accept: true,
        }
    }
}

/// Everything observability in a [`crate::ServerConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ObserveConfig {
    /// The access log.
    pub(crate) access_log: AccessLog,
    /// Request ids (`None`: off).
    pub(crate) request_id: Option<RequestIdConfig>,
    /// Whether metrics are recorded (the spec's `metrics:` route serves them).
    pub(crate) metrics: bool,
}

impl ObserveConfig {
    /// Whether any per-request work is on.
    pub(crate) fn any(&self) -> bool {
        self.metrics || self.request_id.is_some() || self.access_log.format != AccessLogFormat::Off
    }

    /// Applies `EMBER_ACCESS_LOG` (off | common | json), `EMBER_ACCESS_LOG_PATH` and
    /// `EMBER_METRICS` (on | off).
    pub(crate) fn apply_vars(
        &mut self,
        var: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(f) = var("EMBER_ACCESS_LOG").filter(|v| !v.is_empty()) {
            self.access_log.format = f
                .parse()
                .map_err(|e: ConfigError| ConfigError::new(format!("EMBER_ACCESS_LOG: {e}")))?;
        }
        if let Some(p) = var("EMBER_ACCESS_LOG_PATH").filter(|v| !v.is_empty()) {
            self.access_log.target = AccessLogTarget::parse(&p);
        }
        if let Some(m) = var("EMBER_METRICS").filter(|v| !v.is_empty()) {
            self.metrics = match m.as_str() {
                "1" | "true" | "on" | "yes" => true,
                "0" | "false" | "off" | "no" => false,
                other => {
                    return Err(ConfigError::new(format!(
                        "EMBER_METRICS: expected on or off, got `{other}`"
                    )));
                }
            };
        }
        Ok(())
    }
}
