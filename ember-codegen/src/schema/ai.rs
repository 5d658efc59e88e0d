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
            "middleware": { "$ref": "#/$defs/middleware" }
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
                    "upstreams": { "type": "array", "minItems": 1, "description": "in fallback order", "items": upstream }
                }))
            },
            "routes": {
                "type": "object",
                "description": "`METHOD /path: { gateway: … }` or `{ handler: …, model: … }`",
                "propertyNames": { "pattern": "^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|ANY)[ \t]+/" },
                "additionalProperties": route
            }
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
