//! AI routes: OpenAI's chat-completions wire types, the model router, and the handles user
//! AI handlers get.
//!
//! An app declares models in `ember.yaml`'s `ai:` section; each model has upstreams
//! (OpenAI-compatible servers) and a router strategy (`fallback`, `cost`, `latency`,
//! `weighted`). The built-in gateway (`POST /v1/chat/completions`, `GET /v1/models`)
//! proxies clients to them; a user AI handler receives the parsed [`ChatRequest`] and its
//! [`Model`]:
//!
//! ```ignore
//! use ember_runtime::ai::{AiError, ChatRequest, Message, Model};
//! use ember_runtime::Sse;
//!
//! pub async fn summarize(mut chat: ChatRequest, model: &Model) -> Result<Sse, AiError> {
//!     chat.messages.insert(0, Message::system("Summarize the user's text in one line."));
//!     Ok(Sse::tokens(model.stream(chat).await?.text()))
//! }
//! ```
//!
//! Routing: the strategy orders the healthy upstreams; each is tried with its retries per
//! error class; connect errors, timeouts, 429 and 5xx fall back to the next one — but only
//! before the first token reached the client. After `cooldown.failures` consecutive failures
//! an upstream is skipped for `cooldown.for`, by every worker. The `latency` strategy uses
//! the time to first token measured over `latency_window`.
//!
//! Inside: `wire` (serde types), `events` (sans-IO SSE splitting), `health` (shared
//! per-upstream state), `router` (strategies), `client` + `upstream` (one attempt over
//! hyper), `call` (retries and fallback), `model` (handles and streams), `gateway` (the
//! built-in routes), `tap` (what a relayed answer said, for whoever settles it), `context`
//! (conversation memory), `limits` (token admission), `tokens` (prompt counting), `store`
//! (memory or Redis), `error`.

mod call;
mod client;
mod context;
mod error;
mod events;
mod gateway;
mod health;
mod limits;
mod model;
mod router;
// semantic cache (semcache, issue 14)
pub(crate) mod semantic;
mod spec;
mod store;
mod tap;
#[cfg(test)]
mod tests;
mod tokens;
mod upstream;
mod wire;

pub use context::Conversation;
pub use error::AiError;
pub use model::{Model, TextStream, TokenStream};
pub use wire::{
    ChatRequest, Choice, Chunk, ChunkChoice, Completion, Delta, Message, StreamOptions, Usage,
};

/// What generated code needs (`ember_runtime::__private::ai`).
pub(crate) mod private {
    pub use super::context::{ContextSpec, IdSource, conversation, save_conversation};
    pub use super::gateway::{MODEL_HEADER, chat_completions, models, parse_chat};
    pub use super::limits::{LimitsSpec, Per};
    pub use super::model::{Ai, AiCell};
    pub use super::spec::{AiSpec, Cooldown, ModelSpec, Retries, Strategy, UpstreamSpec};
    pub use super::store::{RedisSpec, StoreSpec};
    // semantic cache (semcache, issue 14)
    pub use super::semantic::{
        EmbedderSpec, ModelCache, SemanticSpec, StoreSpec as SemanticStoreSpec,
    };
}
