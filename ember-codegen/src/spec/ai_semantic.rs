//! `ai.semantic_cache` and a model's `semantic_cache:` as written (issue 14: the semantic
//! cache of the gateway).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::{RemoteSpec, Scalar};

/// `ai.semantic_cache`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemanticCacheSpec {
    /// `embedded`, or an embeddings upstream.
    pub embedder: Option<Spanned<EmbedderValue>>,
    /// The least cosine similarity that is a hit.
    pub threshold: Option<Spanned<Scalar>>,
    /// How long an entry is kept.
    pub ttl: Option<Spanned<Scalar>>,
    /// The most entries kept.
    pub max_entries: Option<Spanned<Scalar>>,
    /// `memory` or `redis`.
    pub store: Option<Spanned<Scalar>>,
    /// The Redis store (with `store: redis`).
    pub redis: Option<Spanned<RemoteSpec>>,
}

/// The keys of `ai.semantic_cache`, for suggestions.
pub(crate) const SEMANTIC_KEYS: &[&str] = &[
    "embedder",
    "threshold",
    "ttl",
    "max_entries",
    "store",
    "redis",
];

/// `embedder:`: a name (`embedded`) or an embeddings upstream.
#[derive(Debug)]
pub enum EmbedderValue {
    /// A built-in embedder's name.
    Name(String),
    /// An OpenAI-compatible `/v1/embeddings` upstream.
    Upstream(Box<EmbedderSpec>),
}

/// `embedder: { base_url, base_url_env, model, api_key_env, timeout }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderSpec {
    /// The base URL (`http://host:port/v1`).
    pub base_url: Option<Spanned<String>>,
    /// An environment variable that overrides `base_url` at run time.
    #[serde(default, deserialize_with = "present")]
    pub base_url_env: Option<Spanned<Option<String>>>,
    /// The embedding model's name.
    pub model: Option<Spanned<String>>,
    /// The environment variable holding the API key.
    #[serde(default, deserialize_with = "present")]
    pub api_key_env: Option<Spanned<Option<String>>>,
    /// Refused: a key written into the spec.
    pub api_key: Option<Spanned<IgnoredAny>>,
    /// How long one embedding call may take.
    pub timeout: Option<Spanned<Scalar>>,
}

/// The keys of an embedder upstream, for suggestions.
pub(crate) const EMBEDDER_KEYS: &[&str] = &[
    "base_url",
    "base_url_env",
    "model",
    "api_key_env",
    "api_key",
    "timeout",
];

/// A key that is present even with an empty value (reported, not taken as absent).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A model's `semantic_cache:`: `true`/`false`, or its settings.
#[derive(Debug)]
pub enum ModelCacheValue {
    /// `true` or `false` (as written).
    Flag(String),
    /// `{ threshold, any_temperature }` (cached).
    Settings(ModelCacheSpec),
}

/// A model's `semantic_cache: { threshold, any_temperature }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCacheSpec {
    /// Overrides `ai.semantic_cache.threshold`.
    pub threshold: Option<Spanned<Scalar>>,
    /// Cache requests whatever their temperature.
    pub any_temperature: Option<Spanned<Scalar>>,
}

/// The keys of a model's `semantic_cache`, for suggestions.
pub(crate) const MODEL_CACHE_KEYS: &[&str] = &["threshold", "any_temperature"];

impl<'de> Deserialize<'de> for EmbedderValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EmbedderValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`embedded`, or a mapping with `base_url` and `model`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EmbedderValue, E> {
                Ok(EmbedderValue::Name(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EmbedderValue, A::Error> {
                EmbedderSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|u| EmbedderValue::Upstream(Box::new(u)))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for ModelCacheValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ModelCacheValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true`, `false`, or a mapping with `threshold` / `any_temperature`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ModelCacheValue, E> {
                Ok(ModelCacheValue::Flag(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ModelCacheValue, E> {
                Ok(ModelCacheValue::Flag(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ModelCacheValue, A::Error> {
                ModelCacheSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ModelCacheValue::Settings)
            }
        }
        d.deserialize_any(V)
    }
}
