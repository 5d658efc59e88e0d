//! The built-in OpenAI-compatible gateway: `POST /v1/chat/completions` and `GET /v1/models`.
//!
//! A request goes through small steps — parse → context (the stored history prepended,
//! `ai.context`) → admit (`max_prompt_tokens`, then prompt + `max_tokens` reserved,
//! `ai.limits`) → route (+ call) → relay → settle — so that a semantic cache can be
//! inserted between them too. `settle` is a [`Tap`] on the relayed answer: its sinks get
//! the answer's text and usage once it ended, record it in the conversation and settle the
//! reservation against the usage (or, without one, the answer's text counted locally).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::call::{self, Failed, Served};
use super::error::AiError;
use super::model::{Ai, Live};
use super::spec::ModelSpec;
use super::tap::Tap;
use super::upstream::Answer;
use super::wire::ChatRequest;
use crate::http::request::Request;
use crate::http::response::{IntoResponse, Response};

/// The header naming the upstream that served (or last failed) a request.
pub const MODEL_HEADER: &str = "x-ember-model";

/// What a stream relayed by the gateway sends last if the server shuts down mid-stream.
const SHUTDOWN_EVENT: &[u8] = b"data: {\"error\":{\"message\":\"the server is shutting down\",\"type\":\"service_unavailable\",\"param\":null,\"code\":\"shutting_down\"}}\n\n";

/// `POST /v1/chat/completions`: routes the client's request to one of the named model's
/// upstreams and relays the answer — the JSON completion, or the SSE stream event by event.
pub async fn chat_completions(ai: &'static Ai, req: &Request<'_>) -> Response {
    // parse
    let mut chat = match parse(req.body(), true) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let Some(model) = ai.find(&chat.model) else {
        let model = std::mem::take(&mut chat.model);
        return AiError::ModelNotFound { model }.into_response();
    };
    // context: prepend the stored history when the client sent only its new turn
    let pending = match &ai.context {
        Some(ctx) => match ctx.id(req, &mut chat) {
            Some(id) => Some(ctx.prepare(id, &mut chat, model.enc).await),
            None => None,
        },
        None => None,
    };
    // admit: max_prompt_tokens, then reserve prompt + max_tokens in the token budget
    let mut held = None;
    let mut prompt = 0;
    if let Some(limits) = &ai.limits {
        prompt = model.enc.prompt(&chat);
        let answer = limits.answer_budget(chat.max_completion_tokens.or(chat.max_tokens));
        match limits.admit(limits.key(req), prompt, answer).await {
            Ok(h) => held = Some(h),
            Err(refusal) => return refusal.into_response(),
        }
    }
    // semantic cache (semcache): a hit is answered here, without an upstream call; what
    // it reserved is released and the conversation records the replayed answer
    let semantic = match super::semantic::lookup(ai.semantic.as_ref(), model.name(), &chat).await {
        super::semantic::Lookup::Hit(resp, answer) => {
            if let (Some(limits), Some(h)) = (&ai.limits, held.clone()) {
                limits.settle(h, 0);
            }
            if let (Some(ctx), Some(p)) = (&ai.context, pending) {
                ctx.record(p, &answer.content, false);
            }
            return match &held {
                Some(h) => h.annotate(resp),
                None => resp,
            };
        }
        other => other,
    };
    // route + call
    let served = match call::route(model.spec, model.upstreams, &mut chat).await {
        Ok(s) => s,
        Err(Failed { upstream, error }) => {
            if let (Some(limits), Some(h)) = (&ai.limits, held) {
                limits.settle(h, 0);
            }
            let resp = error.into_response();
            return match upstream {
                Some(name) => resp.header(MODEL_HEADER, name),
                None => resp,
            };
        }
    };
    // relay; settle through the tap's sinks, once the answer is known: the answer
    // recorded in the conversation, the tokens settled against the usage
    let mut tap = Tap::new(chat.stream);
    if let (Some(ctx), Some(p)) = (&ai.context, pending) {
        tap.on_finish(move |f| ctx.record(p, &f.content, f.partial));
    }
    if let (Some(limits), Some(h)) = (&ai.limits, held.clone())
        && h.reserved > 0
    {
        let enc = model.enc;
        tap.on_finish(move |f| {
            let used = match &f.usage {
                Some(u) if u.total_tokens > 0 => u.total_tokens,
                _ => prompt + enc.count(&f.content),
            };
            limits.settle(h, used);
        });
    }
    // observe (obs): tokens in/out per model, as the upstream reported them
    if crate::observe::metrics_on() {
        let name = model.spec.name;
        tap.on_finish(move |f| {
            if let Some(u) = &f.usage {
                crate::observe::ai_usage(name, u.prompt_tokens, u.completion_tokens);
            }
        });
    }
    // semantic cache (semcache): a complete answer fills the cache; a miss says so
    let semantic = semantic.fill_on(&mut tap);
    let resp = semantic.mark(relay(model.spec, served, tap));
    match &held {
        Some(h) => h.annotate(resp),
        None => resp,
    }
}

/// The answer of the upstream that served, as the client's response; `tap` sees it (a
/// tap without sinks is dropped at once).
fn relay(model: &'static ModelSpec, served: Served, mut tap: Tap) -> Response {
    let name = served.upstream.spec.name;
    match served.answer {
        Answer::Full(body) => {
            tap.full(&body);
            Response::bytes(body)
                .with_content_type("application/json")
                .header(MODEL_HEADER, name)
        }
        Answer::Stream { first, events } => {
            let live = Live::new(model, served.upstream, first, events);
            Response::stream(Relay {
                live,
                tap: (!tap.is_idle()).then_some(tap),
                finished: false,
            })
            .with_content_type("text/event-stream")
            .header("cache-control", "no-cache")
            .header(MODEL_HEADER, name)
            .with_final_chunk(Bytes::from_static(SHUTDOWN_EVENT))
        }
    }
}

/// The client's side of a relayed stream: each upstream event's bytes as they came, one
/// write each; an upstream failure after the first token becomes one OpenAI error event
/// and ends the stream (no `[DONE]`). Its tap (if anyone listens) sees every event; a
/// relay dropped before the end (the client went away) reports a partial answer.
struct Relay {
    live: Live,
    tap: Option<Tap>,
    finished: bool,
}

impl Stream for Relay {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match std::task::ready!(Pin::new(&mut self.live).poll_next(cx)) {
            Some(Ok(event)) => {
                if let Some(tap) = self.tap.as_mut() {
                    tap.event(&event);
                }
                Poll::Ready(Some(event))
            }
            Some(Err(e)) => {
                self.finished = true;
                if let Some(tap) = self.tap.as_mut() {
                    tap.end();
                }
                Poll::Ready(Some(e.to_event()))
            }
            None => {
                self.finished = true;
                if let Some(tap) = self.tap.as_mut() {
                    tap.end();
                }
                Poll::Ready(None)
            }
        }
    }
}

/// `GET /v1/models`: the models clients can name, OpenAI's list shape.
pub fn models(ai: &'static Ai) -> Response {
    Response::bytes(ai.list()).with_content_type("application/json")
}

/// Parses a user AI route's body as a chat request (its `model` may be absent: the route
/// names the model); a body that is not one is a `400` OpenAI error response.
pub fn parse_chat(req: &Request<'_>) -> Result<ChatRequest, Response> {
    parse(req.body(), false).map_err(IntoResponse::into_response)
}

/// Parses a chat request; `need_model`: an absent or empty `model` is an error.
pub(crate) fn parse(body: &[u8], need_model: bool) -> Result<ChatRequest, AiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(AiError::BadRequest {
            message: "the request body is empty; send a JSON chat request".into(),
            param: None,
        });
    }
    let chat: ChatRequest = serde_json::from_slice(body).map_err(|e| {
        let param = ["messages", "model", "stream", "temperature", "tools"]
            .into_iter()
            .find(|p| e.to_string().contains(&format!("`{p}`")));
        AiError::BadRequest {
            message: format!("We could not parse the JSON body of your request: {e}"),
            param,
        }
    })?;
    if need_model && chat.model.is_empty() {
        return Err(AiError::BadRequest {
            message: "you must provide a model parameter".into(),
            param: Some("model"),
        });
    }
    Ok(chat)
}
