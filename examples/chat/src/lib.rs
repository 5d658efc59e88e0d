//! The chat app as a library, so tests can serve it (in-process or as the `chat_server`
//! binary of the tests crate).
//!
//! Contract (issue 13, point 5): `EMBER_LISTEN` as usual; upstreams from the environment
//! variables `CHAT_UPSTREAM_A` and `CHAT_UPSTREAM_B` (base URLs ending in `/v1` of two
//! OpenAI-compatible servers; no API key is sent when `CHAT_API_KEY` is unset); one model
//! exposed to clients, `ember-chat`, with strategy `fallback`, A (`model-a`) then B
//! (`model-b`), cooldown after 2 failures for 5 s; `POST /v1/chat/completions` (stream and
//! non-stream, tools passed through) and `GET /v1/models`. With both upstreams healthy every
//! request goes to A; when A answers 500 or refuses connections, B serves it and the client
//! sees no error.
//!
//! Besides the gateway: `POST /v1/summarize`, a user AI handler (see [`handlers`]).

pub mod handlers;

ember_runtime::include_app!();
