//! The [`Service`] trait the generated `App` implements.

use std::future::Future;

use crate::config::{RouteLimits, ServerConfig};
use crate::http::method::Method;
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

    /// The limits of the route that `method` and `path` reach, where they differ from the
    /// server's. The runtime asks before reading a body, so a route's `max_body_size` is
    /// enforced from the headers.
    fn route_limits(&self, method: Method<'_>, path: &str) -> RouteLimits {
        let _ = (method, path);
        RouteLimits::default()
    }

    /// Runs on each worker thread once its runtime is up, before it serves (inside its
    /// `LocalSet`, so it may `spawn_local`). Generated apps connect their remote caches here.
    fn on_worker_start(&self) {}

    /// Runs on each worker thread after it has stopped serving. Generated apps close their
    /// remote cache connections here.
    fn on_worker_stop(&self) {}
}
