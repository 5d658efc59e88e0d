//! The default `tracing` subscriber: what makes the runtime's warnings (a remote cache or
//! rate-limit store that is down, a dropped header, a failed accept) visible when the
//! application installed no subscriber of its own.
//!
//! [`crate::run`] calls [`install_default`] before it starts the server. An application
//! that wants its own subscriber installs it first (`tracing_subscriber::fmt().init()`,
//! or any other global default) and keeps it: the default is only installed when no global
//! subscriber has been set. An application that calls `Server::run` or `Server::start`
//! directly may call [`install_default`] itself.
//!
//! The filter comes from `EMBER_LOG`, else `RUST_LOG`, else `warn` (an empty variable
//! counts as unset), in `tracing-subscriber`'s `EnvFilter` syntax: a level (`error`,
//! `warn`, `info`, `debug`, `trace`, `off`) or directives such as
//! `warn,ember_runtime=debug`. Lines go to stderr, without colour.

use tracing_subscriber::EnvFilter;

/// The variable read first for the default subscriber's filter.
pub const ENV: &str = "EMBER_LOG";
/// The variable read when [`ENV`] is unset or empty.
pub const FALLBACK_ENV: &str = "RUST_LOG";
/// The filter when neither variable is set.
pub const DEFAULT_FILTER: &str = "warn";

/// Installs the default subscriber (see the module docs) unless a global one is already
/// set; returns whether it was installed. A filter that does not parse is reported on
/// stderr and replaced by [`DEFAULT_FILTER`]; never panics.
pub fn install_default() -> bool {
    if tracing::dispatcher::has_been_set() {
        return false;
    }
    let (source, spec) = choose(
        std::env::var(ENV).ok().as_deref(),
        std::env::var(FALLBACK_ENV).ok().as_deref(),
    );
    let filter = match EnvFilter::builder().parse(&spec) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "ember: {source}=`{spec}` is not a log filter ({e}); logging at `{DEFAULT_FILTER}`"
            );
            EnvFilter::new(DEFAULT_FILTER)
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .is_ok()
}

/// The filter for these values of [`ENV`] and [`FALLBACK_ENV`], and where it came from.
fn choose(ember: Option<&str>, rust: Option<&str>) -> (&'static str, String) {
    let set = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(v) = set(ember) {
        (ENV, v)
    } else if let Some(v) = set(rust) {
        (FALLBACK_ENV, v)
    } else {
        ("default", DEFAULT_FILTER.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ember_log_then_rust_log_then_warn() {
        let pick = |e, r| choose(e, r);
        assert_eq!(pick(None, None), ("default", "warn".to_owned()));
        assert_eq!(pick(Some(""), Some("  ")), ("default", "warn".to_owned()));
        assert_eq!(pick(None, Some("debug")), ("RUST_LOG", "debug".to_owned()));
        assert_eq!(
            pick(Some(" "), Some("info")),
            ("RUST_LOG", "info".to_owned())
        );
        assert_eq!(
            pick(Some("error"), Some("debug")),
            ("EMBER_LOG", "error".to_owned())
        );
        assert_eq!(
            pick(Some("warn,ember_runtime=debug"), None),
            ("EMBER_LOG", "warn,ember_runtime=debug".to_owned())
        );
    }

    #[test]
    fn the_filters_we_document_parse_and_nonsense_does_not() {
        for ok in ["warn", "error", "off", "trace", "warn,ember_runtime=debug"] {
            assert!(EnvFilter::builder().parse(ok).is_ok(), "{ok}");
        }
        assert!(EnvFilter::builder().parse("warn,=[").is_err());
    }
}
