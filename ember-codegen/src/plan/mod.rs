//! The checked spec: everything the generator needs, with spec lines for comments.
//!
//! This stage walks the parsed spec, applies the `validate` rules, and records the
//! resolved decisions: each route's full path, typed parameters, limits, cache and
//! middleware chain, and the models and AI routes of `ai:`.

pub mod ai;
/// ai state (issue 14): `ai.context`, `ai.limits`.
pub mod ai_state;
// semantic cache (semcache, issue 14)
pub mod ai_semantic;
pub mod caches;
// typed input (issue 15)
pub mod input;
pub mod limits;
pub mod middleware;
// openapi (issue 16, api)
pub mod openapi;
// observe (obs, issue 16)
pub mod observe;
pub mod routes;
pub mod server;
pub mod sessions;
// scale (issues 16.3, 18): `redis:` and `probes:`
pub mod scale;

use std::ops::{Deref, DerefMut};

use crate::ctx::Ctx;
use crate::diag::Diagnostics;
use crate::spec::Spec;
use std::ops::Range;

use caches::caches_plan;
use routes::{add_sections, check_conflicts};
use server::server_plan;

pub use ai::{
    AiPlan, AiRoute, CooldownPlan, Gateway, ModelPlan, RetriesPlan, Strategy, UpstreamPlan,
};
pub use ai_state::{AiStorePlan, ContextIdPlan, ContextPlan, TokenLimitsPlan, TokenPer};
pub use caches::*;
pub use input::{BodyFormat, BodyPlan, InputPlan};
pub use limits::*;
// openapi (issue 16, api)
pub use middleware::{AuthPlan, CorsPlan, MwKind, MwPlan, RateKeyPlan, RatePlan};
pub use observe::ObservePlan;
pub use openapi::OpenApiPlan;
pub use routes::*;
pub use scale::RedisPlan;
pub use server::*;
pub use sessions::{CookieKeysPlan, SessionPlan, SessionStorePlan};

/// A validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The spec file's name, for the generated header.
    pub file: String,
    /// `app:`.
    pub app: String,
    /// Server settings.
    pub server: ServerPlan,
    /// Routes in spec order (included files after the including file's own).
    pub routes: Vec<RoutePlan>,
    /// Caches in spec order.
    pub caches: Vec<CachePlan>,
    /// `ai:`: its models (its routes are among `routes`).
    pub ai: Option<AiPlan>,
    /// Every spec file read (for `cargo::rerun-if-changed`), the root first.
    pub files: Vec<String>,
    /// Every environment variable the spec read (for `cargo::rerun-if-env-changed`).
    pub env_vars: Vec<String>,
    /// Where cookie keys come from (`cookies:`; issue 15).
    pub cookies: Option<CookieKeysPlan>,
    /// Sessions in spec order (issue 15).
    pub sessions: Vec<SessionPlan>,
    // openapi (issue 16, api)
    /// `openapi:`: the document's title and version, and where it is served (its routes
    /// are among `routes`).
    pub openapi: Option<OpenApiPlan>,
    // observe (obs, issue 16)
    /// Access log, request ids and the metrics route.
    pub observe: ObservePlan,
    /// The top-level `redis:` (scale, issue 18).
    pub redis: Option<RedisPlan>,
}

/// Where a route came from, for conflict messages.
struct Origin {
    file: usize,
    span: Range<usize>,
}

/// What a group passes down to its routes.
#[derive(Clone, Copy, Default)]
struct Inherit {
    limits: LimitsPlan,
    cache: Option<usize>,
    /// The group's session (issue 15).
    session: Option<usize>,
}

/// The plan stage's state: the shared [`Ctx`] (files, diagnostics, environment) and what
/// has been resolved so far. Derefs to the [`Ctx`], so validation rules take it as one.
pub(crate) struct Builder<'a, 'l> {
    cx: Ctx<'a, 'l>,
    pub(crate) handlers_mod: String,
    pub(crate) mw: middleware::MwState,
    routes: Vec<RoutePlan>,
    origins: Vec<Origin>,
    caches: Vec<CachePlan>,
    /// Caches declared with errors (already reported): references to them are not.
    bad_caches: Vec<String>,
    /// `cookies:` (issue 15).
    cookies: Option<CookieKeysPlan>,
    /// Sessions declared without errors, and those with (issue 15).
    sessions: Vec<SessionPlan>,
    bad_sessions: Vec<String>,
}

impl<'a, 'l> Deref for Builder<'a, 'l> {
    type Target = Ctx<'a, 'l>;
    fn deref(&self) -> &Ctx<'a, 'l> {
        &self.cx
    }
}

impl<'a, 'l> DerefMut for Builder<'a, 'l> {
    fn deref_mut(&mut self) -> &mut Ctx<'a, 'l> {
        &mut self.cx
    }
}

/// Plans a parsed spec (and the files it includes, read through `cx`'s loader): every
/// check the rules make, then the resolved plan, or every diagnostic found.
pub(crate) fn plan(cx: Ctx<'_, '_>, spec: &Spec) -> Result<Plan, Diagnostics> {
    let mut cx = Builder {
        cx,
        handlers_mod: "crate::handlers".to_owned(),
        mw: Default::default(),
        routes: Vec::new(),
        origins: Vec::new(),
        caches: Vec::new(),
        bad_caches: Vec::new(),
        cookies: None,
        sessions: Vec::new(),
        bad_sessions: Vec::new(),
    };
    // scale (issue 18): the shared `redis:` first, features without a `url` use it.
    let redis = scale::redis_plan(&mut cx, spec);
    if let Some(c) = &spec.caches {
        caches_plan(&mut cx, &c.value);
    }
    sessions::sessions_plan(&mut cx, spec);

    let app = spec
        .app
        .as_ref()
        .map(|a| a.value.clone())
        .unwrap_or_else(|| "app".to_owned());
    if let Some(h) = &spec.handlers {
        crate::validate::routes::handlers_module(&mut cx, h);
        cx.handlers_mod = h.value.clone();
    }
    let server = match &spec.server {
        Some(s) => server_plan(&mut cx, &s.value),
        None => ServerPlan::default(),
    };
    middleware::enter(&mut cx, 0, &spec.middleware);
    add_sections(&mut cx, 0, spec);
    // scale (issue 16.3): the generated probe routes.
    scale::add_probes(&mut cx, spec);
    let ai = spec.ai.as_ref().and_then(|a| ai::ai_plan(&mut cx, a));
    // openapi (issue 16, api): its routes join before the conflict check.
    let openapi = spec
        .openapi
        .as_ref()
        .map(|o| openapi::openapi_plan(&mut cx, o));
    // observe (obs, issue 16): after the spec's routes, so a route on its path conflicts.
    let observe = observe::observe_plan(&mut cx, spec);

    check_conflicts(&mut cx);
    let Builder {
        cx,
        routes,
        caches,
        cookies,
        sessions,
        ..
    } = cx;
    if cx.errors.is_empty() {
        Ok(Plan {
            file: cx.files[0].name.clone(),
            app,
            server,
            routes,
            caches,
            ai,
            files: cx.files.iter().map(|f| f.name.clone()).collect(),
            env_vars: cx.env_read,
            cookies,
            sessions,
            // openapi (issue 16, api)
            openapi,
            observe,
            redis,
        })
    } else {
        Err(Diagnostics::new(cx.files, cx.errors))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::path::{ParamType, Segment};

    fn plan(yaml: &str) -> Plan {
        crate::compile(yaml, "t.yaml", &mut |_| unreachable!(), &|_| None)
            .unwrap_or_else(|d| panic!("{yaml}\n{d}"))
    }

    #[test]
    fn groups_nest_prefixes_limits_and_caches_into_each_route() {
        let p = plan(
            "caches:\n  c: { ttl: 1s }\n\
             groups:\n  - prefix: /v1\n    cache: c\n    limits: { max_body_size: 1KiB }\n    groups:\n      \
             - prefix: /users/{id:u64}\n        limits: { handler_timeout: 2s }\n        routes:\n          \
             GET /posts/{*rest}: h\n",
        );
        let r = &p.routes[0];
        assert_eq!(r.method, MethodSel::Get);
        assert_eq!(r.path, "/v1/users/{id:u64}/posts/{*rest}");
        assert_eq!(
            r.segments,
            [
                Segment::Static("v1".into()),
                Segment::Static("users".into()),
                Segment::Param {
                    name: "id".into(),
                    ty: ParamType::U64
                },
                Segment::Static("posts".into()),
                Segment::CatchAll {
                    name: "rest".into()
                },
            ]
        );
        assert_eq!(r.handler, "crate::handlers::h");
        assert_eq!(r.limits.max_body_size, Some(1024));
        assert_eq!(r.limits.handler_timeout, Some(Some(Duration::from_secs(2))));
        assert_eq!(r.cache, Some(0));
        assert_eq!((r.file.as_str(), r.line), ("t.yaml", 11));
    }

    #[test]
    fn the_server_section_resolves_to_typed_values() {
        let p = plan(
            "app: demo\nhandlers: crate::api\nserver:\n  listen: 0.0.0.0:9000\n  workers: 3\n  \
             limits: { keep_alive_timeout: 1500ms, max_connections: 10 }\nroutes:\n  GET /: h\n",
        );
        assert_eq!(p.app, "demo");
        assert_eq!(p.server.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(p.server.workers, Some(3));
        assert_eq!(
            p.server.limits.keep_alive_timeout,
            Some(Duration::from_millis(1500))
        );
        assert_eq!(p.server.limits.max_connections, Some(10));
        assert_eq!(p.routes[0].handler, "crate::api::h");
        assert_eq!(p.files, ["t.yaml"]);
    }

    #[test]
    fn middleware_chains_are_resolved_per_route_in_order() {
        let p = plan(
            "middleware:\n  - cors: { allow_origins: '*' }\n  - hook: { name: log, before: log }\n\
             routes:\n  GET /a: h\n  GET /b:\n    handler: h\n    middleware:\n      - skip: log\n",
        );
        let names = |i: usize| -> Vec<&str> {
            p.routes[i]
                .middleware
                .iter()
                .map(|m| m.name.as_str())
                .collect()
        };
        assert_eq!(names(0), ["cors", "log"]);
        assert_eq!(names(1), ["cors"]);
        // Routes that inherit one declaration share its id (and so its state).
        assert_eq!(p.routes[0].middleware[0].id, p.routes[1].middleware[0].id);
    }

    #[test]
    fn environment_variables_read_are_recorded() {
        let p = crate::compile(
            "server:\n  listen: ${ADDR:-127.0.0.1:1}\nroutes:\n  GET /: h\n",
            "t.yaml",
            &mut |_| unreachable!(),
            &|k| (k == "ADDR").then(|| "127.0.0.1:2".to_owned()),
        )
        .expect("valid");
        assert_eq!(p.server.listen.as_deref(), Some("127.0.0.1:2"));
        assert_eq!(p.env_vars, ["ADDR"]);
    }

    #[test]
    fn ai_stores_without_a_url_use_the_top_level_redis() {
        let models = "  models:\n    m:\n      upstreams: [ { base_url: http://127.0.0.1:9/v1, model: x } ]\n";
        let p = plan(&format!(
            "redis:\n  nodes: [redis://127.0.0.1:7001, redis://127.0.0.1:7002]\n  timeout: 250ms\n\
             ai:\n  context: {{ store: redis }}\n  \
             limits: {{ tokens_per_minute: 10, store: redis, redis: {{ prefix: 'p:', timeout: 50ms }} }}\n{models}"
        ));
        let ai = p.ai.expect("ai");
        let top = "cluster:redis://127.0.0.1:7001,redis://127.0.0.1:7002";
        match &ai.context.expect("context").store {
            AiStorePlan::Redis {
                url,
                prefix,
                timeout,
            } => {
                assert_eq!(url, top);
                assert_eq!(prefix, "ember:conv:");
                assert_eq!(*timeout, std::time::Duration::from_millis(250));
            }
            other => panic!("{other:?}"),
        }
        match &ai.limits.expect("limits").store {
            AiStorePlan::Redis {
                url,
                prefix,
                timeout,
            } => {
                assert_eq!((url.as_str(), prefix.as_str()), (top, "p:"));
                assert_eq!(*timeout, std::time::Duration::from_millis(50));
            }
            other => panic!("{other:?}"),
        }
        // Without a top-level `redis:`, the url is required.
        let err = crate::compile(
            &format!("ai:\n  context: {{ store: redis }}\n{models}"),
            "t.yaml",
            &mut |_| unreachable!(),
            &|_| None,
        )
        .expect_err("no url");
        assert!(err.to_string().contains("needs `redis"), "{err}");
    }
}
