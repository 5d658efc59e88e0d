//! `ai:` as written: the model router's defaults, the models clients name (each with its
//! upstreams), and the AI routes (the built-in OpenAI-compatible gateway, or user handlers
//! that get the parsed chat request and a model).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::{Entries, LimitsSpec, MwList, Scalar};

/// `ai:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiSpec {
    /// Defaults for every model.
    pub router: Option<Spanned<RouterSpec>>,
    /// The models clients name, in order.
    pub models: Option<Spanned<Entries<Spanned<String>, Spanned<ModelSpec>>>>,
    /// `METHOD /path: { gateway: … }` or `{ handler: …, model: … }`, in order.
    pub routes: Option<Spanned<Entries<Spanned<String>, Spanned<AiRouteValue>>>>,
    /// Conversation context of the gateway (issue 14).
    pub context: Option<Spanned<ContextSpec>>,
    /// Token limits of the gateway (issue 14).
    pub limits: Option<Spanned<TokenLimitsSpec>>,
    // semantic cache (semcache, issue 14)
    /// The gateway's semantic cache.
    pub semantic_cache: Option<Spanned<super::ai_semantic::SemanticCacheSpec>>,
}

/// The keys of `ai`, for suggestions.
pub(crate) const AI_KEYS: &[&str] = &[
    "router",
    "models",
    "routes",
    "context",
    "limits",
    "semantic_cache", // semantic cache (semcache)
];

/// `ai.context`: the gateway's conversation memory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSpec {
    /// `{ header: NAME }` or `{ body: FIELD }`.
    pub id: Option<Spanned<ContextIdSpec>>,
    /// `memory` or `redis`.
    pub store: Option<Spanned<String>>,
    /// With `store: redis`.
    pub redis: Option<Spanned<AiRedisSpec>>,
    /// How long a conversation lives after its last update.
    pub ttl: Option<Spanned<Scalar>>,
    /// The most turns kept.
    pub max_messages: Option<Spanned<Scalar>>,
    /// The most tokens of turns kept.
    pub max_tokens: Option<Spanned<Scalar>>,
}

/// The keys of `ai.context`, for suggestions.
pub(crate) const CONTEXT_KEYS: &[&str] =
    &["id", "store", "redis", "ttl", "max_messages", "max_tokens"];

/// `ai.context.id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextIdSpec {
    /// A request header.
    pub header: Option<Spanned<String>>,
    /// A top-level body field.
    pub body: Option<Spanned<String>>,
}

/// `redis:` of an AI store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiRedisSpec {
    /// `redis://…` (`${VAR:-default}` read at run time).
    pub url: Option<Spanned<String>>,
    /// The key prefix.
    pub prefix: Option<Spanned<String>>,
    /// Each operation's timeout.
    pub timeout: Option<Spanned<Scalar>>,
}

/// `ai.limits`: token limits enforced at admission.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenLimitsSpec {
    /// The budget per minute.
    pub tokens_per_minute: Option<Spanned<Scalar>>,
    /// Its run-time override.
    #[serde(default, deserialize_with = "present")]
    pub tokens_per_minute_env: Option<Spanned<Option<String>>>,
    /// `ip`, `api_key`, `identity` or `global`.
    pub per: Option<Spanned<String>>,
    /// The longest prompt.
    pub max_prompt_tokens: Option<Spanned<Scalar>>,
    /// Its run-time override.
    #[serde(default, deserialize_with = "present")]
    pub max_prompt_tokens_env: Option<Spanned<Option<String>>>,
    /// Reserved when a request names no `max_tokens`.
    pub default_max_tokens: Option<Spanned<Scalar>>,
    /// `memory` or `redis`.
    pub store: Option<Spanned<String>>,
    /// With `store: redis`.
    pub redis: Option<Spanned<AiRedisSpec>>,
}

/// The keys of `ai.limits`, for suggestions.
pub(crate) const TOKEN_LIMITS_KEYS: &[&str] = &[
    "tokens_per_minute",
    "tokens_per_minute_env",
    "per",
    "max_prompt_tokens",
    "max_prompt_tokens_env",
    "default_max_tokens",
    "store",
    "redis",
];

/// `ai.router`: how every model routes unless it says otherwise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    /// `fallback`, `cost`, `latency` or `weighted`.
    pub strategy: Option<Spanned<String>>,
    /// Retries of the same upstream per error class.
    pub retries: Option<Spanned<RetriesSpec>>,
    /// When a failing upstream is skipped.
    pub cooldown: Option<Spanned<CooldownSpec>>,
    /// How long time-to-first-token samples count (strategy `latency`).
    pub latency_window: Option<Spanned<Scalar>>,
}

/// The keys of `ai.router`, for suggestions.
pub(crate) const ROUTER_KEYS: &[&str] = &["strategy", "retries", "cooldown", "latency_window"];

/// `ai.models.NAME`: a model clients name, and where it is served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Overrides `router.strategy`.
    pub strategy: Option<Spanned<String>>,
    /// Overrides `router.retries` (key by key).
    pub retries: Option<Spanned<RetriesSpec>>,
    /// Overrides `router.cooldown` (key by key).
    pub cooldown: Option<Spanned<CooldownSpec>>,
    /// Overrides `router.latency_window`.
    pub latency_window: Option<Spanned<Scalar>>,
    /// The upstreams serving it, in fallback order.
    pub upstreams: Option<Spanned<Vec<Spanned<UpstreamSpec>>>>,
    // semantic cache (semcache, issue 14)
    /// Whether (and how) the gateway's semantic cache serves this model.
    pub semantic_cache: Option<Spanned<super::ai_semantic::ModelCacheValue>>,
}

/// The keys of a model, for suggestions.
pub(crate) const MODEL_KEYS: &[&str] = &[
    "strategy",
    "retries",
    "cooldown",
    "latency_window",
    "upstreams",
    "semantic_cache", // semantic cache (semcache)
];

/// `retries:` under `ai.router` or a model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetriesSpec {
    /// After a refused or failed connection.
    pub connect: Option<Spanned<Scalar>>,
    /// After the upstream's `timeout`.
    pub timeout: Option<Spanned<Scalar>>,
    /// After a `429`.
    pub rate_limited: Option<Spanned<Scalar>>,
    /// After a `5xx`.
    pub server_error: Option<Spanned<Scalar>>,
}

/// The keys of `retries`, for suggestions.
pub(crate) const RETRY_KEYS: &[&str] = &["connect", "timeout", "rate_limited", "server_error"];

/// `cooldown:` under `ai.router` or a model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CooldownSpec {
    /// Consecutive failures that start a cooldown.
    pub failures: Option<Spanned<Scalar>>,
    /// How long the upstream is skipped.
    #[serde(rename = "for")]
    pub period: Option<Spanned<Scalar>>,
}

/// The keys of `cooldown`, for suggestions.
pub(crate) const COOLDOWN_KEYS: &[&str] = &["failures", "for"];

/// One entry of a model's `upstreams:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Its label in `x-ember-model` and logs (default: its `model`).
    pub name: Option<Spanned<String>>,
    /// The OpenAI-compatible base URL (`http://host:port/v1`).
    pub base_url: Option<Spanned<String>>,
    /// An environment variable that overrides `base_url` at run time (`Some(None)`: the key
    /// is there without a name, which is reported).
    #[serde(default, deserialize_with = "present")]
    pub base_url_env: Option<Spanned<Option<String>>>,
    /// The upstream's model name.
    pub model: Option<Spanned<String>>,
    /// The environment variable holding the API key, read at run time (`Some(None)`: the
    /// key is there without a name, which is reported).
    #[serde(default, deserialize_with = "present")]
    pub api_key_env: Option<Spanned<Option<String>>>,
    /// Refused: a key written into the spec (only `api_key_env` is accepted).
    pub api_key: Option<Spanned<IgnoredAny>>,
    /// Connect and time to first token; also the longest gap between chunks.
    pub timeout: Option<Spanned<Scalar>>,
    /// USD per million tokens.
    pub cost: Option<Spanned<CostSpec>>,
    /// Share of requests under strategy `weighted`.
    pub weight: Option<Spanned<Scalar>>,
}

/// A key that is present, even with an empty (null) value: `api_key_env:` alone is a
/// mistake to report, not the same as leaving the key out.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The keys of an upstream, for suggestions.
pub(crate) const UPSTREAM_KEYS: &[&str] = &[
    "name",
    "base_url",
    "base_url_env",
    "model",
    "api_key_env",
    "api_key",
    "timeout",
    "cost",
    "weight",
];

/// `cost:` of an upstream: USD per million tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    /// Per million prompt tokens.
    pub input: Option<Spanned<Scalar>>,
    /// Per million completion tokens.
    pub output: Option<Spanned<Scalar>>,
}

/// The keys of `cost`, for suggestions.
pub(crate) const COST_KEYS: &[&str] = &["input", "output"];

/// The value of an `ai.routes` entry: always a mapping (an AI route needs more than a
/// handler path), with a clear error for anything else.
#[derive(Debug)]
pub struct AiRouteValue(pub AiRouteSpec);

impl std::ops::Deref for AiRouteValue {
    type Target = AiRouteSpec;
    fn deref(&self) -> &AiRouteSpec {
        &self.0
    }
}

impl<'de> Deserialize<'de> for AiRouteValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AiRouteValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping with `gateway`, or with `handler` and `model`")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AiRouteValue, A::Error> {
                AiRouteSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(AiRouteValue)
            }
        }
        d.deserialize_any(V)
    }
}

/// One entry of `ai.routes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiRouteSpec {
    /// A built-in endpoint: `chat_completions` or `models`.
    pub gateway: Option<Spanned<String>>,
    /// A user handler (with `model`).
    pub handler: Option<Spanned<String>>,
    /// The model a user handler gets.
    pub model: Option<Spanned<String>>,
    /// A name for the route.
    pub name: Option<Spanned<String>>,
    /// A one-line description.
    pub summary: Option<Spanned<String>>,
    /// Limits for this route (route-level keys only).
    pub limits: Option<Spanned<LimitsSpec>>,
    /// Middleware, outermost first, after the top-level list.
    pub middleware: Option<Spanned<MwList>>,
    /// With `handler`: the handler also gets `&mut Conversation` (issue 14).
    pub conversation: Option<Spanned<bool>>,
}

/// The keys of an AI route, for suggestions.
pub(crate) const AI_ROUTE_KEYS: &[&str] = &[
    "gateway",
    "handler",
    "model",
    "name",
    "summary",
    "limits",
    "middleware",
    "conversation",
];

/// How a model picks among its healthy upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// In declared order.
    Fallback,
    /// The cheapest by declared prices.
    Cost,
    /// The lowest recent time to first token.
    Latency,
    /// At random, in proportion to `weight`.
    Weighted,
}

/// The strategy names.
pub const STRATEGIES: &[&str] = &["fallback", "cost", "latency", "weighted"];

impl Strategy {
    /// The strategy called `name`.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Some(match name {
            "fallback" => Strategy::Fallback,
            "cost" => Strategy::Cost,
            "latency" => Strategy::Latency,
            "weighted" => Strategy::Weighted,
            _ => return None,
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        STRATEGIES[self as usize]
    }
}

/// A built-in endpoint of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    /// `POST /v1/chat/completions`: the OpenAI-compatible proxy.
    ChatCompletions,
    /// `GET /v1/models`: the models clients may name.
    Models,
}

/// The gateway endpoint names.
pub const GATEWAYS: &[&str] = &["chat_completions", "models"];

impl Gateway {
    /// The endpoint called `name`.
    pub fn from_name(name: &str) -> Option<Gateway> {
        match name {
            "chat_completions" => Some(Gateway::ChatCompletions),
            "models" => Some(Gateway::Models),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        GATEWAYS[self as usize]
    }
}
