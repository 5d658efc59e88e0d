//! Serves the chat app: `EMBER_LISTEN`, `EMBER_WORKERS` and `EMBER_BACKEND` override the
//! spec's server settings; `CHAT_UPSTREAM_A`, `CHAT_UPSTREAM_B` and `CHAT_API_KEY` configure
//! the upstreams (read when the first AI request arrives).

fn main() -> std::process::ExitCode {
    match ember_runtime::run(chat::App) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
