//! `ai.semantic_cache` planned (issue 14): the cache's settings with their defaults, and
//! the models it serves.
//!
//! Defaults: embedder `embedded`, threshold 0.92, TTL 1 h, 10 000 entries, store `memory`
//! (`redis`: prefix `ember:sem:`, timeout 100 ms); an embeddings upstream's timeout 5 s.
//! A model is cached when it says `semantic_cache: true` (or gives settings); a model may
//! say so without `ai.semantic_cache`, which then takes every default.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::Builder;
use crate::spec::ai::AiSpec;
use crate::validate::ai_semantic::{self as rules, Embedder};

/// The semantic cache.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticPlan {
    /// What turns prompts into vectors.
    pub embedder: EmbedderPlan,
    /// The least cosine similarity that is a hit.
    pub threshold: f32,
    /// How long an entry is kept.
    pub ttl: Duration,
    /// The most entries kept.
    pub max_entries: u64,
    /// `None`: memory; else Redis: the URL as written, the prefix, the timeout.
    pub redis: Option<(String, String, Duration)>,
    /// The models it serves, with their threshold and temperature rule.
    pub models: Vec<ModelCachePlan>,
}

/// The embedder of the semantic cache.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedderPlan {
    /// The built-in lexical embedding.
    Embedded,
    /// An OpenAI-compatible `/v1/embeddings` upstream.
    Upstream {
        /// Its base URL.
        base_url: Option<String>,
        /// The variable that overrides it.
        base_url_env: Option<String>,
        /// The embedding model.
        model: String,
        /// The variable holding the API key.
        api_key_env: Option<String>,
        /// How long one call may take.
        timeout: Duration,
    },
}

/// A model the semantic cache serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCachePlan {
    /// The model's name.
    pub model: String,
    /// Its threshold.
    pub threshold: f32,
    /// Cache any temperature (default: only `temperature: 0`).
    pub any_temperature: bool,
}

const THRESHOLD: f32 = 0.92;
const TTL: Duration = Duration::from_secs(3600);
const MAX_ENTRIES: u64 = 10_000;
const EMBED_TIMEOUT: Duration = Duration::from_secs(5);

/// Plans `ai.semantic_cache` and the models' `semantic_cache:`; `None` when no model is
/// cached.
pub(super) fn semantic_plan(
    cx: &mut Builder<'_, '_>,
    spec: &Spanned<AiSpec>,
) -> Option<SemanticPlan> {
    let ai = &spec.value;
    let section = match &ai.semantic_cache {
        Some(s) => Some(rules::section(cx, s)?),
        None => None,
    };
    let threshold = section
        .as_ref()
        .and_then(|s| s.threshold)
        .unwrap_or(THRESHOLD);
    let mut models = Vec::new();
    for (key, value) in ai.models.as_ref().map_or(&[][..], |m| &m.value.0[..]) {
        if let Some(v) = &value.value.semantic_cache
            && let Some(m) = rules::model(cx, v)
        {
            models.push(ModelCachePlan {
                model: key.value.clone(),
                threshold: m.threshold.unwrap_or(threshold),
                any_temperature: m.any_temperature,
            });
        }
    }
    if models.is_empty() {
        return None;
    }
    let section = section.unwrap_or(rules::Checked {
        embedder: Embedder::Embedded,
        threshold: None,
        ttl: None,
        max_entries: None,
        redis: None,
    });
    let embedder = match section.embedder {
        Embedder::Embedded => EmbedderPlan::Embedded,
        Embedder::Upstream {
            base_url,
            base_url_env,
            model,
            api_key_env,
            timeout,
        } => EmbedderPlan::Upstream {
            base_url,
            base_url_env,
            model,
            api_key_env,
            timeout: timeout.unwrap_or(EMBED_TIMEOUT),
        },
    };
    Some(SemanticPlan {
        embedder,
        threshold,
        ttl: section.ttl.unwrap_or(TTL),
        max_entries: section.max_entries.unwrap_or(MAX_ENTRIES),
        redis: section.redis.map(|r| (r.template, r.prefix, r.timeout)),
        models,
    })
}
