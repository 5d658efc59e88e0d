//! `middleware:` — each route's chain of [`MwPlan`]s, built from the entries
//! `validate::middleware` checks.
//!
//! Lists may stand at the top level (every route), on a group and on a route. A route's
//! chain is the top-level list, then each enclosing group's (outer to inner), then its
//! own, outermost first: the first entry sees the request first and the response last.
//! `- skip: NAME` in a group's or route's list removes inherited entries named `NAME`
//! (an entry's name is its `name:` option, else its kind).

mod kinds;

use std::net::IpAddr;

use serde_saphyr::Spanned;

use super::Builder;
use crate::spec::middleware::MwList;
use crate::validate::middleware::kinds::{auth, cors, hook, rate};
use crate::validate::middleware::{Opts, names, options_of, single, unknown_skip};

/// One middleware in a route's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MwPlan {
    /// Which declaration it comes from (routes sharing an inherited entry share its state).
    pub id: usize,
    /// Its name (for `skip`).
    pub name: String,
    /// What it does.
    pub kind: MwKind,
}

/// The kinds of middleware, with their checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MwKind {
    /// `cors`.
    Cors(CorsPlan),
    /// `bearer` or `api_key`.
    Auth(AuthPlan),
    /// `rate_limit`.
    RateLimit(RatePlan),
    /// `hook`: user functions before and/or after the rest of the chain.
    Hook {
        /// `async fn(&Request<'_>) -> Option<Response>`.
        before: Option<String>,
        /// `async fn(&Request<'_>) -> Result<T, Response>`: `T` reaches the handler as
        /// `req.extension::<T>()`.
        extend: Option<String>,
        /// `async fn(&Request<'_>, Response) -> Response`.
        after: Option<String>,
    },
}

/// `cors` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsPlan {
    /// `allow_origins: "*"`.
    pub any: bool,
    /// Exact origins.
    pub exact: Vec<String>,
    /// `.example.com` for `*.example.com`.
    pub suffixes: Vec<String>,
    /// Allowed methods, joined.
    pub methods: String,
    /// Allowed request headers, joined, lower-case (`*` = any).
    pub headers: String,
    /// `allow_credentials`.
    pub credentials: bool,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// `expose_headers`, joined.
    pub expose: String,
}

/// `bearer` / `api_key` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthPlan {
    /// `api_key` (else `bearer`).
    pub api_key: bool,
    /// `api_key`: the header carrying the key.
    pub header: Option<String>,
    /// `api_key`: the query parameter carrying the key (when no header).
    pub query: String,
    /// Environment variable with the secrets.
    pub env: Option<String>,
    /// File with the secrets.
    pub file: Option<String>,
    /// A user function checking the token: `async fn(&Request<'_>, &str) -> Option<String>`.
    pub verify: Option<String>,
    /// The realm in `WWW-Authenticate`.
    pub realm: String,
}

/// What a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKeyPlan {
    /// The client IP, trusting `X-Forwarded-For` from these proxies.
    ClientIp(Vec<IpAddr>),
    /// One bucket for all.
    Global,
    /// The authenticated identity.
    Identity,
    /// A request header (or the API key header).
    Header(String),
}

/// `rate_limit` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePlan {
    /// Tokens per `per_secs` seconds.
    pub count: u64,
    /// The period of `count`, in seconds.
    pub per_secs: u64,
    /// Bucket size.
    pub burst: u32,
    /// What is counted.
    pub key: RateKeyPlan,
    /// `Some(url)` for the Redis store.
    pub redis: Option<String>,
    /// Redis key prefix.
    pub prefix: String,
    /// Most buckets kept in memory.
    pub max_keys: u64,
    /// The Redis store's timeout in ms (`None`: the runtime's default, 100 ms).
    pub timeout_ms: Option<u64>,
}

/// Validation state: the chain each enclosing level (top level, groups) hands down, and
/// the next declaration id.
#[derive(Debug, Default)]
pub(crate) struct MwState {
    stack: Vec<Vec<MwPlan>>,
    next_id: usize,
}

impl MwState {
    fn inherited(&self) -> Vec<MwPlan> {
        self.stack.last().cloned().unwrap_or_default()
    }
}

/// Checks a list (top-level or a group's) and hands the resulting chain down to what
/// follows until [`leave`]. Returns whether a level was entered.
pub(crate) fn enter(cx: &mut Builder<'_, '_>, f: usize, list: &Option<Spanned<MwList>>) -> bool {
    let Some(list) = list else {
        return false;
    };
    let inherited = cx.mw.inherited();
    let chain = resolve(cx, f, list, inherited);
    cx.mw.stack.push(chain);
    true
}

/// Leaves a level [`enter`] entered.
pub(crate) fn leave(cx: &mut Builder<'_, '_>, entered: bool) {
    if entered {
        cx.mw.stack.pop();
    }
}

/// A route's whole chain: what it inherits, then its own list.
pub(crate) fn for_route(
    cx: &mut Builder<'_, '_>,
    f: usize,
    own: Option<&Spanned<MwList>>,
) -> Vec<MwPlan> {
    let inherited = cx.mw.inherited();
    match own {
        Some(list) => resolve(cx, f, list, inherited),
        None => inherited,
    }
}

fn resolve(
    cx: &mut Builder<'_, '_>,
    f: usize,
    list: &Spanned<MwList>,
    mut chain: Vec<MwPlan>,
) -> Vec<MwPlan> {
    for entry in &list.value {
        let Some((kind, value)) = single(cx, f, entry) else {
            continue;
        };
        let kind_span = cx.span(f, kind);
        if kind.value == "skip" {
            for (name, span) in names(cx, f, value) {
                if chain.iter().any(|m| m.name == name) {
                    chain.retain(|m| m.name != name);
                } else {
                    let known: Vec<&str> = chain.iter().map(|m| m.name.as_str()).collect();
                    unknown_skip(cx, f, (&name, span), &known);
                }
            }
            continue;
        }
        let kind_name = kind.value.clone();
        let Some(allowed) = options_of(cx, f, kind) else {
            continue;
        };
        let handlers = cx.handlers_mod.clone();
        let mut o = Opts::new(cx, f, value, allowed, &kind_name, handlers);
        let name = o.text("name").unwrap_or_else(|| kind_name.clone());
        let kind = match kind_name.as_str() {
            "cors" => cors(&mut o, kind_span).map(|c| MwKind::Cors(c.into())),
            "bearer" | "api_key" => {
                auth(&mut o, kind_span, kind_name == "api_key").map(|a| MwKind::Auth(a.into()))
            }
            "rate_limit" => rate(&mut o, kind_span, &name).map(|r| MwKind::RateLimit(r.into())),
            _ => hook(&mut o, kind_span).map(MwKind::from),
        };
        if let Some(kind) = kind {
            let id = cx.mw.next_id;
            cx.mw.next_id += 1;
            chain.push(MwPlan { id, name, kind });
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chains(yaml: &str) -> Vec<Vec<String>> {
        let plan = crate::compile(
            yaml,
            "t.yaml",
            &mut |_| Err(std::io::Error::other("no includes")),
            &|_| None,
        )
        .unwrap_or_else(|d| panic!("{d}"));
        plan.routes
            .iter()
            .map(|r| r.middleware.iter().map(|m| m.name.clone()).collect())
            .collect()
    }

    #[test]
    fn order_is_top_then_groups_then_route_and_skip_removes() {
        let c = chains(
            r#"
middleware:
  - cors: { allow_origins: [https://a.example] }
  - rate_limit: { rate: 10/s }
routes:
  GET /a: a
groups:
  - prefix: /g
    middleware:
      - bearer: { tokens_env: T }
    routes:
      GET /b: b
      GET /c: { handler: c, middleware: [ { skip: [cors, bearer] }, { hook: { after: h } } ] }
    groups:
      - prefix: /inner
        middleware: [ { skip: rate_limit } ]
        routes:
          GET /d: d
  - prefix: /h
    routes:
      GET /e: e
"#,
        );
        assert_eq!(c[0], ["cors", "rate_limit"]);
        assert_eq!(c[1], ["cors", "rate_limit", "bearer"]);
        assert_eq!(c[2], ["rate_limit", "hook"]);
        assert_eq!(c[3], ["cors", "bearer"]);
        assert_eq!(c[4], ["cors", "rate_limit"]);
    }

    #[test]
    fn inherited_declarations_share_state() {
        let plan = crate::compile(
            "middleware: [ { rate_limit: { rate: 1/s } } ]\nroutes:\n  GET /a: a\n  GET /b: b\n",
            "t.yaml",
            &mut |_| Err(std::io::Error::other("no includes")),
            &|_| None,
        )
        .unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(plan.routes[0].middleware, plan.routes[1].middleware);
    }

    #[test]
    fn rate_limit_timeout_needs_the_redis_store() {
        let compile = |yaml: &str| {
            crate::compile(
                yaml,
                "t.yaml",
                &mut |_| Err(std::io::Error::other("no includes")),
                &|_| None,
            )
        };
        let plan = compile(
            "middleware: [ { rate_limit: { rate: 1/s, store: redis, timeout: 250ms } } ]\nroutes:\n  GET /a: a\n",
        )
        .unwrap_or_else(|d| panic!("{d}"));
        let MwKind::RateLimit(r) = &plan.routes[0].middleware[0].kind else {
            panic!("a rate limit");
        };
        assert_eq!(r.timeout_ms, Some(250));
        for (yaml, want) in [
            (
                "{ rate: 1/s, timeout: 250ms }",
                "`timeout` needs `store: redis`",
            ),
            (
                "{ rate: 1/s, store: redis, timeout: soon }",
                "invalid timeout `soon`",
            ),
            (
                "{ rate: 1/s, store: redis, timeout: 0ms }",
                "invalid timeout `0ms`",
            ),
        ] {
            let err = compile(&format!(
                "middleware: [ {{ rate_limit: {yaml} }} ]\nroutes:\n  GET /a: a\n"
            ))
            .map(|_| ())
            .expect_err(yaml)
            .to_string();
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }
}
