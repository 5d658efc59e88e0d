//! scale (issue 18): one instance of the e2e app served by `ember_runtime::run` (SIGTERM,
//! drain and the `EMBER_*` overrides as in production), for tests/tests/scale*.rs and
//! bench/scale, which start several behind HAProxy.

fn main() -> std::process::ExitCode {
    match ember_runtime::run(ember_tests::App) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale_instance: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
