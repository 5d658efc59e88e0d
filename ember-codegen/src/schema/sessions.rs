//! The schema of `cookies:` and `sessions:` (issue 15).

use serde_json::{Value, json};

use super::*;

/// `cookies:` and `sessions.NAME` (issue 15).
pub(super) fn cookies_and_session() -> (Value, Value) {
    let cookies = object(
        "where the keys of signed and private cookies (and the cookie session store) come from: one of keys_env, keys_file",
        json!({
            "keys_env": text("environment variable holding the keys, read when the server starts: base64 keys of 64 bytes or more, separated by commas or whitespace; the first signs and encrypts, all verify (rotation)"),
            "keys_file": text("file holding the keys in the same form, read when the server starts")
        }),
    );
    let same_site = described(
        env_or(json!({ "enum": ["strict", "lax", "none", "Strict", "Lax", "None"] })),
        "the cookie's SameSite (default lax; none needs secure)",
    );
    let session = required(
        object(
            "a named session configuration; routes and groups use it with `session: NAME`",
            json!({
                "store": described(env_or(json!({ "enum": ["cookie", "memory", "redis"] })), "where the data lives: cookie (encrypted in the cookie; needs `cookies:`), memory (this process), redis (shared by instances)"),
                "redis": required(object("the Redis store (with store: redis)", json!({
                    "url": text("redis://host:port[/db] (or rediss://, unix://); ${VAR:-default} is read again at start-up; default: the top-level redis"),
                    "prefix": text("prefix of every session key (default ember:session:NAME:); ${VAR:-default} is read again at start-up"),
                    "timeout": duration("how long one Redis operation may take (default 100ms)")
                })), &[]),
                "cookie": object("the session cookie's name and attributes", json!({
                    "name": text("the cookie's name (default NAME_session)"),
                    "path": text("Path (default /)"),
                    "domain": text("Domain (default none: this host only)"),
                    "secure": boolean("Secure (default true)"),
                    "http_only": boolean("HttpOnly (default true)"),
                    "same_site": same_site,
                    "partitioned": boolean("Partitioned (default false; needs secure)")
                })),
                "idle_ttl": duration("longest time between two uses (default 24h)"),
                "absolute_ttl": duration("longest life from creation (default 168h)"),
                "on_store_error": described(env_or(json!({ "enum": ["fail_open", "fail_closed"] })), "a store that cannot be reached: fail_open (default: an empty session and a warning) or fail_closed (503)")
            }),
        ),
        &["store"],
    );
    (cookies, session)
}
