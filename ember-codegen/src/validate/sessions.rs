//! Rules of `cookies:` and `sessions:` (issue 15), and of the routes' references to a
//! session.

use std::ops::Range;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::caches::{Remote, remote};
use super::{duration, flag, refuse};
use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::{CookiesSpec, Scalar, SessionSpec};

/// A checked `cookies:`: exactly one source of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Keys {
    /// An environment variable's name.
    Env(String),
    /// A file's path (interpolated).
    File(String),
}

/// Where a checked session's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Store {
    Cookie,
    Memory,
    /// Redis, and the key prefix as written (read again at start-up).
    Redis(Remote, String),
}

/// A checked session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CookieAttrs {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    /// `strict`, `lax` or `none`.
    pub(crate) same_site: String,
    pub(crate) partitioned: bool,
}

/// A checked `sessions:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) store: Store,
    pub(crate) cookie: CookieAttrs,
    pub(crate) idle_ttl: Duration,
    pub(crate) absolute_ttl: Duration,
    pub(crate) fail_closed: bool,
}

/// Whether `s` is an HTTP token (a cookie or header name).
fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks `cookies:`.
pub(crate) fn cookies(cx: &mut Ctx<'_, '_>, c: &Spanned<CookiesSpec>) -> Option<Keys> {
    match (&c.value.keys_env, &c.value.keys_file) {
        (Some(_), Some(file)) => {
            let span = cx.key_span(0, file, "keys_file");
            let d = Diagnostic::new("`cookies` takes `keys_env` or `keys_file`, not both")
                .at(span, "`keys_env` is set too")
                .help("keep one source of keys");
            cx.error(0, d);
            None
        }
        (Some(env), None) => {
            let name = env.value.as_str();
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                let span = cx.span(0, env);
                let d = Diagnostic::new(format!("`{name}` is not an environment variable name"))
                    .at(span, "letters, digits and `_`")
                    .help("name the variable, e.g. `keys_env: COOKIE_KEYS`");
                cx.error(0, d);
                return None;
            }
            Some(Keys::Env(name.to_owned()))
        }
        (None, Some(file)) => Some(Keys::File(cx.text(0, file)?)),
        (None, None) => {
            let span = cx.key_span(0, c, "cookies");
            let d = Diagnostic::new("`cookies` needs `keys_env` or `keys_file`")
                .at(span, "where do the keys come from?")
                .help("add `keys_env: COOKIE_KEYS` (base64 keys of 64 bytes or more)");
            cx.error(0, d);
            None
        }
    }
}

/// Checks a session's name: letters, digits, `_`, `-`, not `off`/`none`, declared once.
pub(crate) fn name(
    cx: &mut Ctx<'_, '_>,
    name: &Spanned<String>,
    first_line: Option<usize>,
) -> bool {
    super::declared_name(cx, "session", name, first_line)
}

/// Checks the session `name` (declared at `name_span`); `keys`: whether `cookies:` gives
/// keys; `taken`: the cookie names of the sessions declared before. `None` if it has
/// errors (reported).
pub(crate) fn session(
    cx: &mut Ctx<'_, '_>,
    name: &str,
    name_span: Range<usize>,
    s: &SessionSpec,
    keys: bool,
    taken: &[&str],
) -> Option<Session> {
    let errors = cx.errors.len();
    let store = match &s.store {
        None => {
            let d = Diagnostic::new(format!("session `{name}` needs a `store`"))
                .at(name_span.clone(), "where is its data kept?")
                .help("add `store: memory` (or `cookie`, or `redis` with `redis: { url }`)");
            cx.error(0, d);
            None
        }
        Some(v) => match cx.scalar(0, v)?.as_str() {
            "cookie" => Some(Store::Cookie),
            "memory" => Some(Store::Memory),
            "redis" => Some(Store::Redis(
                Remote {
                    template: String::new(),
                    value: String::new(),
                    prefix: String::new(),
                    timeout: Duration::ZERO,
                },
                String::new(),
            )),
            other => {
                let span = cx.span(0, v);
                let mut d = Diagnostic::new(format!("unknown session store `{other}`"))
                    .at(span, "expected `cookie`, `memory` or `redis`");
                if let Some(s) = did_you_mean(other, &["cookie", "memory", "redis"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.error(0, d);
                None
            }
        },
    };
    let store = match store {
        Some(Store::Redis(..)) => match &s.redis {
            Some(r) => {
                let remote = remote(cx, r, "redis")?;
                let prefix = match &r.value.prefix {
                    Some(p) => p.value.clone(),
                    None => format!("ember:session:{name}:"),
                };
                let remote = Remote {
                    prefix: if r.value.prefix.is_some() {
                        remote.prefix
                    } else {
                        prefix.clone()
                    },
                    ..remote
                };
                Some(Store::Redis(remote, prefix))
            }
            // scale (issue 18): the top-level `redis:` serves sessions without their own.
            None if cx.redis.is_some() => {
                let top = cx.redis.clone()?;
                let prefix = format!("ember:session:{name}:");
                let remote = Remote {
                    template: top.template,
                    value: top.value,
                    prefix: prefix.clone(),
                    timeout: top.timeout,
                };
                Some(Store::Redis(remote, prefix))
            }
            None => {
                let span = s
                    .store
                    .as_ref()
                    .map(|v| cx.span(0, v))
                    .unwrap_or(name_span.clone());
                let d = Diagnostic::new(format!(
                    "session `{name}` is kept in Redis: it needs `redis:`"
                ))
                .at(span, "here")
                .help("add `redis: { url: \"${REDIS_URL:-redis://127.0.0.1:6379}\" }`");
                cx.error(0, d);
                None
            }
        },
        Some(other) => {
            refuse(
                cx,
                &s.redis,
                "redis",
                "the session is not kept in Redis",
                "write `store: redis`, or remove `redis:`",
            );
            if other == Store::Cookie && !keys {
                let span = s
                    .store
                    .as_ref()
                    .map(|v| cx.span(0, v))
                    .unwrap_or(name_span.clone());
                let d = Diagnostic::new(format!(
                    "session `{name}` is kept in an encrypted cookie: it needs cookie keys"
                ))
                .at(span, "no `cookies:` keys are declared")
                .help("add `cookies: { keys_env: COOKIE_KEYS }` (base64 keys of 64 bytes or more)");
                cx.error(0, d);
            }
            Some(other)
        }
        None => None,
    };
    let ttl = |cx: &mut Ctx<'_, '_>, v: &Option<Spanned<Scalar>>, default: u64| match v {
        Some(v) => duration(cx, 0, v, false).flatten(),
        None => Some(Duration::from_secs(default)),
    };
    let idle_ttl = ttl(cx, &s.idle_ttl, 24 * 3600);
    let absolute_ttl = ttl(cx, &s.absolute_ttl, 7 * 24 * 3600);
    if let (Some(i), Some(a)) = (idle_ttl, absolute_ttl)
        && i > a
        && let Some(v) = &s.idle_ttl
    {
        let span = cx.span(0, v);
        let d = Diagnostic::new("`idle_ttl` is longer than `absolute_ttl`")
            .at(span, "a session would end by its absolute TTL first")
            .help("shorten `idle_ttl`, or lengthen `absolute_ttl`");
        cx.error(0, d);
    }
    let fail_closed = match &s.on_store_error {
        None => false,
        Some(v) => match cx.scalar(0, v)?.as_str() {
            "fail_open" => false,
            "fail_closed" => true,
            other => {
                let span = cx.span(0, v);
                let d = Diagnostic::new(format!("unknown `on_store_error` value `{other}`"))
                    .at(span, "expected `fail_open` or `fail_closed`");
                cx.error(0, d);
                false
            }
        },
    };
    let cookie = cookie_attrs(cx, name, name_span, s, taken);
    if cx.errors.len() != errors {
        return None;
    }
    Some(Session {
        store: store?,
        cookie: cookie?,
        idle_ttl: idle_ttl?,
        absolute_ttl: absolute_ttl?,
        fail_closed,
    })
}

/// Checks a session's `cookie:` (defaults where keys are left out).
fn cookie_attrs(
    cx: &mut Ctx<'_, '_>,
    session: &str,
    name_span: Range<usize>,
    s: &SessionSpec,
    taken: &[&str],
) -> Option<CookieAttrs> {
    let mut a = CookieAttrs {
        name: format!("{session}_session"),
        path: "/".to_owned(),
        domain: None,
        secure: true,
        http_only: true,
        same_site: "lax".to_owned(),
        partitioned: false,
    };
    let mut name_at = name_span;
    if let Some(c) = &s.cookie {
        let c = &c.value;
        if let Some(n) = &c.name {
            name_at = cx.span(0, n);
            if !token(&n.value) {
                let d = Diagnostic::new(format!("`{}` is not a cookie name", n.value))
                    .at(name_at.clone(), "letters, digits and `!#$%&'*+-.^_`|~`");
                cx.error(0, d);
            }
            a.name = n.value.clone();
        }
        if let Some(p) = &c.path {
            if !p.value.starts_with('/') || p.value.contains([';', ' ', '\t']) {
                let span = cx.span(0, p);
                let d = Diagnostic::new(format!("`{}` is not a cookie path", p.value))
                    .at(span, "expected a path starting with `/`");
                cx.error(0, d);
            }
            a.path = p.value.clone();
        }
        if let Some(d) = &c.domain {
            let v = d.value.trim_start_matches('.');
            let ok = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                let span = cx.span(0, d);
                let diag = Diagnostic::new(format!("`{}` is not a cookie domain", d.value))
                    .at(span, "expected a host name like `example.com`");
                cx.error(0, diag);
            }
            a.domain = Some(d.value.clone());
        }
        if let Some(v) = &c.secure {
            a.secure = flag(cx, v).unwrap_or(true);
        }
        if let Some(v) = &c.http_only {
            a.http_only = flag(cx, v).unwrap_or(true);
        }
        if let Some(v) = &c.partitioned {
            a.partitioned = flag(cx, v).unwrap_or(false);
            if a.partitioned && !a.secure {
                let span = cx.span(0, v);
                let d = Diagnostic::new("a `Partitioned` cookie must be `Secure`")
                    .at(span, "browsers drop it otherwise")
                    .help("remove `secure: false`");
                cx.error(0, d);
            }
        }
        if let Some(v) = &c.same_site {
            let text = cx.scalar(0, v)?.to_ascii_lowercase();
            let span = cx.span(0, v);
            match text.as_str() {
                "strict" | "lax" => {}
                "none" if !a.secure => {
                    let d = Diagnostic::new("`same_site: none` needs a `Secure` cookie")
                        .at(span, "browsers drop it otherwise")
                        .help("remove `secure: false`, or use `lax`");
                    cx.error(0, d);
                }
                "none" => {}
                other => {
                    let d = Diagnostic::new(format!("unknown `same_site` value `{other}`"))
                        .at(span, "expected `strict`, `lax` or `none`");
                    cx.error(0, d);
                }
            }
            a.same_site = text;
        }
    }
    if taken.contains(&a.name.as_str()) {
        let d = Diagnostic::new(format!(
            "cookie `{}` is already another session's cookie",
            a.name
        ))
        .at(name_at, "two sessions would overwrite each other")
        .help("give each session its own `cookie: { name }`");
        cx.error(0, d);
        return None;
    }
    Some(a)
}

/// `session: NAME` or `session: off` on a route or group: `Some(None)` for off, else
/// the index of the session in `declared`. `bad`: sessions declared with errors (already
/// reported, so references to them are not).
pub(crate) fn session_ref(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    declared: &[&str],
    bad: &[String],
) -> Option<Option<usize>> {
    super::declared_ref(cx, f, v, ("session", "{ store: memory }"), declared, bad)
}

/// A route with a session cannot be cached: one user's answer would reach another.
pub(crate) fn not_cached(cx: &mut Ctx<'_, '_>, f: usize, at: Range<usize>, route: &str) -> bool {
    let d = Diagnostic::new(format!("`{route}` has a session and a cache"))
        .at(at, "a cached answer would reach other users")
        .help("write `cache: off` on this route, or `session: off`");
    cx.error(f, d);
    false
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::check_table;

    /// Each rule: a spec, and the `LINE:COL` and part of the message of the one error it
    /// must get (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        ("sessions:\n  s: { store: memory }\n", "", ""),
        (
            "cookies: { keys_env: K }\nsessions:\n  s: { store: cookie }\n",
            "",
            "",
        ),
        (
            "sessions:\n  s: { store: redis, redis: { url: 'redis://h:1' } }\n",
            "",
            "",
        ),
        ("sessions:\n  s: {}\n", "2:3", "needs a `store`"),
        (
            "sessions:\n  s: { store: memroy }\n",
            "2:15",
            "unknown session store",
        ),
        (
            "sessions:\n  s: { store: memory, redis: { url: 'redis://h:1' } }\n",
            "2:23",
            "`redis` makes no sense here",
        ),
        (
            "sessions:\n  s: { store: redis, redis: { url: 'http://h' } }\n",
            "2:36",
            "is not a redis address",
        ),
        (
            "sessions:\n  off: { store: memory }\n",
            "2:3",
            "invalid session name",
        ),
        (
            "sessions:\n  s: { store: memory, on_store_error: shrug }\n",
            "2:39",
            "unknown `on_store_error`",
        ),
        (
            "sessions:\n  s: { store: memory, idle_ttl: 5 }\n",
            "2:33",
            "needs a unit",
        ),
        (
            "sessions:\n  s: { store: memory, cookie: { secure: false, partitioned: true } }\n",
            "2:61",
            "must be `Secure`",
        ),
        (
            "sessions:\n  s: { store: memory, cookie: { name: 'a b' } }\n",
            "2:39",
            "is not a cookie name",
        ),
        (
            "sessions:\n  s: { store: memory, cookie: { path: app } }\n",
            "2:39",
            "is not a cookie path",
        ),
        (
            "sessions:\n  s: { store: memory, cookie: { same_site: sideways } }\n",
            "2:44",
            "unknown `same_site`",
        ),
        (
            "cookies: { keys_env: 'not a name' }\n",
            "1:22",
            "not an environment variable",
        ),
        ("cookies: {}\n", "1:1", "needs `keys_env` or `keys_file`"),
        (
            "groups:\n  - { prefix: /g, session: nope, routes: { GET /a: h } }\n",
            "2:28",
            "unknown session `nope`",
        ),
        (
            "sessions:\n  s: { store: memory }\ngroups:\n  - prefix: /g\n    session: s\n    routes:\n      GET /a: { handler: h, session: off }\n",
            "",
            "",
        ),
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }
}
