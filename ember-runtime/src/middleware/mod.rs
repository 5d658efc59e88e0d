//! Declarative middleware: the runtime half of what `middleware:` in `ember.yaml` declares.
//!
//! Generated code expands each route's middleware inline, outermost first, around the
//! route's handler call; these are the functions and the shared state it calls. A route
//! without middleware calls none of this.
//!
//! * [`Cors`]: origin checks, preflight answers and the response headers.
//! * [`Secrets`], [`bearer_token`], [`api_key`]: bearer-token and API-key authentication
//!   with constant-time comparison ([`ct_eq`]); the accepted identity reaches the handler
//!   as [`Request::identity`](crate::http::request::Request::identity).
//! * [`RateLimiter`]: token buckets in a sharded in-process map shared by every worker
//!   thread, or in Redis ([`RedisLimiter`]) so a fleet shares one limit.

mod auth;
mod cors;
mod rate;
mod redis_store;

pub use auth::{Secrets, api_key, bearer_token, ct_eq, unauthorized};
pub use cors::{Cors, CorsStep};
pub use rate::{Decision, RateKey, RateLimiter, client_ip, header_key};
pub use redis_store::RedisLimiter;
