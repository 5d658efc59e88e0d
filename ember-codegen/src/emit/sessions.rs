//! Cookies and sessions (issue 15): the session configurations `sessions:` declares (one
//! process-wide static each), the start-up check of the cookie keys, and the load before
//! / save after the handler of a route with `session: NAME`. Routes without a session
//! get none of this.

use crate::code::{Code, Millis, Str, close, open, w};
use crate::plan::{CookieKeysPlan, Plan, RoutePlan, SessionStorePlan};

/// One `static SESSION_<i>` per declared session.
pub(super) fn emit_statics(c: &mut Code, plan: &Plan) {
    for (i, s) in plan.sessions.iter().enumerate() {
        w!(
            c,
            "/// Sessions `{}` (line {}): `session: {}` on a route.",
            s.name,
            s.line,
            s.name
        );
        open!(
            c,
            "pub static SESSION_{i}: ::std::sync::LazyLock<::ember_runtime::__private::session::SessionConfig> = ::std::sync::LazyLock::new(|| {{"
        );
        let name = Str(&s.name);
        let mut calls = Vec::new();
        let head = match &s.store {
            SessionStorePlan::Cookie => {
                format!("::ember_runtime::__private::session::SessionConfig::cookie_store({name})")
            }
            SessionStorePlan::Memory => {
                format!("::ember_runtime::__private::session::SessionConfig::memory({name})")
            }
            SessionStorePlan::Redis {
                remote,
                prefix_template,
            } => {
                calls.push(format!(".timeout({})", Millis(remote.timeout)));
                format!(
                    "::ember_runtime::__private::session::SessionConfig::redis({name}, {}, {}, {}, {})",
                    Str(&remote.template),
                    Str(&remote.value),
                    Str(prefix_template),
                    Str(&remote.prefix)
                )
            }
        };
        calls.push(format!(".cookie_name({})", Str(&s.cookie_name)));
        if s.path != "/" {
            calls.push(format!(".path({})", Str(&s.path)));
        }
        if let Some(d) = &s.domain {
            calls.push(format!(".domain({})", Str(d)));
        }
        if !s.secure {
            calls.push(".secure(false)".to_owned());
        }
        if !s.http_only {
            calls.push(".http_only(false)".to_owned());
        }
        if s.same_site != "lax" {
            calls.push(format!(".same_site({})", Str(&s.same_site)));
        }
        if s.partitioned {
            calls.push(".partitioned(true)".to_owned());
        }
        calls.push(format!(".idle_ttl({})", Millis(s.idle_ttl)));
        calls.push(format!(".absolute_ttl({})", Millis(s.absolute_ttl)));
        if s.fail_closed {
            calls.push(".fail_closed(true)".to_owned());
        }
        c.chain(&head, &calls, "");
        close!(c, "}});");
        c.blank();
    }
}

/// What `App::prepare` does for cookies and sessions when a server starts: load the cookie
/// keys and check each session's needs (nothing without `cookies:` or `sessions:`).
pub(super) fn prepare_statements(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(keys) = &plan.cookies {
        let (env, file) = match keys {
            CookieKeysPlan::Env(v) => (format!("Some({})", Str(v)), "None".to_owned()),
            CookieKeysPlan::File(f) => ("None".to_owned(), format!("Some({})", Str(f))),
        };
        out.push(format!(
            "::ember_runtime::__private::session::load_cookie_keys({env}, {file})\n    \
             .map_err(|e| ::std::io::Error::new(::std::io::ErrorKind::InvalidInput, e))?"
        ));
    }
    for i in 0..plan.sessions.len() {
        out.push(format!("__ember_router::SESSION_{i}.check()?"));
    }
    out
}

/// What `on_worker_start` / `on_worker_stop` do for sessions kept in Redis (connect,
/// close), as `(start, stop)` statements.
pub(super) fn worker_hooks(plan: &Plan) -> (Vec<String>, Vec<String>) {
    let redis = plan
        .sessions
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.store, SessionStorePlan::Redis { .. }));
    redis
        .map(|(i, _)| {
            (
                format!("__ember_router::SESSION_{i}.worker_start()"),
                format!("__ember_router::SESSION_{i}.worker_stop()"),
            )
        })
        .unzip()
}

/// In a route's function, before its handler call: loads the session (a `503` answers
/// when the store is down and the session fails closed) and adds `&mut session` to the
/// handler's arguments. Whether the route has a session.
pub(super) fn emit_load(
    c: &mut Code,
    route: &RoutePlan,
    args: &mut Vec<String>,
    arg_types: &mut Vec<String>,
) -> bool {
    let Some(i) = route.session else {
        return false;
    };
    open!(
        c,
        "let mut session = match ::ember_runtime::__private::session::load(&SESSION_{i}, req).await {{"
    );
    w!(c, "Ok(s) => s,");
    w!(c, "Err(refused) => return refused,");
    close!(c, "}};");
    args.push("&mut session".to_owned());
    arg_types.push("&mut ::ember_runtime::Session".to_owned());
    true
}
