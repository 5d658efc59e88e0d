//! A JSON Schema of `ember.yaml`, for editors (yaml-language-server) to complete and check.

use serde_json::{Value, json};

/// The schema (JSON Schema 2020-12) of the spec language this version accepts.
pub fn schema() -> Value {
    let size = json!({
        "description": "a byte size: a whole number, optionally with B, KB, MB, GB, KiB, MiB or GiB",
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": "^(\\$\\{.*\\}|[0-9_]+ ?(B|KB|kB|MB|GB|KiB|MiB|GiB)?)$" }
        ]
    });
    let duration = json!({
        "description": "a duration with a unit: 500ms, 30s, 5m, 1h",
        "type": "string",
        "pattern": "^(\\$\\{.*\\}|[0-9_]+ ?(ms|s|m|min|h))$"
    });
    let route_limits = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "max_body_size": size,
            "handler_timeout": { "description": "a duration, or off", "anyOf": [duration, { "enum": ["off", "none", false] }] }
        }
    });
    let mut server_limits = route_limits.clone();
    if let Some(props) = server_limits["properties"].as_object_mut() {
        for k in [
            "keep_alive_timeout",
            "header_read_timeout",
            "body_read_timeout",
        ] {
            props.insert(k.to_owned(), duration.clone());
        }
        for k in ["max_request_line", "max_header_bytes"] {
            props.insert(k.to_owned(), size.clone());
        }
        props.insert(
            "max_headers".to_owned(),
            json!({ "type": "integer", "minimum": 1, "maximum": 128 }),
        );
        props.insert(
            "max_connections".to_owned(),
            json!({ "type": "integer", "minimum": 1 }),
        );
    }
    let handler = json!({
        "type": "string",
        "description": "a handler function path, relative to `handlers` unless it starts with `crate::`",
        "pattern": "^(::)?[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$"
    });
    let cache_ref = json!({
        "description": "a cache declared under `caches:`, or off",
        "type": "string"
    });
    let remote = |addr: &str, what: &str| {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": [addr],
            "properties": {
                addr: { "type": "string", "description": what },
                "prefix": { "type": "string", "description": "prefix of every key in the backend" },
                "timeout": duration
            }
        })
    };
    let cache = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "ttl": duration,
            "static": { "type": "boolean", "description": "computed once, kept until purged" },
            "redis": remote("url", "redis://host:port (${VAR:-default} allowed, read at start-up)"),
            "memcached": remote("addr", "host:port (${VAR:-default} allowed, read at start-up)"),
            "max_entries": { "type": "integer", "minimum": 1 },
            "max_bytes": size,
            "stale_while_revalidate": duration,
            "jitter": { "description": "a duration or a percentage of the TTL", "type": "string" },
            "key": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "query": { "anyOf": [{ "enum": ["all", "none"] }, { "type": "array", "items": { "type": "string" } }] },
                    "vary": { "type": "array", "items": { "type": "string" } }
                }
            },
            "statuses": { "type": "array", "items": { "type": "integer", "minimum": 200, "maximum": 599 } },
            "header": { "description": "the cache status header's name, or off", "anyOf": [{ "type": "string" }, { "const": false }] }
        }
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ember.yaml",
        "description": "An Ember application: routes and server settings, compiled into a router at build time.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "app": { "type": "string", "description": "the application's name" },
            "handlers": { "type": "string", "description": "module handler paths are relative to (default crate::handlers)" },
            "server": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "listen": { "type": "string", "description": "host:port (env EMBER_LISTEN overrides)" },
                    "workers": { "description": "auto or a count (env EMBER_WORKERS overrides)", "anyOf": [{ "const": "auto" }, { "type": "integer", "minimum": 1, "maximum": 4096 }] },
                    "backend": { "enum": ["auto", "io_uring", "tokio"], "description": "env EMBER_BACKEND overrides" },
                    "io_uring": {
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "entries": { "type": "integer", "minimum": 8, "maximum": 32768, "description": "submission entries per ring (power of two)" },
                            "num_bufs": { "type": "integer", "minimum": 1, "maximum": 32768, "description": "receive buffers per worker (power of two)" },
                            "buf_size": size,
                            "provided_buffers": { "type": "boolean", "description": "false: single-shot receives into each connection's own buffer instead of multishot receives into the shared ring (default true)" }
                        }
                    },
                    "limits": server_limits,
                    "shutdown_grace": duration,
                    "reuse_port": { "type": "boolean", "description": "allow joining a port another process already listens on with SO_REUSEPORT, e.g. a same-port handover during a restart (default false: an address in use is an error; env EMBER_REUSE_PORT overrides)" }
                }
            },
            "routes": { "$ref": "#/$defs/routes" },
            "groups": { "type": "array", "items": { "$ref": "#/$defs/group" } },
            "caches": { "type": "object", "description": "named caches", "additionalProperties": cache },
            "middleware": { "$ref": "#/$defs/middleware" },
            "include": {
                "description": "spec files whose routes and groups are merged in (relative to this file)",
                "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
            }
        },
        "$defs": {
            "routes": {
                "type": "object",
                "description": "`METHOD /path: handler` entries",
                "propertyNames": { "pattern": "^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|ANY) +/" },
                "additionalProperties": {
                    "anyOf": [
                        handler,
                        {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["handler"],
                            "properties": {
                                "handler": handler,
                                "name": { "type": "string" },
                                "summary": { "type": "string" },
                                "limits": route_limits,
                                "cache": cache_ref,
                                "middleware": { "$ref": "#/$defs/middleware" }
                            }
                        }
                    ]
                }
            },
            "group": {
                "type": "object",
                "additionalProperties": false,
                "required": ["prefix"],
                "properties": {
                    "prefix": { "type": "string", "pattern": "^/", "description": "path prefix, no trailing slash" },
                    "name": { "type": "string" },
                    "limits": route_limits,
                    "cache": cache_ref,
                    "routes": { "$ref": "#/$defs/routes" },
                    "groups": { "type": "array", "items": { "$ref": "#/$defs/group" } },
                    "middleware": { "$ref": "#/$defs/middleware" }
                }
            },
            "middleware": {
                "type": "array",
                "description": "middleware, outermost first (docs/spec.md, `middleware`)",
                "items": {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "propertyNames": { "enum": crate::middleware::KINDS }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_names_every_top_level_key_the_parser_accepts() {
        let s = super::schema();
        let props = s["properties"].as_object().expect("properties");
        for key in [
            "app",
            "handlers",
            "server",
            "routes",
            "groups",
            "caches",
            "include",
            "middleware",
        ] {
            assert!(props.contains_key(key), "{key}");
        }
        let limits = s["properties"]["server"]["properties"]["limits"]["properties"]
            .as_object()
            .expect("limits");
        for key in crate::spec::LIMIT_KEYS {
            assert!(limits.contains_key(*key), "{key}");
        }
    }
}
