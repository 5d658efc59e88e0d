//! The end-to-end app served by `ember_runtime::run`, for `tests/tests/log.rs`: it shows
//! which `tracing` subscriber the runtime's warnings reach. With
//! `EMBER_PROBE_OWN_SUBSCRIBER=1` the app installs its own subscriber first, one that
//! prefixes every line with `app-subscriber| `, as an application with its own logging
//! would.

use std::io::Write;

/// Writes to stderr, each write prefixed.
struct Prefixed;

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        err.write_all(b"app-subscriber| ")?;
        err.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() -> std::process::ExitCode {
    if std::env::var_os("EMBER_PROBE_OWN_SUBSCRIBER").is_some() {
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
            .with_writer(|| Prefixed)
            .init();
    }
    match ember_runtime::run(ember_tests::App) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ember_log_probe: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
