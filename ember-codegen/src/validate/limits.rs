//! Rules of `limits:` (under `server:`, a group or a route): which keys a place allows, and
//! each value's unit and range.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::{count, duration, size};
use crate::ctx::Ctx;
use crate::diag::Diagnostic;
use crate::spec::LimitsSpec;

/// Checked `limits:` values (unset or invalid ones are `None`; the invalid ones reported).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) keep_alive_timeout: Option<Duration>,
    pub(crate) header_read_timeout: Option<Duration>,
    pub(crate) body_read_timeout: Option<Duration>,
    /// `Some(None)` is `off`.
    pub(crate) handler_timeout: Option<Option<Duration>>,
    pub(crate) max_request_line: Option<u64>,
    pub(crate) max_header_bytes: Option<u64>,
    pub(crate) max_headers: Option<u64>,
    pub(crate) max_body_size: Option<u64>,
    pub(crate) max_connections: Option<u64>,
}

/// Which `limits` keys a place allows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// `server.limits`: every key.
    Server,
    /// A group's or route's `limits`: `max_body_size` and `handler_timeout` only.
    Route,
}

/// Checks `limits:` in file `f` at `level`.
pub(crate) fn limits(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    l: &Spanned<LimitsSpec>,
    level: Level,
) -> Limits {
    let s = &l.value;
    if level == Level::Route {
        for (name, v) in [
            ("keep_alive_timeout", &s.keep_alive_timeout),
            ("header_read_timeout", &s.header_read_timeout),
            ("body_read_timeout", &s.body_read_timeout),
            ("max_request_line", &s.max_request_line),
            ("max_header_bytes", &s.max_header_bytes),
            ("max_headers", &s.max_headers),
            ("max_connections", &s.max_connections),
        ] {
            if let Some(v) = v {
                let span = cx.key_span(f, v, name);
                let d = Diagnostic::new(format!("`{name}` can only be set under `server.limits`"))
                    .at(span, "it applies before a request is routed")
                    .help("routes and groups may set `max_body_size` and `handler_timeout`");
                cx.error(f, d);
            }
        }
    }
    let mut p = Limits::default();
    let big = 1u64 << 40;
    if let Some(v) = &s.keep_alive_timeout {
        p.keep_alive_timeout = duration(cx, f, v, false).flatten();
    }
    if let Some(v) = &s.header_read_timeout {
        p.header_read_timeout = duration(cx, f, v, false).flatten();
    }
    if let Some(v) = &s.body_read_timeout {
        p.body_read_timeout = duration(cx, f, v, false).flatten();
    }
    if let Some(v) = &s.handler_timeout {
        p.handler_timeout = duration(cx, f, v, true);
    }
    if let Some(v) = &s.max_request_line {
        p.max_request_line = size(cx, f, v, 64..=1 << 20);
    }
    if let Some(v) = &s.max_header_bytes {
        p.max_header_bytes = size(cx, f, v, 256..=1 << 20);
    }
    if let Some(v) = &s.max_headers {
        p.max_headers = count(cx, f, v, 1..=128);
    }
    if let Some(v) = &s.max_body_size {
        p.max_body_size = size(cx, f, v, 0..=big);
    }
    if let Some(v) = &s.max_connections {
        p.max_connections = count(cx, f, v, 1..=10_000_000);
    }
    p
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::check_table;

    /// A spec, and the `LINE:COL` and part of the message of the one error it must get
    /// (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        (
            "server:\n  limits:\n    keep_alive_timeout: 5s\n    handler_timeout: off\n    \
             max_request_line: 8KiB\n    max_header_bytes: 16KiB\n    max_headers: 64\n    \
             max_body_size: 1MiB\n    max_connections: 1000\n",
            "",
            "",
        ),
        (
            "server:\n  limits:\n    keep_alive_timeout: off\n",
            "3:25",
            "`off` is not a duration",
        ),
        (
            "server:\n  limits:\n    body_read_timeout: 0s\n",
            "3:24",
            "`0s` is zero",
        ),
        (
            "server:\n  limits:\n    max_request_line: 10\n",
            "3:23",
            "`10` is out of range",
        ),
        (
            "server:\n  limits:\n    max_header_bytes: 2MiB\n",
            "3:23",
            "`2MiB` is out of range",
        ),
        (
            "server:\n  limits:\n    max_headers: 0\n",
            "3:18",
            "invalid count `0`",
        ),
        (
            "server:\n  limits:\n    max_connections: lots\n",
            "3:22",
            "invalid count `lots`",
        ),
        (
            "routes:\n  GET /a:\n    handler: h\n    limits: { max_body_size: 1KiB, handler_timeout: off }\n",
            "",
            "",
        ),
        (
            "routes:\n  GET /a:\n    handler: h\n    limits: { max_headers: 10 }\n",
            "4:15",
            "`max_headers` can only be set under `server.limits`",
        ),
        (
            "groups:\n  - prefix: /v1\n    limits: { keep_alive_timeout: 1s }\n    routes:\n      GET /a: h\n",
            "3:15",
            "`keep_alive_timeout` can only be set under `server.limits`",
        ),
        (
            "routes:\n  GET /a:\n    handler: h\n    limits: { max_body_size: 3 furlongs }\n",
            "4:30",
            "unknown size unit",
        ),
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }
}
