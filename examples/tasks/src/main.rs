//! Serves the tasks API: in memory by default, on PostgreSQL when `DATABASE_URL` is set.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mode = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => tasks::store::Mode::Postgres {
            url,
            pool_size: pool_size(),
        },
        _ => tasks::store::Mode::Memory,
    };
    tasks::set_purge_on_write(std::env::var("TASKS_PURGE_ON_WRITE").is_ok_and(|v| v == "1"));
    if let Err(e) = tasks::store::configure(mode) {
        eprintln!("tasks: {e}");
        return ExitCode::FAILURE;
    }
    match ember_runtime::run(tasks::App) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tasks: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `TASKS_POOL_SIZE` connections per worker (default 16).
fn pool_size() -> usize {
    std::env::var("TASKS_POOL_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}
