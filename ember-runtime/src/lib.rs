//! # ember-runtime
//!
//! The runtime that Ember's generated code links against: a small HTTP/1.1 server with an
//! io_uring backend and a tokio (epoll) fallback, both driving one sans-IO protocol core.
//!
//! An application does not wire routes by hand: `ember-codegen` turns `ember.yaml` into an
//! `App` that implements [`Service`], with a statically dispatched router calling the
//! user's plain `async fn` handlers. What an application writes is at this crate's root:
//!
//! * serving: [`run`] (what `main` calls), [`Server`] / [`ServerHandle`] (start and stop a
//!   server from code, e.g. in tests), [`Service`] (what the generated `App` implements);
//! * handlers: [`Request`] (with [`Header`], [`Version`], [`Method`]), [`Response`],
//!   [`IntoResponse`], [`Json`], [`StatusCode`], [`BodySender`] (streamed bodies), [`Uuid`]
//!   (the type of `{id:uuid}` path parameters);
//! * settings the spec's `server:` block compiles to, for code that overrides them:
//!   [`ServerConfig`], [`Backend`], [`Workers`], [`Limits`], [`UringConfig`],
//!   [`RouteLimits`];
//! * server-sent events (issue 13): [`Sse`] (a response from a stream of [`Event`]s) and
//!   the [`sse`] module;
//! * the cache handle `App::cache("name")` returns: [`Cache`], failing with [`CacheError`];
//! * cookies and sessions (issue 15): [`cookie`] (reading, setting, signed and private
//!   cookies, keys) and [`Session`] (the `&mut Session` of routes with `session:`), failing
//!   with [`SessionError`];
//! * the other errors: [`ConfigError`], [`InvalidHeader`], [`BodyClosed`];
//! * AI routes (the spec's `ai:` section; feature `ai`, on by default): [`ai`] — the
//!   chat-request and completion types, the [`ai::Model`] handle user AI handlers get, and
//!   [`ai::AiError`];
//! * [`Problem`] (with [`ProblemItem`]): the RFC 9457 `application/problem+json` answer
//!   Ember gives bad typed input (`body:` / `query:` in the spec), for handlers' own errors;
//! * [`log`] (the default `tracing` subscriber) and, with the `test-util` feature,
//!   `test_util` (a Redis of a test's own, skipping tests whose services are missing);
//! * [`include_app!`], which pulls the generated app into the crate with the `build.rs`.
//!
//! ```ignore
//! // src/lib.rs
//! ember_runtime::include_app!();
//! mod handlers;
//!
//! // src/handlers.rs
//! use ember_runtime::{Json, Request, Response, StatusCode};
//!
//! pub async fn plaintext() -> &'static str { "Hello, World!" }
//! pub async fn hello(name: &str) -> String { format!("Hello, {name}!") }
//! pub async fn echo(req: &Request<'_>) -> Response { Response::bytes(req.body().to_vec()) }
//! pub async fn missing() -> StatusCode { StatusCode::NOT_FOUND }
//!
//! // src/main.rs
//! fn main() -> std::io::Result<()> { ember_runtime::run(hello::App) }
//! ```
//!
//! A [`Service`] can also be written by hand (the generated one does the same, with a
//! router in `route`):
//!
//! ```
//! use ember_runtime::{
//!     Backend, Method, Request, Response, RouteLimits, Server, ServerConfig, Service, Workers,
//! };
//!
//! #[derive(Clone)]
//! struct Hello;
//!
//! impl Service for Hello {
//!     type Route = ();
//!     fn route(&self, _: Method<'_>, _: &str) -> ((), RouteLimits) {
//!         ((), RouteLimits::default())
//!     }
//!     async fn call<'a>(&'a self, _: (), _: &'a Request<'a>) -> Response {
//!         Response::text("Hello, World!")
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let config = ServerConfig::new()
//!     .listen("127.0.0.1:0")
//!     .workers(Workers::Count(1))
//!     .backend(Backend::Tokio);
//! let server = Server::new(Hello).with_config(config).start()?;
//! println!("serving on {}", server.local_addr());
//! server.shutdown()
//! # }
//! ```
//!
//! ## Inside
//!
//! * `http` — the sans-IO core: request-head parsing and framing over byte buffers,
//!   response encoding into a reusable write buffer, the cached `Date` header.
//! * `io` — the connection loop (read → parse every complete request → call the service →
//!   encode → one write per batch) and the two backends behind `io::backend::Engine`:
//!   `io::uring` (a ring per worker, driven inside a tokio current-thread runtime) and
//!   `io::tokio` (the same loop over tokio sockets).
//! * `server` — workers (a thread each, with its own `SO_REUSEPORT` listener), graceful
//!   shutdown.
//! * `cache`, `middleware`, `params`, `handler` — what generated code calls, reached only
//!   through the hidden `__private` module; `remote` — the one registry of connections to
//!   Redis and Memcached, shared by remote caches and the Redis rate limiter.
//! * `ai` — the model router and the OpenAI-compatible gateway: SSE splitting (sans-IO),
//!   upstream health shared by all workers, a pooled hyper client per worker.

// ai (issue 13): the `ai:` section's runtime.
#[cfg(feature = "ai")]
pub mod ai;
mod cache;
mod config;
// cookies & sessions (issue 15)
pub mod cookie;
// typed input (issue 15)
mod extract;
mod fuzzing;
mod handler;
mod http;
mod io;
pub mod log;
mod middleware;
// observe (obs, issue 16): access log, request ids, metrics.
mod observe;
mod panic;
// openapi (issue 16, api): the docs page's bundled renderer.
mod openapi_docs;
mod params;
// probes and drain (scale, issues 16.3 and 18.3)
mod probe;
mod remote;
mod router_support;
mod server;
mod service;
// sse (issue 13): server-sent events.
mod session;
pub mod sse;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use cache::{Cache, CacheError};
pub use config::{Backend, ConfigError, Limits, RouteLimits, ServerConfig, UringConfig, Workers};
pub use http::method::Method;
pub use http::request::{Header, Request, Version};
pub use http::response::{BodyClosed, BodySender, IntoResponse, InvalidHeader, Json, Response};
pub use http::status::StatusCode;
pub use params::Uuid;
pub use server::{Server, ServerHandle, run};
pub use service::Service;
// sse (issue 13)
pub use sse::{Event, Sse};
// cookies & sessions (issue 15)
pub use session::{Session, SessionError};
// typed input (issue 15): the error answer of bad typed input, which handlers may return too.
pub use extract::{Problem, ProblemItem};
// observe (obs, issue 16): the access log and request-id settings of `ServerConfig`.
pub use config::observe::{AccessLog, AccessLogFormat, AccessLogTarget, RequestIdConfig};

/// What generated code needs and applications do not write: not a public API, may change
/// in any release. Generated code names these paths only (`::ember_runtime::__private::…`);
/// the paths stay stable while the modules behind them move.
#[doc(hidden)]
pub mod __private {
    pub use crate::config::{Backend, Limits, RouteLimits, UringConfig, Workers};
    pub use crate::handler::{Handler, ParamsOnly, WithRequest, call};
    /// The generated router's helpers (`router_support.rs`).
    pub mod router {
        pub use crate::router_support::{hash, slot, split_segment};
    }
    pub use crate::service::ParamSpans;

    /// Response caching for cached routes, and the caches `App` holds.
    pub mod cache {
        pub use crate::cache::{Cache, CacheConfig, Caches, OwnedRequest, Policy, serve};
    }

    /// The middleware steps generated `call` arms run (CORS, bearer and API-key
    /// authentication, rate limits).
    pub mod middleware {
        pub use crate::middleware::*;
    }

    /// Health probes (scale, issue 16.3): `/livez`, `/readyz`, the backends readiness
    /// requires, and the shared Redis's pool size.
    pub mod probe {
        pub use crate::probe::{livez, readyz, redis_pool_size, require_redis};
    }

    /// Path-parameter decoding and parsing.
    pub mod params {
        pub use crate::params::{ParamError, Uuid, decode, parse};
    }

    /// The `ai:` section (issue 13): the compiled spec, the resolved models, the built-in
    /// gateway routes and the chat-request parser of user AI routes.
    #[cfg(feature = "ai")]
    pub mod ai {
        pub use crate::ai::private::*;
    }

    /// Sessions (issue 15): the configurations `sessions:` declares, loading before and
    /// saving after a route's handler, and the cookie keys `cookies:` names.
    pub mod session {
        pub use crate::cookie::keys::load_and_install as load_cookie_keys;
        pub use crate::session::{SessionConfig, finish, load};
    }

    /// Typed request input (issue 15): `body:` and `query:` decoding, validation, and the
    /// `application/problem+json` answers for input that does not fit.
    pub mod extract {
        pub use crate::extract::{form, form_valid, json, json_valid, query, query_valid};
    }

    // openapi (issue 16, api)
    /// The bundled renderer of the docs page `openapi: { docs }` serves.
    pub mod openapi {
        pub use crate::openapi_docs::RAPIDOC_JS;
    }

    /// Observability (obs, issue 16): the label values of the metric families, the
    /// `/metrics` handler, and the event counters other parts of the runtime call.
    pub mod observe {
        pub use crate::observe::metrics::Families;
        pub use crate::observe::{rate_limited, serve_metrics};
    }

    /// Entry points for the fuzz targets in `fuzz/` and their seed corpora.
    pub mod fuzzing {
        pub use crate::fuzzing::{chunked, connection, head};
    }
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
