//! # ember-runtime
//!
//! The runtime that Ember's generated code links against: a small HTTP/1.1 server with an
//! io_uring backend and a tokio (epoll) fallback, both driving one sans-IO protocol core.
//!
//! ## Shape
//!
//! * `http` — the sans-IO core: request-head parsing and framing over byte buffers,
//!   response encoding into a reusable write buffer, the cached `Date` header. It knows
//!   nothing of sockets, so it is tested byte for byte.
//! * `io` — the connection loop (read → parse every complete request → call the service →
//!   encode → one write per batch) and the two backends it runs on:
//!   * `io::uring`: per worker one ring, driven inside a tokio current-thread runtime
//!     (the ring's fd is registered with tokio's reactor), so handlers can await any
//!     tokio-based I/O and need not be `Send`;
//!   * `io::tokio`: the same loop over tokio sockets.
//! * `server` — workers (a thread each, with its own `SO_REUSEPORT` listener), backend
//!   selection (`auto` probes io_uring and falls back to tokio), graceful shutdown.
//!
//! Applications do not use most of this directly: `ember-codegen` turns `ember.yaml` into
//! an `App` that implements [`Service`], with a statically dispatched router that calls the
//! user's `async fn` handlers through [`Handler`].

pub mod cache;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod handler;
mod http;
mod io;
pub mod log;
pub mod middleware;
mod panic;
pub mod params;
mod remote;
mod router_support;
mod server;
mod service;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use config::{Backend, ConfigError, Limits, RouteLimits, ServerConfig, UringConfig, Workers};
pub use handler::{Handler, ParamsOnly, WithRequest, call};
pub use http::method::Method;
pub use http::request::{Header, Request, Version};
pub use http::response::{BodyClosed, BodySender, IntoResponse, InvalidHeader, Json, Response};
pub use http::status::StatusCode;
pub use server::{Server, ServerHandle, run};
pub use service::{ParamSpans, Service};

/// What generated code needs and applications do not write: not a public API, may change
/// in any release. Generated code names these paths only (`::ember_runtime::__private::…`);
/// the paths stay stable while the modules behind them move.
#[doc(hidden)]
pub mod __private {
    pub use crate::cache;
    pub use crate::call;
    pub use crate::config::{Backend, Limits, RouteLimits, UringConfig, Workers};
    pub use crate::middleware;
    pub use crate::params;
    /// The generated router's helpers (`router_support.rs`).
    pub mod router {
        pub use crate::router_support::{hash, slot, split_segment};
    }
    pub use crate::service::ParamSpans;
}

/// Includes the app that `ember_codegen::build` generated into `OUT_DIR`.
///
/// Use it once, in the crate that has the `build.rs`:
///
/// ```ignore
/// ember_runtime::include_app!();
/// fn main() -> std::io::Result<()> { ember_runtime::run(App) }
/// ```
#[macro_export]
macro_rules! include_app {
    () => {
        include!(concat!(env!("OUT_DIR"), "/ember_app.rs"));
    };
}
