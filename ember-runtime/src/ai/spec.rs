//! The compiled `ai:` section: what generated code writes as `static AI_SPEC: AiSpec = …`.
//! Every type is `const`-constructible; nothing here does I/O or reads the environment
//! (that happens once, when `AiCell::get` first runs).

use std::time::Duration;

/// The whole `ai:` section: its models, in spec order (routes name them by index).
#[derive(Debug)]
pub struct AiSpec {
    /// The models clients can name, in spec order.
    pub models: &'static [ModelSpec],
    /// Conversation context of the gateway (`ai.context`), if declared.
    pub context: Option<&'static super::context::ContextSpec>,
    /// Token limits of the gateway (`ai.limits`), if declared.
    pub limits: Option<&'static super::limits::LimitsSpec>,
    // semantic cache (semcache, issue 14)
    /// `ai.semantic_cache`, when the spec has one.
    pub semantic_cache: Option<&'static super::semantic::SemanticSpec>,
}

/// One client-facing model (a key of `ai.models`) with its router settings, the router's
/// defaults already applied.
#[derive(Debug)]
pub struct ModelSpec {
    /// The name clients send as `"model"`.
    pub name: &'static str,
    /// How an upstream is chosen.
    pub strategy: Strategy,
    /// Retries of the same upstream per error class, before the first token.
    pub retries: Retries,
    /// When a failing upstream is skipped, and for how long.
    pub cooldown: Cooldown,
    /// How long a time-to-first-token sample counts for the `latency` strategy.
    pub latency_window: Duration,
    /// The upstreams, in declared order (at least one).
    pub upstreams: &'static [UpstreamSpec],
}

/// One upstream of a model: an OpenAI-compatible server and the model name it serves.
#[derive(Debug)]
pub struct UpstreamSpec {
    /// Its label in `x-ember-model` and logs.
    pub name: &'static str,
    /// The base URL (ending in `/v1`, say), unless `base_url_env` is set at run time.
    pub base_url: Option<&'static str>,
    /// An environment variable that overrides `base_url` when set (read at start-up).
    pub base_url_env: Option<&'static str>,
    /// The model name sent upstream.
    pub model: &'static str,
    /// An environment variable holding the API key (`Authorization: Bearer …`); unset at
    /// run time → no auth header.
    pub api_key_env: Option<&'static str>,
    /// Connect + time to first token; also the longest gap allowed between chunks.
    pub timeout: Duration,
    /// USD per 1M input tokens (the `cost` strategy).
    pub cost_input: f64,
    /// USD per 1M output tokens (the `cost` strategy).
    pub cost_output: f64,
    /// Relative weight for the `weighted` strategy (≥ 1).
    pub weight: u32,
}

/// How a model's router orders its upstreams. Whatever the strategy, upstreams cooling
/// down are skipped and the others are fallbacks, tried in turn before the first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Declared order.
    Fallback,
    /// Cheapest first, by declared input + output price.
    Cost,
    /// Lowest recent time to first token first; unmeasured upstreams before measured ones.
    Latency,
    /// Random by weight, then the rest by weight.
    Weighted,
}

/// Retries of the same upstream, per class of error, before falling back to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Connection refused, reset, DNS failure.
    pub connect: u8,
    /// No response headers, first token, or next chunk within the upstream's `timeout`.
    pub timeout: u8,
    /// HTTP 429 from the upstream.
    pub rate_limited: u8,
    /// HTTP 5xx from the upstream.
    pub server_error: u8,
}

impl Retries {
    /// The default: one retry on connect errors and server errors, none otherwise.
    pub const DEFAULT: Retries = Retries {
        connect: 1,
        timeout: 0,
        rate_limited: 0,
        server_error: 1,
    };
}

/// After `failures` consecutive failures an upstream is skipped for `period`, by every
/// worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooldown {
    /// Consecutive failures that start a cooldown (0: never).
    pub failures: u32,
    /// How long the upstream is skipped.
    pub period: Duration,
}

impl Cooldown {
    /// The default: 3 failures → 30 s.
    pub const DEFAULT: Cooldown = Cooldown {
        failures: 3,
        period: Duration::from_secs(30),
    };
}
