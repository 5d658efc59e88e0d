//! Serves `examples/chat` (issue 13): the tests spawn it with their own `EMBER_LISTEN`,
//! `CHAT_UPSTREAM_A`, `CHAT_UPSTREAM_B` and `CHAT_API_KEY` (`env!("CARGO_BIN_EXE_chat_server")`).

fn main() -> std::io::Result<()> {
    ember_runtime::run(chat::App)
}
