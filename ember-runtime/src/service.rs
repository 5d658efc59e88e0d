//! The [`Service`] trait the generated `App` implements.

use std::future::Future;

use crate::config::ServerConfig;
use crate::http::request::Request;
use crate::http::response::Response;

/// An application: a request → response function plus its compiled-in settings.
///
/// Generated code implements this for a zero-sized `App`; each worker thread gets its own
/// clone, and the futures it returns need not be `Send` (each worker is single-threaded).
pub trait Service: Clone + Send + 'static {
    /// Answers one request.
    fn call<'a>(&'a self, req: &'a Request<'a>) -> impl Future<Output = Response> + 'a;

    /// The server settings from the spec (before environment overrides).
    fn config(&self) -> ServerConfig {
        ServerConfig::default()
    }
}
