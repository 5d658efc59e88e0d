//! `/plaintext` (and two more routes, so the route index is not trivially 1) for the
//! overhead benchmark of issue 16.

/// The handlers.
pub mod handlers {
    /// `GET /plaintext`.
    pub async fn plaintext() -> &'static str {
        "Hello, World!"
    }

    /// `GET /json`.
    pub async fn json() -> &'static str {
        "{\"message\":\"Hello, World!\"}"
    }

    /// `GET /hello/{name}`.
    pub async fn hello(name: &str) -> String {
        format!("Hello, {name}!")
    }
}

ember_runtime::include_app!();

fn main() -> std::io::Result<()> {
    ember_runtime::run(App)
}
