//! Ember serving `/slow` (a 1 ms handler) and `/slow-cached` (the same behind `cache: hot`).

/// The handlers.
pub mod handlers {
    /// Costs about a millisecond, like a quick database query.
    pub async fn slow() -> &'static str {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        "{\"tasks\":[{\"id\":1,\"title\":\"write the benchmark\",\"done\":false},{\"id\":2,\"title\":\"read the results\",\"done\":false}]}"
    }
}

ember_runtime::include_app!();

fn main() -> std::io::Result<()> {
    ember_runtime::run(App)
}
