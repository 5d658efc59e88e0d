//! Serves the echo app: `EMBER_LISTEN`, `EMBER_WORKERS` and `EMBER_BACKEND` override the
//! spec's server settings.

fn main() -> std::process::ExitCode {
    match ember_runtime::run(echo::App) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
