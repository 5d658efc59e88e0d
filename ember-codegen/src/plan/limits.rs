//! `limits:`: the server-wide limits and each route's overrides.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::Builder;
use crate::diag::Diagnostic;
use crate::spec::LimitsSpec;
use crate::validate::{count, duration, size};

/// Limits given in the spec (unset ones take the runtime's defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsPlan {
    /// `keep_alive_timeout`.
    pub keep_alive_timeout: Option<Duration>,
    /// `header_read_timeout`.
    pub header_read_timeout: Option<Duration>,
    /// `body_read_timeout`.
    pub body_read_timeout: Option<Duration>,
    /// `handler_timeout`: `Some(None)` is `off`.
    pub handler_timeout: Option<Option<Duration>>,
    /// `max_request_line`.
    pub max_request_line: Option<u64>,
    /// `max_header_bytes`.
    pub max_header_bytes: Option<u64>,
    /// `max_headers`.
    pub max_headers: Option<u64>,
    /// `max_body_size`.
    pub max_body_size: Option<u64>,
    /// `max_connections`.
    pub max_connections: Option<u64>,
}

impl LimitsPlan {
    /// Settings of `inner` where set, else `self`'s (route over group over server).
    pub fn overlay(self, inner: LimitsPlan) -> LimitsPlan {
        LimitsPlan {
            keep_alive_timeout: inner.keep_alive_timeout.or(self.keep_alive_timeout),
            header_read_timeout: inner.header_read_timeout.or(self.header_read_timeout),
            body_read_timeout: inner.body_read_timeout.or(self.body_read_timeout),
            handler_timeout: inner.handler_timeout.or(self.handler_timeout),
            max_request_line: inner.max_request_line.or(self.max_request_line),
            max_header_bytes: inner.max_header_bytes.or(self.max_header_bytes),
            max_headers: inner.max_headers.or(self.max_headers),
            max_body_size: inner.max_body_size.or(self.max_body_size),
            max_connections: inner.max_connections.or(self.max_connections),
        }
    }
}

/// Which `limits` keys a place allows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Server,
    Route,
}

pub(super) fn limits_plan(
    cx: &mut Builder<'_, '_>,
    f: usize,
    l: &Spanned<LimitsSpec>,
    level: Level,
) -> LimitsPlan {
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
    let mut p = LimitsPlan::default();
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
