//! The end-to-end app (`tests/ember.yaml`, its `ai:` section included) served by
//! `ember_runtime::run` (`EMBER_LISTEN`, `EMBER_BACKEND`, `EMBER_WORKERS`), for
//! `tests/tests/ai_gateway.rs`: the AI state is process-wide, so each backend gets a fresh
//! process (a clean start: no cooldown or latency sample left from the other one).

fn main() -> std::process::ExitCode {
    match ember_runtime::run(ember_tests::App) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ai_app_server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
