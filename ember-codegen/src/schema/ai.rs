//! The schema of `ai:` (issue 13): router defaults, models with their upstreams, AI routes.

use serde_json::{Value, json};

use super::*;

/// `ai:`: the model router's defaults, the models, the AI routes.
pub(super) fn ai(handler: &Value) -> Value {
    let strategy = described(
        env_or(json!({ "enum": ["fallback", "cost", "latency", "weighted"] })),
        "fallback (declared order), cost (cheapest by declared prices), latency (lowest recent time to first token) or weighted (random, by weight)",
    );
    let env_name = |what: &str| json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": what });
    let price = |what: &str| {
        json!({
            "description": format!("USD per million {what} tokens (default 0)"),
            "anyOf": [{ "type": "number", "minimum": 0 }, env()]
        })
    };
    let upstream = object(
        "one upstream: an OpenAI-compatible server and the model it serves",
        json!({
            "name": text("label in x-ember-model and logs (default: its model); unique within the model"),
            "base_url": { "type": "string", "pattern": "^(http://[^/?#\\s]+|\\$\\{)", "description": "base URL, http:// (no TLS yet), up to /v1 (a trailing / is dropped)" },
            "base_url_env": env_name("environment variable that overrides base_url at run time when it is set"),
            "model": text("the upstream's model name (required)"),
            "api_key_env": env_name("environment variable holding the API key, read at run time; unset: no Authorization header (a literal api_key is refused)"),
            "timeout": duration("connect plus time to first token, and the longest gap between chunks (default 30s)"),
            "cost": object("declared prices, for strategy cost", json!({
                "input": price("prompt"),
                "output": price("completion")
            })),
            "weight": int(1, Some(1_000_000), "share of requests under strategy weighted (default 1)")
        }),
    );
    let upstream = required(upstream, &["model"]);
    let route = json!({
        "type": "object",
        "description": "an AI route: a built-in gateway endpoint, or a user handler with a model",
        "additionalProperties": false,
        "properties": {
            "gateway": { "enum": ["chat_completions", "models"], "description": "chat_completions (POST: the OpenAI-compatible proxy) or models (GET: the model list)" },
            "handler": handler,
            "model": text("with handler: the model (a key of ai.models) the handler gets"),
            "name": { "type": "string", "description": "a name for the route: accepted and ignored today" },
            "summary": { "type": "string", "description": "a one-line description: accepted and ignored today" },
            "limits": { "$ref": "#/$defs/route_limits" },
            "middleware": { "$ref": "#/$defs/middleware" },
            "conversation": { "type": "boolean", "description": "with handler: the handler also gets &mut Conversation (needs ai.context); its changes are saved after it returns (default false)" }
        },
        "oneOf": [{ "required": ["gateway"] }, { "required": ["handler", "model"] }]
    });
    object(
        "AI routes: an OpenAI-compatible gateway and user AI handlers, over a model router",
        json!({
            "router": object("routing defaults for every model", json!({
                "strategy": strategy.clone(),
                "retries": { "$ref": "#/$defs/ai_retries" },
                "cooldown": { "$ref": "#/$defs/ai_cooldown" },
                "latency_window": duration("how long time-to-first-token samples count (default 60s)")
            })),
            "models": {
                "type": "object",
                "description": "the models clients name (the keys), each with its upstreams",
                "minProperties": 1,
                "propertyNames": { "pattern": "^[^\\s]+$" },
                "additionalProperties": object("a model: its upstreams and routing (overriding ai.router key by key)", json!({
                    "strategy": strategy,
                    "retries": { "$ref": "#/$defs/ai_retries" },
                    "cooldown": { "$ref": "#/$defs/ai_cooldown" },
                    "latency_window": duration("overrides ai.router.latency_window"),
                    "upstreams": { "type": "array", "minItems": 1, "description": "in fallback order", "items": upstream },
                    // semantic cache (semcache, issue 14)
                    "semantic_cache": model_semantic_cache()
                }))
            },
            "context": context(),
            "limits": token_limits(),
            "routes": {
                "type": "object",
                "description": "`METHOD /path: { gateway: … }` or `{ handler: …, model: … }`",
                "propertyNames": { "pattern": "^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|ANY)[ \t]+/" },
                "additionalProperties": route
            },
            // semantic cache (semcache, issue 14)
            "semantic_cache": semantic_cache()
        }),
    )
}

/// `retries:` under `ai.router` or a model.
pub(super) fn ai_retries() -> Value {
    let n = |what: &str, default: u64| {
        int(
            0,
            Some(10),
            &format!(
                "retries of the same upstream after {what}, before the first token (default {default})"
            ),
        )
    };
    object(
        "retries of the same upstream per error class before falling back to the next",
        json!({
            "connect": n("a refused or failed connection", 1),
            "timeout": n("its timeout", 0),
            "rate_limited": n("a 429", 0),
            "server_error": n("a 5xx", 1)
        }),
    )
}

/// `cooldown:` under `ai.router` or a model.
pub(super) fn ai_cooldown() -> Value {
    object(
        "consecutive failures that make an upstream skipped, by every worker, for a while",
        json!({
            "failures": int(0, Some(1000), "consecutive failures (default 3; 0: never cool down)"),
            "for": duration("how long it is skipped (default 30s)")
        }),
    )
}

/// `redis:` of an AI store (issue 14).
fn ai_redis(prefix: &str) -> Value {
    object(
        "the Redis holding this state (with store: redis)",
        json!({
            "url": { "type": "string", "pattern": "^(rediss?://|\\$\\{)", "description": "redis://HOST:PORT; ${VAR:-default} is read at run time (required)" },
            "prefix": text(&format!("key prefix; ${{VAR}} is read at run time (default {prefix})")),
            "timeout": duration("each operation's timeout, then it fails open (default 100ms)")
        }),
    )
}

fn store() -> Value {
    json!({ "enum": ["memory", "redis"], "description": "memory (this process, shared by its workers; default) or redis (shared by every instance)" })
}

/// `ai.context` (issue 14).
fn context() -> Value {
    object(
        "conversation context of the gateway: stored turns prepended when a client sends only its new turn",
        json!({
            "id": object("where the conversation id is read: exactly one of header and body", json!({
                "header": text("a request header (default X-Conversation-Id)"),
                "body": text("a top-level field of the JSON body, removed before forwarding")
            })),
            "store": store(),
            "redis": ai_redis("ember:conv:"),
            "ttl": duration("how long a conversation lives after its last update (default 1h)"),
            "max_messages": int(1, Some(10_000), "the most turns kept, oldest dropped first; the system prompt is kept (default 50)"),
            "max_tokens": int(1, Some(10_000_000), "the most tokens of turns kept, oldest dropped first (default 8000)")
        }),
    )
}

/// `ai.limits` (issue 14).
fn token_limits() -> Value {
    let env_name = |what: &str| json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": what });
    object(
        "token limits enforced at admission, before the upstream call",
        json!({
            "tokens_per_minute": int(1, Some(1_000_000_000_000), "tokens per fixed one-minute window per `per` key: prompt + max_tokens reserved at admission, settled against the usage (default: no budget)"),
            "tokens_per_minute_env": env_name("environment variable overriding tokens_per_minute at run time when set"),
            "per": { "enum": ["ip", "api_key", "identity", "global"], "description": "what a budget belongs to: ip (default), api_key (the bearer key, hashed), identity, global" },
            "max_prompt_tokens": int(1, Some(1_000_000_000_000), "the longest prompt, counted locally; longer: 400 context_length_exceeded before any upstream call (default: no cap)"),
            "max_prompt_tokens_env": env_name("environment variable overriding max_prompt_tokens at run time when set"),
            "default_max_tokens": int(1, Some(1_000_000_000_000), "tokens reserved for an answer when the request names no max_tokens / max_completion_tokens (default 1024)"),
            "store": store(),
            "redis": ai_redis("ember:tpm:")
        }),
    )
}
// semantic cache (semcache, issue 14)

/// `ai.semantic_cache`: the gateway's semantic cache.
fn semantic_cache() -> Value {
    let env_name = |what: &str| json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": what });
    let upstream = required(
        object(
            "an OpenAI-compatible /v1/embeddings upstream",
            json!({
                "base_url": { "type": "string", "pattern": "^(https?://[^/?#\\s]+|\\$\\{)", "description": "base URL up to /v1 (the part before /embeddings)" },
                "base_url_env": env_name("environment variable that overrides base_url at run time when it is set"),
                "model": text("the embedding model's name (required)"),
                "api_key_env": env_name("environment variable holding the API key, read at run time (a literal api_key is refused)"),
                "timeout": duration("how long one embedding call may take; then the request goes upstream uncached (default 5s)")
            }),
        ),
        &["model"],
    );
    object(
        "the gateway's semantic cache: answers to prompts close to an earlier one, in the same scope, are replayed",
        json!({
            "embedder": {
                "description": "embedded (built-in lexical embedding: no download, no service; default) or an embeddings upstream",
                "anyOf": [{ "enum": ["embedded"] }, upstream]
            },
            "threshold": {
                "description": "the least cosine similarity that is a hit (default 0.92)",
                "anyOf": [{ "type": "number", "exclusiveMinimum": 0, "maximum": 1 }, env()]
            },
            "ttl": duration("how long an entry is kept (default 1h)"),
            "max_entries": int(1, Some(10_000_000), "the most entries kept; the oldest go first (default 10000)"),
            "store": described(env_or(json!({ "enum": ["memory", "redis"] })), "memory (this process, default) or redis (entries shared by instances; each keeps a local index in sync)"),
            "redis": required(object("the Redis store (with store: redis)", json!({
                "url": text("redis://host:port[/db] (or rediss://, unix://); ${VAR:-default} is read again at start-up"),
                "prefix": text("prefix of the cache's Redis key (default ember:sem:)"),
                "timeout": duration("how long one Redis call may take before the cache carries on without it (default 100ms)")
            })), &["url"])
        }),
    )
}

/// A model's `semantic_cache:`.
fn model_semantic_cache() -> Value {
    json!({
        "description": "true: the gateway's semantic cache serves this model (requests with temperature 0); or its settings",
        "anyOf": [
            { "type": "boolean" },
            object("the semantic cache's settings for this model", json!({
                "threshold": {
                    "description": "overrides ai.semantic_cache.threshold",
                    "anyOf": [{ "type": "number", "exclusiveMinimum": 0, "maximum": 1 }, env()]
                },
                "any_temperature": boolean("cache requests whatever their temperature (default false: only temperature 0)")
            }))
        ]
    })
}
