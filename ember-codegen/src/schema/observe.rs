//! The schema of `access_log:`, `request_id:` and `metrics:` (obs, issue 16).

use serde_json::{Value, json};

use super::*;

/// `access_log:`, `request_id:`, `metrics:`.
pub(super) fn observe() -> (Value, Value, Value) {
    let access_log = object(
        "one line per answered request, buffered per worker and written in batches",
        json!({
            "format": described(env_or(json!({ "enum": ["common", "json", "off"] })), "common (Common Log Format with route, request id and duration appended; the default), json (one object per line) or off"),
            "path": text("stdout (default), stderr, or a file appended to (created if missing)")
        }),
    );
    let request_id = object(
        "a request id for every request: echoed on the response, in the access log, given to handlers",
        json!({
            "header": { "type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", "description": "the header read from clients and set on responses (default X-Request-Id)" },
            "accept": boolean("keep a well-formed id sent by the client (1 to 128 of A-Z a-z 0-9 - _ . : + / = @; default true), else always generate one")
        }),
    );
    let metrics = object(
        "a route serving Prometheus metrics (text format 0.0.4)",
        json!({
            "path": { "type": "string", "pattern": "^/", "description": "the route's path (default /metrics; no parameters)" }
        }),
    );
    (access_log, request_id, metrics)
}
