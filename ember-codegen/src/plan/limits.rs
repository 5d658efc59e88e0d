//! `limits:`: the server-wide limits and each route's overrides.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::Builder;
use crate::spec::LimitsSpec;
pub(super) use crate::validate::limits::Level;
use crate::validate::limits::{Limits, limits};

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

impl From<Limits> for LimitsPlan {
    fn from(l: Limits) -> LimitsPlan {
        LimitsPlan {
            keep_alive_timeout: l.keep_alive_timeout,
            header_read_timeout: l.header_read_timeout,
            body_read_timeout: l.body_read_timeout,
            handler_timeout: l.handler_timeout,
            max_request_line: l.max_request_line,
            max_header_bytes: l.max_header_bytes,
            max_headers: l.max_headers,
            max_body_size: l.max_body_size,
            max_connections: l.max_connections,
        }
    }
}

/// The limits `l` (in file `f`) sets, checked by [`crate::validate::limits`].
pub(super) fn limits_plan(
    cx: &mut Builder<'_, '_>,
    f: usize,
    l: &Spanned<LimitsSpec>,
    level: Level,
) -> LimitsPlan {
    limits(cx, f, l, level).into()
}
