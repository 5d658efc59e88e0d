//! The semantic cache (`ai.semantic_cache`, issue 14): answers to prompts that are close
//! enough to an earlier one, in the same scope, are replayed instead of calling upstream.
//!
//! * [`embed`]: the [`Embedder`] trait and the embedded default ([`Hashed`], lexical:
//!   its method and limits are documented there); [`remote`]: an OpenAI-compatible
//!   `/v1/embeddings` upstream.
//! * [`scope`]: which requests are cached (a model with `semantic_cache:`, `temperature:
//!   0` unless the model allows any), the scope (model, earlier messages, tools, sampling
//!   parameters) and the embedded text (the last user message).
//! * [`index`]: the exact flat index (cosine over normalized vectors, stored
//!   contiguously), TTL and cap, shared by the process's workers.
//! * [`shared`]: `store: redis`, entries shared across instances.
//! * [`replay`]: a hit as a `chat.completion` or as an OpenAI stream.
//!
//! The gateway looks up after admission and before routing ([`lookup`]); a miss adds a
//! sink to the answer's tap that stores a complete answer ([`Lookup::fill_on`]).

#[cfg(test)]
mod bench;
pub(crate) mod embed;
pub(crate) mod index;
pub(crate) mod remote;
pub(crate) mod replay;
pub(crate) mod scope;
pub(crate) mod shared;
pub(crate) mod spec;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub(crate) use embed::{EmbedError, Embedder, Hashed};
pub use spec::{EmbedderSpec, ModelCache, SemanticSpec, StoreSpec};

use super::tap::{Finished, Tap};
use super::wire::{ChatRequest, Usage};
use crate::http::response::Response;
use index::Index;
use shared::{Entry, Shared};

/// A cached answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored {
    /// The assistant's text.
    pub content: String,
    /// Its `finish_reason` (`stop` or `length`).
    pub finish_reason: String,
    /// The usage the upstream reported, if it did.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// The model name the replay reports (the one the client asked for).
    pub model: String,
}

/// The embedder a cache uses.
#[derive(Debug)]
enum AnyEmbedder {
    Hashed(Hashed),
    Remote(remote::Remote),
}

impl AnyEmbedder {
    async fn one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut out = match self {
            AnyEmbedder::Hashed(h) => h.embed(&[text]).await?,
            AnyEmbedder::Remote(r) => r.embed(&[text]).await?,
        };
        let mut v = out.pop().ok_or_else(|| EmbedError("no embedding".into()))?;
        embed::normalize(&mut v);
        Ok(v)
    }
}

/// One process's semantic cache: the embedder, the local index, and the Redis side.
#[derive(Debug)]
pub(crate) struct Cache {
    spec: &'static SemanticSpec,
    embedder: AnyEmbedder,
    /// Made on the first vector (an upstream embedder's dimension is known then).
    index: std::sync::OnceLock<Index>,
    shared: Option<Shared>,
}

/// Unix milliseconds (entries shared across instances carry wall-clock birth times).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A random 64-bit id.
pub(crate) fn random_id() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        return unix_ms() ^ 0x5851_f42d_4c95_7f2d;
    }
    u64::from_le_bytes(b)
}

impl Cache {
    /// The cache `spec` describes (the embedder's environment read now).
    pub(crate) fn new(spec: &'static SemanticSpec) -> Cache {
        let embedder = match &spec.embedder {
            EmbedderSpec::Embedded => AnyEmbedder::Hashed(Hashed),
            EmbedderSpec::Upstream {
                base_url,
                base_url_env,
                model,
                api_key_env,
                timeout,
            } => AnyEmbedder::Remote(remote::Remote::resolve(
                *base_url,
                *base_url_env,
                model,
                *api_key_env,
                *timeout,
            )),
        };
        let ttl_ms = spec.ttl.as_millis() as u64;
        let shared = match &spec.store {
            StoreSpec::Memory => None,
            StoreSpec::Redis {
                url,
                prefix,
                timeout,
            } => Some(Shared::new(url, prefix, *timeout, ttl_ms, spec.max_entries)),
        };
        Cache {
            spec,
            embedder,
            index: std::sync::OnceLock::new(),
            shared,
        }
    }

    /// The local index, made for `dim`-dimensional vectors on first use.
    fn index(&self, dim: usize) -> &Index {
        self.index.get_or_init(|| {
            Index::new(dim, self.spec.ttl.as_millis() as u64, self.spec.max_entries)
        })
    }

    fn model(&self, name: &str) -> Option<&'static ModelCache> {
        self.spec.models.iter().find(|m| m.model == name)
    }

    /// Looks `req` (for the client-facing model `model`) up.
    pub(crate) async fn lookup(&'static self, model: &str, req: &ChatRequest) -> Lookup {
        let Some(m) = self.model(model) else {
            return Lookup::Off;
        };
        let Some(key) = scope::key(req, m) else {
            return Lookup::Off;
        };
        let v = match self.embedder.one(&key.text).await {
            Ok(v) if v.iter().any(|x| *x != 0.0) => v,
            Ok(_) => return Lookup::Off, // nothing to compare (no words)
            Err(e) => {
                tracing::warn!("semantic cache: {e}; the request goes upstream uncached");
                return Lookup::Off;
            }
        };
        let index = self.index(v.len());
        let now = unix_ms();
        let mut hit = index.search(key.scope, &v, m.threshold, now).await;
        if hit.is_none()
            && let Some(shared) = &self.shared
        {
            // Sync: what other instances stored since the last pull.
            if let Ok(entries) = shared.pull(now).await {
                let mut here = false;
                for e in entries {
                    let mine = e.scope == key.scope;
                    here |=
                        index.insert(e.scope, e.id, e.born_ms, &e.vector, e.answer, now) && mine;
                }
                if here {
                    hit = index.search(key.scope, &v, m.threshold, now).await;
                }
            }
        }
        let stream = req.stream;
        let usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        match hit {
            Some(h) => Lookup::Hit(
                replay::response(&h.answer, h.similarity, stream, usage),
                h.answer,
            ),
            None => Lookup::Miss(Pending {
                cache: self,
                scope: key.scope,
                vector: v,
                model: model.to_owned(),
            }),
        }
    }

    /// Stores an answer now (and in Redis, in the background).
    fn fill(&'static self, p: Pending, f: &Finished) {
        let finish = match f.finish_reason.as_deref() {
            Some(r @ ("stop" | "length")) => r,
            _ => return, // tool calls, a filter, or no reason: not replayable as text
        };
        if f.partial || f.content.is_empty() {
            return;
        }
        let answer = Arc::new(Stored {
            content: f.content.clone(),
            finish_reason: finish.to_owned(),
            usage: f.usage.clone(),
            model: p.model,
        });
        let now = unix_ms();
        let e = Entry {
            id: random_id(),
            scope: p.scope,
            born_ms: now,
            vector: p.vector,
            answer,
        };
        self.index(e.vector.len())
            .insert(e.scope, e.id, now, &e.vector, e.answer.clone(), now);
        if let Some(shared) = &self.shared
            && tokio::runtime::Handle::try_current().is_ok()
        {
            tokio::task::spawn_local(async move {
                // A failure is logged by the registry; the entry stays local.
                let _ = shared.put(&e, unix_ms()).await;
            });
        }
    }
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Not cached (no cache, the model is not cached, or the request is not cacheable).
    Off,
    /// A hit: the replayed answer, and what it says (for the conversation context).
    Hit(Response, Arc<Stored>),
    /// A miss: fill the cache once the answer is known.
    Miss(Pending),
}

/// A miss waiting for its answer.
#[derive(Debug)]
pub(crate) struct Pending {
    cache: &'static Cache,
    scope: u64,
    vector: Vec<f32>,
    model: String,
}

impl Lookup {
    /// On a miss, has `tap` store the answer once complete (not partial).
    pub(crate) fn fill_on(self, tap: &mut Tap) -> Marker {
        match self {
            Lookup::Miss(p) => {
                tap.on_finish(move |f| {
                    let cache = p.cache;
                    cache.fill(p, f);
                });
                Marker(true)
            }
            _ => Marker(false),
        }
    }
}

/// Whether a response was a cache miss (it then gets `x-ember-cache: miss`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marker(bool);

impl Marker {
    /// `resp`, marked as a miss when it was one.
    pub(crate) fn mark(self, resp: Response) -> Response {
        if self.0 {
            resp.header(replay::CACHE_HEADER, "miss")
        } else {
            resp
        }
    }
}

/// The gateway's lookup: `Off` when the app has no semantic cache.
pub(crate) async fn lookup(
    cache: Option<&'static Cache>,
    model: &str,
    req: &ChatRequest,
) -> Lookup {
    match cache {
        Some(c) => c.lookup(model, req).await,
        None => Lookup::Off,
    }
}
