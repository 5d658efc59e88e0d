//! A JSON Schema of `ember.yaml`, for editors (yaml-language-server) to complete and check.
//!
//! It names every key the parser accepts, every middleware option and every cache option,
//! each with a description, and types, enums and patterns where they are cheap to state.
//! `docs/spec.md` documents the same keys: `ember-codegen/tests/docs_schema.rs` checks that
//! the two agree, and that the parser accepts exactly the keys the schema names.
//!
//! Where the parser interpolates `${NAME}` / `${NAME:-default}` in a value, the schema
//! accepts any string containing `${` there as well.

mod ai;
// observe (obs, issue 16)
mod observe;
mod sessions;

use ai::{ai, ai_cooldown, ai_retries};
use serde_json::{Value, json};
use sessions::cookies_and_session;

/// A string holding `${NAME}` or `${NAME:-default}` (replaced at build time).
fn env() -> Value {
    json!({
        "type": "string",
        "pattern": "\\$\\{",
        "description": "${NAME} or ${NAME:-default}: an environment variable, read at build time"
    })
}

/// `schema`, or a `${…}` string in its place.
fn env_or(schema: Value) -> Value {
    json!({ "anyOf": [schema, env()] })
}

/// Adds a description to a schema.
fn described(mut schema: Value, description: &str) -> Value {
    if let Some(o) = schema.as_object_mut() {
        o.insert("description".to_owned(), json!(description));
    }
    schema
}

/// A whole number from `min`, or `${…}`.
fn int(min: u64, max: Option<u64>, description: &str) -> Value {
    let mut n = json!({ "type": "integer", "minimum": min });
    if let Some(max) = max {
        n["maximum"] = json!(max);
    }
    described(env_or(n), description)
}

/// A byte size (`16KiB`), or `${…}`.
fn size(description: &str) -> Value {
    json!({
        "description": format!("{description} (a byte size: a whole number, optionally with B, KB, MB, GB, KiB, MiB or GiB)"),
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": "^[0-9_]+ ?(B|KB|kB|MB|GB|KiB|MiB|GiB)?$" },
            env()
        ]
    })
}

/// The pattern of a duration with its unit (`30s`).
const DURATION: &str = "^[0-9_]+ ?(ms|s|m|min|h)$";

/// A duration with a unit (`500ms`, `30s`, `5m`, `1h`), or `${…}`.
fn duration(description: &str) -> Value {
    json!({
        "description": format!("{description} (a duration with a unit: ms, s, m or min, h)"),
        "anyOf": [{ "type": "string", "pattern": DURATION }, env()]
    })
}

/// A boolean as the middleware reads it (`true`/`false`, `on`/`off`, `yes`/`no`), or `${…}`.
fn boolean(description: &str) -> Value {
    json!({
        "description": description,
        "anyOf": [
            { "type": "boolean" },
            { "enum": ["true", "false", "on", "off", "yes", "no"] },
            env()
        ]
    })
}

/// A string.
fn text(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

/// A value the parser takes as a list; a single item counts as a list of one.
fn list(item: Value, description: &str) -> Value {
    json!({
        "description": description,
        "anyOf": [item.clone(), { "type": "array", "items": item }]
    })
}

/// The pattern of a Rust function path.
const RUST_PATH: &str = "^(::)?[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$";

/// A function path, relative to `handlers` unless it starts with `crate::` or `::`.
fn rust_path(description: &str) -> Value {
    json!({ "type": "string", "pattern": RUST_PATH, "description": description })
}

/// An object that takes exactly `properties`.
fn object(description: &str, properties: Value) -> Value {
    json!({
        "type": "object",
        "description": description,
        "additionalProperties": false,
        "properties": properties
    })
}

/// `schema` with these keys required.
fn required(mut schema: Value, keys: &[&str]) -> Value {
    schema["required"] = json!(keys);
    schema
}

/// The HTTP methods CORS may allow (upper or lower case).
fn methods() -> Value {
    let upper = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let mut all: Vec<String> = upper.iter().map(|m| (*m).to_owned()).collect();
    all.extend(upper.iter().map(|m| m.to_ascii_lowercase()));
    env_or(json!({ "enum": all }))
}

/// The options of `server.limits` (`server`) or of a route's or group's `limits`.
fn limits(server: bool) -> Value {
    let mut props = json!({
        "max_body_size": size("largest request body; a larger Content-Length is 413 (default 1MiB)"),
        "handler_timeout": {
            "description": "how long a handler may run: 503 and close when over (a duration, or off; default 30s)",
            "anyOf": [
                { "type": "string", "pattern": DURATION },
                { "enum": ["off", "none", false] },
                env()
            ]
        }
    });
    if server {
        let more = json!({
            "max_request_line": size("longest request line; longer is 414 (default 8KiB, 64B to 1MiB)"),
            "max_header_bytes": size("most bytes of request head; more is 431 (default 16KiB, 256B to 1MiB)"),
            "max_headers": int(1, Some(128), "most header fields; more is 431 (default 100)"),
            "header_read_timeout": duration("time to send a whole request head once it starts: 408 and close (default 10s)"),
            "body_read_timeout": duration("time to send a body once the head is in: 408 and close (default 30s)"),
            "keep_alive_timeout": duration("idle time between requests before the connection closes; also the send timeout (default 30s)"),
            "max_connections": int(1, Some(10_000_000), "most simultaneous connections (default 10000)")
        });
        if let (Some(p), Some(m)) = (props.as_object_mut(), more.as_object()) {
            p.extend(m.clone());
        }
    }
    let what = if server {
        "limits and timeouts of the server (defaults are safe for a public server)"
    } else {
        "the route-level limits: max_body_size and handler_timeout"
    };
    object(what, props)
}

/// `caches.NAME`.
fn cache() -> Value {
    // scale (issue 18): a Redis backend may leave `url` to the top-level `redis:`.
    let remote = |addr: &str, what: &str, description: &str| {
        let need: &[&str] = if addr == "url" { &[] } else { &[addr] };
        json!({
            "type": "object",
            "description": description,
            "additionalProperties": false,
            "required": need,
            "properties": {
                addr: text(what),
                "prefix": text("prefix of every key in the backend (default none)"),
                "timeout": duration("how long one operation may take before the cache is skipped (default 100ms)")
            }
        })
    };
    let header_name = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
    object(
        "a named cache; routes and groups use it with `cache: NAME`",
        json!({
            "ttl": duration("how long an entry is fresh (required unless `static: true`)"),
            "static": {
                "description": "computed once, kept until purged (in process only; no ttl)",
                "anyOf": [{ "type": "boolean" }, { "enum": ["true", "false", "on", "off", "yes", "no"] }]
            },
            "redis": remote("url", "redis://host:port[/db] (or rediss://, unix://); ${VAR:-default} is read again at start-up; default: the top-level redis", "keep entries in Redis"),
            "memcached": remote("addr", "host:port; ${VAR:-default} is read again at start-up", "keep entries in Memcached"),
            "max_entries": int(1, Some(1 << 32), "most entries held (in-process caches; default 10000 when max_bytes is not set either)"),
            "max_bytes": size("most bytes of keys, headers and bodies held (in-process caches; 1KiB to 1TiB)"),
            "stale_while_revalidate": duration("how long past its TTL an entry is still answered while one background refresh runs"),
            "jitter": {
                "description": "shorten each entry's TTL by a random amount up to this (a duration shorter than the TTL, or 1% to 99%)",
                "anyOf": [
                    { "type": "string", "pattern": DURATION },
                    { "type": "string", "pattern": "^ *[0-9]{1,2} *%$" },
                    env()
                ]
            },
            "key": object("what a cached response's key is made of", json!({
                "query": {
                    "description": "which query parameters enter the key: all (default), none, or a list of names",
                    "anyOf": [
                        { "enum": ["all", "none"] },
                        { "type": "array", "minItems": 1, "uniqueItems": true, "items": { "type": "string", "pattern": "^[^&=?# ]+$" } }
                    ]
                },
                "vary": {
                    "description": "request headers whose values enter the key",
                    "type": "array",
                    "uniqueItems": true,
                    "items": { "type": "string", "pattern": header_name }
                }
            })),
            "statuses": {
                "description": "the statuses that are cached (default [200]); 200 to 599 except 204 and 304",
                "type": "array",
                "minItems": 1,
                "uniqueItems": true,
                "items": { "type": "integer", "minimum": 200, "maximum": 599, "not": { "enum": [204, 304] } }
            },
            "header": {
                "description": "the name of the header saying HIT, MISS, STALE or BYPASS (default X-Cache), or off",
                "anyOf": [
                    { "type": "string", "pattern": header_name },
                    { "enum": ["off", "none", false] }
                ]
            }
        }),
    )
}

/// One `middleware:` entry: `kind: { options }` (or `skip: NAME`).
fn middleware_entry() -> Value {
    let name = text("the entry's name, for `skip` (default: its kind)");
    let realm = json!({
        "type": "string",
        "pattern": "^[^\"\\\\]*$",
        "description": "the realm in WWW-Authenticate (default api)"
    });
    let verify = rust_path(
        "instead of secrets: async fn(&Request<'_>, &str) -> Option<String> returning the identity",
    );
    let cors = object(
        "Cross-Origin Resource Sharing: answers preflights, adds Access-Control-* headers",
        json!({
            "name": name,
            "allow_origins": list(text("an origin (https://app.example.com), a pattern (*.example.com), or *"), "origins allowed (required)"),
            "allow_methods": list(methods(), "methods a preflight may ask for (default GET, HEAD, POST, PUT, PATCH, DELETE)"),
            "allow_headers": list(text("a header name, or *"), "request headers a preflight may ask for (default none)"),
            "allow_credentials": boolean("send Access-Control-Allow-Credentials: true (default false)"),
            "max_age": {
                "description": "Access-Control-Max-Age: seconds, or a duration (default none)",
                "anyOf": [{ "type": "integer", "minimum": 0 }, { "type": "string", "pattern": DURATION }, env()]
            },
            "expose_headers": list(text("a header name"), "Access-Control-Expose-Headers (default none)")
        }),
    );
    let bearer = object(
        "Authorization: Bearer tokens; the identity reaches the handler as req.identity()",
        json!({
            "name": name,
            "tokens_env": text("environment variable holding the tokens, read at run time"),
            "tokens_file": text("file holding the tokens, read at run time"),
            "verify": verify,
            "realm": realm
        }),
    );
    let api_key = object(
        "API keys in a header or query parameter; the identity reaches the handler as req.identity()",
        json!({
            "name": name,
            "header": text("the header carrying the key (default x-api-key)"),
            "query": text("instead: the query parameter carrying the key"),
            "keys_env": text("environment variable holding the keys, read at run time"),
            "keys_file": text("file holding the keys, read at run time"),
            "verify": verify,
            "realm": realm
        }),
    );
    let rate_limit = object(
        "token-bucket rate limit: 429 with Retry-After when a bucket is empty",
        json!({
            "name": name,
            "rate": {
                "description": "refill rate: N/s, N/min, N/h or N/day (required)",
                "anyOf": [
                    { "type": "string", "pattern": "^ *[0-9]+ */ *(s|sec|second|m|min|minute|h|hour|d|day) *$" },
                    env()
                ]
            },
            "burst": int(1, Some(u64::from(u32::MAX)), "bucket size (default: N of the rate)"),
            "key": {
                "description": "what a bucket is per: client_ip (default), global, identity, or header:NAME",
                "anyOf": [
                    { "enum": ["client_ip", "global", "identity"] },
                    { "type": "string", "pattern": "^header: *[^ ]" },
                    env()
                ]
            },
            "trusted_proxies": list(text("an IP address"), "with key client_ip: peers whose X-Forwarded-For is believed"),
            "store": described(env_or(json!({ "enum": ["memory", "redis"] })), "where buckets live (default memory)"),
            "redis_url": text("with store: redis (default: the top-level redis, else redis://127.0.0.1:6379)"),
            "prefix": text("Redis key prefix (default ember:rl:NAME)"),
            "max_keys": int(1, None, "most buckets kept in memory (default 100000)"),
            "timeout": duration("with store: redis: how long a check may wait for Redis before the request is allowed (default 100ms)")
        }),
    );
    let rate_limit = required(rate_limit, &["rate"]);
    let cors = required(cors, &["allow_origins"]);
    let mut hook = object(
        "user functions around the rest of the chain",
        json!({
            "name": name,
            "before": rust_path("async fn(&Request<'_>) -> Option<Response>: Some answers at once"),
            "extend": rust_path("async fn(&Request<'_>) -> Result<T, Response>: Ok(value) reaches the handler as req.extension::<T>()"),
            "after": rust_path("async fn(&Request<'_>, Response) -> Response: sees the inner answer")
        }),
    );
    hook["anyOf"] = json!([
        { "required": ["before"] },
        { "required": ["extend"] },
        { "required": ["after"] }
    ]);
    let skip = list(
        json!({ "type": "string" }),
        "removes inherited entries with this name (or these names)",
    );
    let kinds = [
        ("cors", cors),
        ("bearer", bearer),
        ("api_key", api_key),
        ("rate_limit", rate_limit),
        ("hook", hook),
        ("skip", skip),
    ];
    let branches: Vec<Value> = kinds
        .into_iter()
        .map(|(kind, options)| {
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": [kind],
                "properties": { kind: options }
            })
        })
        .collect();
    json!({
        "description": "one middleware: `kind: { options }`",
        "oneOf": branches
    })
}

/// The schema (JSON Schema 2020-12) of the spec language this version accepts.
pub fn schema() -> Value {
    // observe (obs, issue 16)
    let (access_log, request_id, metrics) = observe::observe();
    let handler = rust_path(
        "a handler function path, relative to `handlers` unless it starts with `crate::` or `::`",
    );
    let cache_ref = json!({
        "description": "a cache declared under `caches:` (GET and ANY routes only), or off",
        "anyOf": [
            { "type": "string", "pattern": "^[A-Za-z0-9_-]+$" },
            { "enum": ["off", "none", false] },
            env()
        ]
    });
    // cookies & sessions (issue 15)
    let session_ref = json!({
        "description": "a session declared under `sessions:` (its handler takes `&mut Session` last), or off",
        "anyOf": [
            { "type": "string", "pattern": "^[A-Za-z0-9_-]+$" },
            { "enum": ["off", "none", false] },
            env()
        ]
    });
    let (cookies, session) = cookies_and_session();
    let reserved = json!({
        "description": "reserved for OpenAPI: accepted and ignored today",
        "type": "string"
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ember.yaml",
        "description": "An Ember application: routes and server settings, compiled into a router at build time.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "app": { "type": "string", "description": "the application's name, in the generated App's doc comment (default app)" },
            "handlers": { "type": "string", "pattern": RUST_PATH, "description": "module handler paths are relative to (default crate::handlers)" },
            "server": object("listener, workers, backend, io_uring, limits, shutdown", json!({
                "listen": text("host:port (default 0.0.0.0:8000; env EMBER_LISTEN overrides at run time)"),
                "workers": {
                    "description": "auto (one per core, the default) or a count from 1 to 4096 (env EMBER_WORKERS overrides at run time)",
                    "anyOf": [{ "const": "auto" }, { "type": "integer", "minimum": 1, "maximum": 4096 }, env()]
                },
                "backend": described(env_or(json!({ "enum": ["auto", "io_uring", "tokio"] })), "auto (default: io_uring when the kernel allows it), io_uring or tokio (env EMBER_BACKEND overrides at run time)"),
                "io_uring": object("the io_uring backend's ring and receive buffers (per worker)", json!({
                    "entries": int(8, Some(32768), "submission entries per ring, a power of two (default 1024)"),
                    "num_bufs": int(1, Some(32768), "receive buffers per worker, a power of two (default 512)"),
                    "buf_size": size("size of each receive buffer (default 1KiB, 512B to 1MiB)"),
                    "provided_buffers": boolean("multishot receives into the worker's shared buffer ring (default true); false: single-shot receives into each connection's own buffer"),
                    "defer_taskrun": boolean("rings set up with DEFER_TASKRUN where the kernel has it (Linux 6.1+; default true): completions posted in one batch when the worker asks, an eventfd wakes it; false: COOP_TASKRUN and the ring's own descriptor (env EMBER_IO_URING_DEFER overrides at run time)")
                })),
                "limits": limits(true),
                "shutdown_grace": duration("how long in-flight requests may run after SIGTERM/SIGINT (default 10s)"),
                "drain": duration("after SIGTERM, how long /readyz answers 503 while the server keeps serving, before it closes its listener and the shutdown grace begins (default: no drain; env EMBER_DRAIN_MS overrides at run time)"),
                "reuse_port": boolean("join an address another process already listens on with SO_REUSEPORT, e.g. a same-port handover during a restart (default false: an address in use is an error; env EMBER_REUSE_PORT overrides at run time)")
            })),
            "routes": { "$ref": "#/$defs/routes" },
            "groups": { "description": "route groups: a prefix and settings shared by their routes", "type": "array", "items": { "$ref": "#/$defs/group" } },
            "caches": {
                "type": "object",
                "description": "named caches",
                "propertyNames": { "pattern": "^[A-Za-z0-9_-]+$", "not": { "enum": ["off", "none"] } },
                "additionalProperties": cache()
            },
            "middleware": { "$ref": "#/$defs/middleware" },
            "include": {
                "description": "spec files whose routes, groups and includes are merged in (relative to this file)",
                "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
            },
            "ai": ai(&handler),
            // cookies & sessions (issue 15)
            "cookies": cookies,
            "sessions": {
                "type": "object",
                "description": "named session configurations",
                "propertyNames": { "pattern": "^[A-Za-z0-9_-]+$", "not": { "enum": ["off", "none"] } },
                "additionalProperties": session
            },
            // openapi (issue 16, api)
            "openapi": object(
                "the generated OpenAPI 3.1 document (`ember-codegen openapi`): where the app serves it and its docs page, its title and version",
                json!({
                    "path": text("the route serving the document as JSON, e.g. /openapi.json (absent: not served)"),
                    "docs": text("the route serving the docs page (RapiDoc, bundled: no CDN), e.g. /docs; needs path"),
                    "title": text("info.title (default: app)"),
                    "version": text("info.version (default 0.1.0)"),
                    "schemas": text("a JSON file (relative to this spec) of JSON Schemas by Rust type name (NewTask or crate::handlers::NewTask) for body: and query: types, e.g. written by schemars")
                }),
            ),
            // observe (obs, issue 16)
            "access_log": access_log,
            "request_id": request_id,
            "metrics": metrics,
            // scale (issues 16.3, 18)
            "redis": object("the Redis connection shared by Redis-backed features that do not give their own url: one of url, nodes", json!({
                "url": text("one server: redis://host:port[/db] (or rediss://, unix://); ${VAR:-default} is read again at start-up"),
                "nodes": { "description": "a Redis Cluster's seed nodes, redis://host:port each (a variable may hold several, comma-separated); MOVED/ASK and failover are followed by the client", "type": "array", "minItems": 1, "items": text("a seed node") },
                "timeout": duration("default timeout of one operation for the features on it (default 100ms)"),
                "pool_size": int(1, Some(64), "connections per worker (default 1)"),
                "required": boolean("true: /readyz answers 503 while this Redis does not answer a PING within timeout, at least 1s (default false)")
            })),
            "probes": object("generated health probes (GET, no middleware)", json!({
                "livez": text("liveness path (default /livez): 200 while the process serves"),
                "readyz": text("readiness path (default /readyz): 503 while draining or while a required backend is down")
            }))
        },
        "$defs": {
            "routes": {
                "type": "object",
                "description": "`METHOD /path: handler` entries, in order",
                "propertyNames": { "pattern": "^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|ANY)[ \t]+/" },
                "additionalProperties": {
                    "anyOf": [
                        handler,
                        {
                            "type": "object",
                            "description": "the long form of a route",
                            "additionalProperties": false,
                            "required": ["handler"],
                            "properties": {
                                "handler": handler,
                                "name": reserved,
                                "summary": reserved,
                                "limits": { "$ref": "#/$defs/route_limits" },
                                "cache": cache_ref,
                                "middleware": { "$ref": "#/$defs/middleware" },
                                "session": session_ref,
                                // typed input (issue 15)
                                "body": {
                                    "description": "the type the request body deserializes into, the handler's argument after the path parameters (not on GET or HEAD routes)",
                                    "anyOf": [
                                        rust_path("a type path (JSON), relative to `handlers` unless it starts with `crate::` or `::`"),
                                        required(object("the body's type and format", json!({
                                            "type": rust_path("the type path, relative to `handlers` unless it starts with `crate::` or `::`"),
                                            "format": { "enum": ["json", "form"], "description": "json (application/json, the default) or form (application/x-www-form-urlencoded)" }
                                        })), &["type"])
                                    ]
                                },
                                "query": rust_path("the type the query string deserializes into, the handler's argument after the body"),
                                "validate": { "type": "boolean", "description": "check the body and query with the types' `garde::Validate` rules before the handler runs (default false)" }
                            }
                        }
                    ]
                }
            },
            "route_limits": limits(false),
            "group": required(object("routes sharing a path prefix, limits, cache and middleware", json!({
                "prefix": described(env_or(json!({ "type": "string", "pattern": "^/" })), "path prefix, no trailing slash (may contain parameters, not a catch-all)"),
                "name": { "type": "string", "description": "a name for the group: accepted and ignored today" },
                "limits": { "$ref": "#/$defs/route_limits" },
                "cache": cache_ref,
                "routes": { "$ref": "#/$defs/routes" },
                "groups": { "description": "nested groups", "type": "array", "items": { "$ref": "#/$defs/group" } },
                "middleware": { "$ref": "#/$defs/middleware" },
                "session": session_ref
            })), &["prefix"]),
            "middleware": {
                "type": "array",
                "description": "middleware, outermost first (docs/spec.md, `middleware`)",
                "items": middleware_entry()
            },
            "ai_retries": ai_retries(),
            "ai_cooldown": ai_cooldown()
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_requires_a_prefix_and_kinds_match_the_parser() {
        let s = super::schema();
        assert_eq!(
            s["$defs"]["group"]["required"],
            serde_json::json!(["prefix"])
        );
        let branches = s["$defs"]["middleware"]["items"]["oneOf"]
            .as_array()
            .expect("branches");
        let mut kinds: Vec<&str> = branches
            .iter()
            .filter_map(|b| b["properties"].as_object())
            .flat_map(|p| p.keys().map(String::as_str))
            .collect();
        kinds.sort_unstable();
        let mut parser = crate::spec::middleware::KINDS.to_vec();
        parser.sort_unstable();
        assert_eq!(kinds, parser);
    }
}
