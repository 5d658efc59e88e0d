//! Serves the hello app: `EMBER_LISTEN`, `EMBER_WORKERS` and `EMBER_BACKEND` override the
//! spec's server settings.

fn main() -> std::process::ExitCode {
    match ember_runtime::run(hello::App) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hello: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
