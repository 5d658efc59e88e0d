//! The handles: [`AiCell`] (the generated `static AI`), [`Ai`] (every model, resolved at
//! start-up) and [`Model`] (one client-facing model with its router), with the streams a
//! routed request answers with.

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::call::{self, Failed};
use super::error::AiError;
use super::events;
use super::health::now_ms;
use super::spec::{AiSpec, ModelSpec};
use super::upstream::{Answer, Events, Upstream};
use super::wire::{ChatRequest, Chunk, Completion};

/// The generated `static AI: AiCell = AiCell::new(&AI_SPEC);`: the spec, resolved into an
/// [`Ai`] (environment read, upstream URLs parsed) the first time [`AiCell::get`] runs.
#[derive(Debug)]
pub struct AiCell {
    spec: &'static AiSpec,
    ai: OnceLock<Ai>,
}

impl AiCell {
    /// A cell for `spec`; nothing is resolved until [`AiCell::get`].
    pub const fn new(spec: &'static AiSpec) -> AiCell {
        AiCell {
            spec,
            ai: OnceLock::new(),
        }
    }

    /// The resolved models (resolved once per process, on first use).
    pub fn get(&'static self) -> &'static Ai {
        self.ai.get_or_init(|| Ai::resolve(self.spec))
    }
}

/// Every model of the `ai:` section, resolved.
#[derive(Debug)]
pub struct Ai {
    models: Box<[Model]>,
    /// Conversation context (`ai.context`).
    pub(crate) context: Option<super::context::Context>,
    /// Token limits (`ai.limits`).
    pub(crate) limits: Option<super::limits::Limits>,
    /// The body of `GET /v1/models`, built once.
    list: Bytes,
    // semantic cache (semcache, issue 14)
    /// The semantic cache, when the spec has one.
    pub(crate) semantic: Option<super::semantic::Cache>,
}

impl Ai {
    fn resolve(spec: &'static AiSpec) -> Ai {
        let models: Box<[Model]> = spec.models.iter().map(Model::resolve).collect();
        let data: Vec<serde_json::Value> = models
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.name(), "object": "model", "created": 0, "owned_by": "ember"
                })
            })
            .collect();
        let list = serde_json::to_vec(&serde_json::json!({ "object": "list", "data": data }))
            .unwrap_or_default();
        let context = spec.context.map(super::context::Context::resolve);
        let limits = spec.limits.map(super::limits::Limits::resolve);
        if context.is_some() || limits.is_some() {
            // Load the BPE tables now, not on the first request.
            for m in models.iter() {
                m.enc.warm();
            }
        }
        Ai {
            models,
            context,
            limits,
            list: Bytes::from(list),
            // semantic cache (semcache, issue 14)
            semantic: spec.semantic_cache.map(super::semantic::Cache::new),
        }
    }

    /// The model at `index` in spec order (generated code passes valid indices).
    pub fn model(&'static self, index: usize) -> &'static Model {
        &self.models[index]
    }

    /// The model clients call `name`, if the spec declares it.
    pub fn find(&'static self, name: &str) -> Option<&'static Model> {
        self.models.iter().find(|m| m.name() == name)
    }

    /// Every model, in spec order.
    pub fn models(&'static self) -> &'static [Model] {
        &self.models
    }

    /// The `GET /v1/models` body.
    pub(crate) fn list(&self) -> Bytes {
        self.list.clone()
    }
}

/// A client-facing model and its router: what a user AI handler gets (`&Model`; the
/// streams it returns borrow nothing from it).
///
/// ```ignore
/// use ember_runtime::ai::{AiError, ChatRequest, Model};
/// use ember_runtime::Sse;
///
/// pub async fn summarize(chat: ChatRequest, model: &Model) -> Result<Sse, AiError> {
///     Ok(Sse::tokens(model.stream(chat).await?.text()))
/// }
/// ```
#[derive(Debug)]
pub struct Model {
    pub(crate) spec: &'static ModelSpec,
    /// Leaked once per process (a model lives as long as its `static AI`), so streams can
    /// hold `&'static` references to their upstream.
    pub(crate) upstreams: &'static [Upstream],
    /// The encoding prompts are counted with (its first upstream's model's).
    pub(crate) enc: super::tokens::Encoding,
}

impl Model {
    fn resolve(spec: &'static ModelSpec) -> Model {
        Model {
            spec,
            upstreams: Box::leak(spec.upstreams.iter().map(Upstream::resolve).collect()),
            enc: super::tokens::Encoding::for_model(
                spec.upstreams.first().map_or(spec.name, |u| u.model),
            ),
        }
    }

    /// The name clients use for it.
    pub fn name(&self) -> &str {
        self.spec.name
    }

    /// A complete (non-streamed) answer to `req`, routed with fallback, retries and
    /// cooldown. `req.model` is replaced by each upstream's model name.
    pub async fn complete(&self, mut req: ChatRequest) -> Result<Completion, AiError> {
        req.stream = false;
        req.stream_options = None;
        let served = call::route(self.spec, self.upstreams, &mut req)
            .await
            .map_err(|f: Failed| f.error)?;
        let name = served.upstream.spec.name;
        match served.answer {
            Answer::Full(body) => serde_json::from_slice(&body)
                .inspect(|c: &Completion| {
                    if let Some(u) = &c.usage {
                        let (i, o) = (u.prompt_tokens, u.completion_tokens);
                        crate::observe::ai_usage(self.spec.name, i, o); // observe (obs)
                    }
                })
                .map_err(|e| AiError::ServerError {
                    upstream: name,
                    status: 502,
                    body: Bytes::from(format!("not a chat.completion: {e}")),
                }),
            Answer::Stream { .. } => Err(AiError::ServerError {
                upstream: name,
                status: 502,
                body: Bytes::from_static(b"a stream where a completion was asked for"),
            }),
        }
    }

    /// A streamed answer to `req`, routed with fallback, retries and cooldown until its
    /// first token has arrived; after that an upstream failure ends the stream with an
    /// error (never another upstream's output).
    pub async fn stream(&self, mut req: ChatRequest) -> Result<TokenStream, AiError> {
        req.stream = true;
        let served = call::route(self.spec, self.upstreams, &mut req)
            .await
            .map_err(|f: Failed| f.error)?;
        let name = served.upstream.spec.name;
        match served.answer {
            Answer::Stream { first, events } => Ok(TokenStream {
                live: Live::new(self.spec, served.upstream, first, events),
                done: false,
            }),
            Answer::Full(_) => Err(AiError::ServerError {
                upstream: name,
                status: 502,
                body: Bytes::from_static(b"a completion where a stream was asked for"),
            }),
        }
    }
}

/// An upstream's events once the first token has arrived: the raw bytes of each SSE event,
/// `data: [DONE]` last; a failure is counted against the upstream's health and ends it.
#[derive(Debug)]
pub(crate) struct Live {
    model: &'static ModelSpec,
    upstream: &'static Upstream,
    first: Option<Bytes>,
    events: Events,
}

impl Live {
    pub(crate) fn new(
        model: &'static ModelSpec,
        upstream: &'static Upstream,
        first: Bytes,
        events: Events,
    ) -> Live {
        Live {
            model,
            upstream,
            first: Some(first),
            events,
        }
    }

    /// The upstream's name.
    pub(crate) fn upstream(&self) -> &'static str {
        self.events.upstream()
    }
}

impl Stream for Live {
    type Item = Result<Bytes, AiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        let item = Pin::new(&mut self.events).poll_next(cx);
        let failure = match &item {
            Poll::Ready(Some(Err(e))) => Some(e.clone()),
            // The upstream's own error event: relayed as it is, counted as a failure.
            Poll::Ready(Some(Ok(event))) if self.events.failed() => Some(AiError::ServerError {
                upstream: self.upstream.spec.name,
                status: 502,
                body: events::data(event).map_or_else(Bytes::new, |d| Bytes::copy_from_slice(&d)),
            }),
            _ => None,
        };
        if let Some(e) = failure {
            let now = now_ms();
            let cooled = self
                .upstream
                .health
                .record_failure(self.model.cooldown, now);
            call::report(self.model, self.upstream, &e, cooled, now);
        }
        item
    }
}

/// A routed streamed answer: the upstream's `chat.completion.chunk` objects as they arrive
/// (the usage chunk too, when asked for). Ends after `[DONE]`, or after one error.
#[derive(Debug)]
pub struct TokenStream {
    live: Live,
    done: bool,
}

impl TokenStream {
    /// The name of the upstream serving it.
    pub fn upstream(&self) -> &'static str {
        self.live.upstream()
    }

    /// The content deltas as text, empty ones skipped. An upstream failure mid-stream is
    /// logged and ends the text (use the `TokenStream` itself to see errors).
    pub fn text(self) -> TextStream {
        TextStream { tokens: self }
    }
}

impl Stream for TokenStream {
    type Item = Result<Chunk, AiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let event = match std::task::ready!(Pin::new(&mut self.live).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Some(Ok(event)) => event,
            };
            let Some(data) = events::data(&event) else {
                continue;
            };
            if data.as_ref() == b"[DONE]" {
                self.done = true;
                continue;
            }
            let upstream = self.live.upstream();
            let parsed = if events::is_error(&data) {
                Err(AiError::ServerError {
                    upstream,
                    status: 502,
                    body: Bytes::copy_from_slice(&data),
                })
            } else {
                serde_json::from_slice::<Chunk>(&data).map_err(|e| AiError::ServerError {
                    upstream,
                    status: 502,
                    body: Bytes::from(format!("not a chat.completion.chunk: {e}")),
                })
            };
            if parsed.is_err() {
                self.done = true;
            }
            return Poll::Ready(Some(parsed));
        }
    }
}

/// The text of a [`TokenStream`]: one `String` per non-empty content delta.
#[derive(Debug)]
pub struct TextStream {
    tokens: TokenStream,
}

impl Stream for TextStream {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        loop {
            match std::task::ready!(Pin::new(&mut self.tokens).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => {
                    tracing::warn!("token stream ended early: {e}");
                    return Poll::Ready(None);
                }
                Some(Ok(chunk)) => {
                    let text = chunk
                        .choices
                        .into_iter()
                        .next()
                        .and_then(|c| c.delta.content);
                    if let Some(text) = text.filter(|t| !t.is_empty()) {
                        return Poll::Ready(Some(text));
                    }
                }
            }
        }
    }
}
