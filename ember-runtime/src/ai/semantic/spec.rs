//! `ai.semantic_cache` compiled: what generated code writes as a `static` (every type is
//! `const`-constructible; the environment is read when the cache is first built).

use std::time::Duration;

/// The semantic cache's settings, and the models that use it.
#[derive(Debug)]
pub struct SemanticSpec {
    /// What turns a prompt into a vector.
    pub embedder: EmbedderSpec,
    /// The least cosine similarity that is a hit (models may override it).
    pub threshold: f32,
    /// How long an entry is kept.
    pub ttl: Duration,
    /// The most entries kept (the oldest go first).
    pub max_entries: usize,
    /// Where entries live.
    pub store: StoreSpec,
    /// The models whose requests are cached (`semantic_cache:` on the model).
    pub models: &'static [ModelCache],
}

/// A model's `semantic_cache:`.
#[derive(Debug, Clone, Copy)]
pub struct ModelCache {
    /// The model's name (as clients send it).
    pub model: &'static str,
    /// Its threshold (`ai.semantic_cache.threshold` unless it sets one).
    pub threshold: f32,
    /// Cache requests whatever their temperature (default: only `temperature: 0`).
    pub any_temperature: bool,
}

/// `embedder:`.
#[derive(Debug)]
pub enum EmbedderSpec {
    /// The built-in lexical embedding (no download, no service).
    Embedded,
    /// An OpenAI-compatible `/v1/embeddings` upstream.
    Upstream {
        /// Its base URL (ending in `/v1`), unless `base_url_env` is set at run time.
        base_url: Option<&'static str>,
        /// An environment variable that overrides `base_url`.
        base_url_env: Option<&'static str>,
        /// The embedding model's name.
        model: &'static str,
        /// An environment variable holding the API key.
        api_key_env: Option<&'static str>,
        /// How long one embedding call may take (then the request goes upstream uncached).
        timeout: Duration,
    },
}

/// `store:`.
#[derive(Debug)]
pub enum StoreSpec {
    /// In this process only (shared by its workers).
    Memory,
    /// Entries written to Redis, so every instance pointed at it shares them; each keeps a
    /// local index in sync.
    Redis {
        /// `redis://…` (`${VAR:-default}` is read at run time).
        url: &'static str,
        /// The prefix of its key (`PREFIX{sem}:log`).
        prefix: &'static str,
        /// How long one Redis call may take before the cache carries on without it.
        timeout: Duration,
    },
}
