//! `cookies:` and `sessions:` (issue 15), and the routes' references to a session, built
//! from the values `validate::sessions` checks.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::{Builder, RemotePlan};
use crate::diag::line_col;
use crate::spec::{Scalar, Spec};
use crate::validate::sessions::{self as rules, Keys, Store};

/// Where the cookie keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieKeysPlan {
    /// This environment variable.
    Env(String),
    /// This file.
    File(String),
}

/// Where a session's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStorePlan {
    /// In an encrypted cookie.
    Cookie,
    /// In process.
    Memory,
    /// In Redis (`prefix_template`: the prefix as written, read again at start-up).
    Redis {
        /// URL, prefix (at build time) and timeout.
        remote: RemotePlan,
        /// The prefix as written.
        prefix_template: String,
    },
}

/// One entry of `sessions:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPlan {
    /// Its name.
    pub name: String,
    /// The line it is declared on.
    pub line: usize,
    /// Its store.
    pub store: SessionStorePlan,
    /// The cookie's name.
    pub cookie_name: String,
    /// `Path`.
    pub path: String,
    /// `Domain`.
    pub domain: Option<String>,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite` (`strict`, `lax`, `none`).
    pub same_site: String,
    /// `Partitioned`.
    pub partitioned: bool,
    /// Idle TTL.
    pub idle_ttl: Duration,
    /// Absolute TTL.
    pub absolute_ttl: Duration,
    /// `on_store_error: fail_closed`.
    pub fail_closed: bool,
}

/// Checks `cookies:` and `sessions:` (in the root spec) into the plan's state.
pub(super) fn sessions_plan(cx: &mut Builder<'_, '_>, spec: &Spec) {
    if let Some(c) = &spec.cookies {
        cx.cookies = rules::cookies(cx, c).map(|k| match k {
            Keys::Env(v) => CookieKeysPlan::Env(v),
            Keys::File(f) => CookieKeysPlan::File(f),
        });
    }
    let Some(sessions) = &spec.sessions else {
        return;
    };
    let keys = spec.cookies.is_some();
    for (name, s) in &sessions.value.0 {
        let name_span = cx.span(0, name);
        let line = line_col(cx.source(0), name_span.start).0;
        let n = name.value.as_str();
        let first = cx.sessions.iter().find(|p| p.name == n).map(|p| p.line);
        if !rules::name(cx, name, first) {
            continue;
        }
        let taken: Vec<String> = cx.sessions.iter().map(|p| p.cookie_name.clone()).collect();
        let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
        let Some(checked) = rules::session(cx, n, name_span, &s.value, keys, &taken) else {
            cx.bad_sessions.push(n.to_owned());
            continue;
        };
        let store = match checked.store {
            Store::Cookie => SessionStorePlan::Cookie,
            Store::Memory => SessionStorePlan::Memory,
            Store::Redis(r, prefix_template) => SessionStorePlan::Redis {
                remote: r.into(),
                prefix_template,
            },
        };
        let c = checked.cookie;
        cx.sessions.push(SessionPlan {
            name: n.to_owned(),
            line,
            store,
            cookie_name: c.name,
            path: c.path,
            domain: c.domain,
            secure: c.secure,
            http_only: c.http_only,
            same_site: c.same_site,
            partitioned: c.partitioned,
            idle_ttl: checked.idle_ttl,
            absolute_ttl: checked.absolute_ttl,
            fail_closed: checked.fail_closed,
        });
    }
}

/// `session: NAME` or `session: off` on a route or group: `Some(None)` for off, else
/// the index of the session in the plan.
pub(super) fn session_ref(
    cx: &mut Builder<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
) -> Option<Option<usize>> {
    let declared: Vec<&str> = cx.sessions.iter().map(|s| s.name.as_str()).collect();
    rules::session_ref(&mut cx.cx, f, v, &declared, &cx.bad_sessions)
}
