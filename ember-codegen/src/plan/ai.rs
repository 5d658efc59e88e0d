//! `ai:` — the models with their resolved routing settings and upstreams, and the AI
//! routes, which join the app's routes (one router, one match per request).
//!
//! Defaults: strategy `fallback`; retries `connect: 1, timeout: 0, rate_limited: 0,
//! server_error: 1`; cooldown after 3 consecutive failures for 30 s; a 60 s latency
//! window; a 30 s upstream timeout; cost 0; weight 1. A model's own settings override
//! `ai.router`'s key by key. AI routes take the top-level middleware (and their own), and
//! run without the server's `handler_timeout` unless their `limits` set one: the upstream
//! timeouts bound them, and a handler timeout would cut a fallback short.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::limits::{Level, limits_plan};
use super::{Builder, LimitsPlan, Origin, RoutePlan};
use crate::diag::line_col;
use crate::path::Segment;
use crate::spec::ai::{AiSpec, ModelSpec};
pub use crate::spec::ai::{Gateway, Strategy};
use crate::validate::ai::{self as rules, AiRoute as Checked, Routing, Target};
use crate::validate::routes::route_key;

/// The checked `ai:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AiPlan {
    /// The models clients name, in spec order (AI routes refer to them by index).
    pub models: Vec<ModelPlan>,
    /// `ai.context` (issue 14).
    pub context: Option<super::ai_state::ContextPlan>,
    /// `ai.limits` (issue 14).
    pub limits: Option<super::ai_state::TokenLimitsPlan>,
    // semantic cache (semcache, issue 14)
    /// The gateway's semantic cache, when some model uses it.
    pub semantic_cache: Option<super::ai_semantic::SemanticPlan>,
}

/// A model clients name, and how it is routed.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    /// The name clients send as `"model"`.
    pub name: String,
    /// How an upstream is picked.
    pub strategy: Strategy,
    /// Retries of the same upstream per error class.
    pub retries: RetriesPlan,
    /// When a failing upstream is skipped.
    pub cooldown: CooldownPlan,
    /// How long time-to-first-token samples count.
    pub latency_window: Duration,
    /// Its upstreams, in declared order.
    pub upstreams: Vec<UpstreamPlan>,
}

/// Retries of the same upstream, per error class, before the first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetriesPlan {
    /// After a refused or failed connection.
    pub connect: u8,
    /// After the upstream's timeout.
    pub timeout: u8,
    /// After a `429`.
    pub rate_limited: u8,
    /// After a `5xx`.
    pub server_error: u8,
}

/// `failures` consecutive failures make an upstream skipped for `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownPlan {
    /// Consecutive failures.
    pub failures: u32,
    /// How long it is skipped.
    pub period: Duration,
}

/// One upstream of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamPlan {
    /// Its label (`x-ember-model`, logs).
    pub name: String,
    /// The base URL written in the spec (no trailing `/`).
    pub base_url: Option<String>,
    /// The variable that overrides it at run time.
    pub base_url_env: Option<String>,
    /// The upstream's model name.
    pub model: String,
    /// The variable holding the API key at run time.
    pub api_key_env: Option<String>,
    /// Connect and time to first token; also the longest gap between chunks.
    pub timeout: Duration,
    /// USD per million prompt tokens.
    pub cost_input: f64,
    /// USD per million completion tokens.
    pub cost_output: f64,
    /// Share under strategy `weighted`.
    pub weight: u32,
}

/// What an AI route calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AiRoute {
    /// A built-in gateway endpoint.
    Gateway(Gateway),
    /// The route's handler, with the parsed chat request and this model (an index into
    /// [`AiPlan::models`]).
    Handler {
        /// The model's index.
        model: usize,
        /// The handler also gets `&mut Conversation` (`conversation: true`, issue 14).
        conversation: bool,
    },
}

/// The defaults every model starts from.
const DEFAULTS: Routing = Routing {
    strategy: Some(Strategy::Fallback),
    retries: [Some(1), Some(0), Some(0), Some(1)],
    failures: Some(3),
    period: Some(Duration::from_secs(30)),
    latency_window: Some(Duration::from_secs(60)),
};

/// An upstream's timeout unless it sets one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Plans `ai:` (in the root file): its models, and its routes added to the builder's.
pub(super) fn ai_plan(cx: &mut Builder<'_, '_>, spec: &Spanned<AiSpec>) -> Option<AiPlan> {
    let ai = &spec.value;
    let router = match &ai.router {
        Some(r) => {
            let r = &r.value;
            rules::routing(cx, &r.strategy, &r.retries, &r.cooldown, &r.latency_window)
        }
        None => Routing::default(),
    }
    .over(DEFAULTS);
    let entries = ai.models.as_ref().map_or(&[][..], |m| &m.value.0[..]);
    if entries.is_empty() {
        let span = match &ai.models {
            Some(m) => cx.key_span(0, m, "models"),
            None => cx.key_span(0, spec, "ai"),
        };
        let d = crate::diag::Diagnostic::new("`ai` declares no model")
            .at(span, "at least one model is needed under `models`")
            .help("models:\n  my-model:\n    upstreams: [ { base_url: http://127.0.0.1:8000/v1, model: NAME } ]");
        cx.error(0, d);
    }
    let names: Vec<String> = entries.iter().map(|(k, _)| k.value.clone()).collect();
    let mut models = Vec::new();
    for (i, (key, value)) in entries.iter().enumerate() {
        let name = rules::model_name(cx, key);
        if let Some(first) = entries[..i].iter().find(|(k, _)| k.value == key.value) {
            let spans = (cx.span(0, &first.0), cx.span(0, key));
            rules::duplicate(cx, "model", &key.value, spans);
        }
        let model = model_plan(cx, key, &value.value, router);
        if let (Some(name), Some(model)) = (name, model) {
            models.push(ModelPlan { name, ..model });
        }
    }
    if let Some(routes) = &ai.routes {
        for (key, value) in &routes.value.0 {
            ai_route(cx, key, value, &names, ai.context.is_some());
        }
    }
    let context = ai
        .context
        .as_ref()
        .and_then(|c| super::ai_state::context(cx, c));
    let limits = ai
        .limits
        .as_ref()
        .and_then(|l| super::ai_state::limits(cx, l));
    // semantic cache (semcache, issue 14)
    let semantic_cache = super::ai_semantic::semantic_plan(cx, spec);
    Some(AiPlan {
        models,
        context,
        limits,
        semantic_cache,
    })
}

/// Plans one model (its name is filled in by the caller).
fn model_plan(
    cx: &mut Builder<'_, '_>,
    key: &Spanned<String>,
    m: &ModelSpec,
    router: Routing,
) -> Option<ModelPlan> {
    let r =
        rules::routing(cx, &m.strategy, &m.retries, &m.cooldown, &m.latency_window).over(router);
    let list = m.upstreams.as_ref().map_or(&[][..], |u| &u.value[..]);
    if list.is_empty() {
        let span = cx.span(0, key);
        let d = crate::diag::Diagnostic::new(format!("model `{}` has no upstreams", key.value))
            .at(span, "nothing would serve it")
            .help("add `upstreams: [ { base_url: http://127.0.0.1:8000/v1, model: NAME } ]`");
        cx.error(0, d);
        return None;
    }
    let mut upstreams: Vec<UpstreamPlan> = Vec::new();
    let mut seen: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let mut ok = true;
    for u in list {
        let at = cx.span(0, u);
        let Some(up) = rules::upstream(cx, &u.value, at.clone()) else {
            ok = false;
            continue;
        };
        let span = u.value.name.as_ref().map_or(at, |n| cx.span(0, n));
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == up.name) {
            rules::duplicate(cx, "upstream", &up.name, (first.clone(), span));
            ok = false;
            continue;
        }
        seen.push((up.name.clone(), span));
        upstreams.push(UpstreamPlan {
            name: up.name,
            base_url: up.base_url,
            base_url_env: up.base_url_env,
            model: up.model,
            api_key_env: up.api_key_env,
            timeout: up.timeout.unwrap_or(DEFAULT_TIMEOUT),
            cost_input: up.cost_input,
            cost_output: up.cost_output,
            weight: up.weight,
        });
    }
    let [connect, timeout, rate_limited, server_error] = r.retries.map(|n| n.unwrap_or(0));
    ok.then(|| ModelPlan {
        name: String::new(),
        strategy: r.strategy.unwrap_or(Strategy::Fallback),
        retries: RetriesPlan {
            connect,
            timeout,
            rate_limited,
            server_error,
        },
        cooldown: CooldownPlan {
            failures: r.failures.unwrap_or(1),
            period: r.period.unwrap_or(Duration::from_secs(30)),
        },
        latency_window: r.latency_window.unwrap_or(Duration::from_secs(60)),
        upstreams,
    })
}

/// `conversation: true` on a handler route (issue 14): only with `ai.context` declared.
fn conversation(
    cx: &mut Builder<'_, '_>,
    r: &crate::spec::ai::AiRouteSpec,
    has_context: bool,
) -> bool {
    let Some(v) = &r.conversation else {
        return false;
    };
    if v.value && !has_context {
        let span = cx.key_span(0, v, "conversation");
        let d = crate::diag::Diagnostic::new("`conversation: true` needs `ai.context`")
            .at(span, "the handler would get a conversation kept nowhere")
            .help("declare `context: { id: { header: X-Conversation-Id } }` under `ai:`");
        cx.error(0, d);
        return false;
    }
    v.value
}

/// Plans one AI route and adds it to the app's routes.
fn ai_route(
    cx: &mut Builder<'_, '_>,
    key: &Spanned<String>,
    value: &Spanned<crate::spec::ai::AiRouteValue>,
    models: &[String],
    has_context: bool,
) {
    let key_span = cx.span(0, key);
    let line = line_col(cx.source(0), key_span.start).0;
    let Some(rk) = route_key(cx, 0, key) else {
        return;
    };
    let r = &value.value;
    let middleware = super::middleware::for_route(cx, 0, r.middleware.as_ref());
    // No handler timeout unless the route sets one (see the module's docs).
    let mut limits = LimitsPlan {
        handler_timeout: Some(None),
        ..LimitsPlan::default()
    };
    if let Some(l) = &r.limits {
        limits = limits.overlay(limits_plan(cx, 0, l, Level::Route));
    }
    let has_params = rk.segments.iter().any(|s| !matches!(s, Segment::Static(_)));
    let checked = Checked {
        value,
        method: rk.method,
        key: (key_span.clone(), &key.value),
        has_params,
    };
    let handlers_mod = cx.handlers_mod.clone();
    let Some(target) = rules::target(cx, &checked, models, &handlers_mod) else {
        return;
    };
    let (handler, ai) = match target {
        Target::Gateway(g) => {
            if let Some(v) = &r.conversation {
                let span = cx.key_span(0, v, "conversation");
                let d = crate::diag::Diagnostic::new("`conversation` is for handler routes")
                    .at(
                        span,
                        "the gateway keeps conversations through `ai.context` itself",
                    )
                    .help("remove it");
                cx.error(0, d);
            }
            (gateway_fn(g).to_owned(), AiRoute::Gateway(g))
        }
        Target::Handler { handler, model } => {
            let conversation = conversation(cx, r, has_context);
            (
                handler,
                AiRoute::Handler {
                    model,
                    conversation,
                },
            )
        }
    };
    let file = cx.files[0].name.clone();
    cx.routes.push(RoutePlan {
        method: rk.method,
        path: rk.path,
        segments: rk.segments,
        handler,
        name: r.name.as_ref().map(|n| n.value.clone()),
        summary: r.summary.as_ref().map(|s| s.value.clone()),
        limits,
        file,
        line,
        cache: None,
        middleware,
        ai: Some(ai),
        // Sessions are not offered to AI routes (yet): an AI handler's arguments are the
        // chat request and the model.
        session: None,
        // An AI handler's input is the chat request (parsed by the runtime), not `body:`.
        input: Default::default(),
    });
    cx.origins.push(Origin {
        file: 0,
        span: key_span,
    });
}

/// The generated function that serves a gateway endpoint (in the router module).
pub fn gateway_fn(g: Gateway) -> &'static str {
    match g {
        Gateway::ChatCompletions => "ai_chat_completions",
        Gateway::Models => "ai_models",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::{MethodSel, MwKind, Plan};

    fn plan(yaml: &str) -> Plan {
        crate::compile(yaml, "t.yaml", &mut |_| unreachable!(), &|_| None)
            .unwrap_or_else(|d| panic!("{yaml}\n{d}"))
    }

    #[test]
    fn models_take_the_defaults_then_the_router_then_their_own_keys() {
        let p = plan(
            "ai:\n  router:\n    strategy: latency\n    retries: { connect: 3 }\n    \
             cooldown: { for: 10s }\n  models:\n    plain:\n      upstreams: [ { base_url: http://h:1/v1/, model: x } ]\n    \
             own:\n      strategy: weighted\n      retries: { server_error: 0 }\n      cooldown: { failures: 2 }\n      \
             latency_window: 5s\n      upstreams:\n        - { name: a, base_url_env: A, model: y, api_key_env: K, timeout: 2s, cost: { input: 0.5 }, weight: 4 }\n",
        );
        let ai = p.ai.expect("ai");
        let [plain, own] = &ai.models[..] else {
            panic!("two models: {ai:?}");
        };
        assert_eq!(plain.name, "plain");
        assert_eq!(plain.strategy, Strategy::Latency);
        assert_eq!(
            plain.retries,
            RetriesPlan {
                connect: 3,
                timeout: 0,
                rate_limited: 0,
                server_error: 1
            }
        );
        assert_eq!(
            plain.cooldown,
            CooldownPlan {
                failures: 3,
                period: Duration::from_secs(10)
            }
        );
        assert_eq!(plain.latency_window, Duration::from_secs(60));
        let u = &plain.upstreams[0];
        // The name defaults to the model; the trailing `/` is dropped; defaults fill in.
        assert_eq!(
            (u.name.as_str(), u.base_url.as_deref(), u.timeout, u.weight),
            ("x", Some("http://h:1/v1"), Duration::from_secs(30), 1)
        );
        assert_eq!((u.cost_input, u.cost_output), (0.0, 0.0));
        assert_eq!(own.strategy, Strategy::Weighted);
        assert_eq!((own.retries.connect, own.retries.server_error), (3, 0));
        assert_eq!(own.cooldown.failures, 2);
        assert_eq!(own.cooldown.period, Duration::from_secs(10));
        assert_eq!(own.latency_window, Duration::from_secs(5));
        let u = &own.upstreams[0];
        assert_eq!(u.name, "a");
        assert_eq!(u.base_url, None);
        assert_eq!(u.base_url_env.as_deref(), Some("A"));
        assert_eq!(u.api_key_env.as_deref(), Some("K"));
        assert_eq!(
            (u.timeout, u.cost_input, u.weight),
            (Duration::from_secs(2), 0.5, 4)
        );
    }

    #[test]
    fn ai_routes_join_the_app_routes_with_the_top_level_middleware_and_no_handler_timeout() {
        let p = plan(
            "middleware: [ { cors: { allow_origins: '*' } } ]\nroutes:\n  GET /a: a\n\
             ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x } ] }\n    \
             n: { upstreams: [ { base_url: http://h/v1, model: y } ] }\n  routes:\n    \
             POST /v1/chat/completions: { gateway: chat_completions, middleware: [ { skip: cors } ] }\n    \
             POST /s/{id:u64}: { handler: s, model: n, limits: { max_body_size: 1KiB } }\n    \
             POST /t: { handler: crate::t, model: m, limits: { handler_timeout: 5s } }\n",
        );
        let r: Vec<_> = p
            .routes
            .iter()
            .map(|r| (r.method, r.path.as_str(), r.handler.as_str(), r.ai))
            .collect();
        assert_eq!(
            r,
            [
                (MethodSel::Get, "/a", "crate::handlers::a", None),
                (
                    MethodSel::Post,
                    "/v1/chat/completions",
                    "ai_chat_completions",
                    Some(AiRoute::Gateway(Gateway::ChatCompletions))
                ),
                (
                    MethodSel::Post,
                    "/s/{id:u64}",
                    "crate::handlers::s",
                    Some(AiRoute::Handler {
                        model: 1,
                        conversation: false
                    })
                ),
                (
                    MethodSel::Post,
                    "/t",
                    "crate::t",
                    Some(AiRoute::Handler {
                        model: 0,
                        conversation: false
                    })
                ),
            ]
        );
        assert!(p.routes[1].middleware.is_empty());
        assert!(matches!(p.routes[2].middleware[0].kind, MwKind::Cors(_)));
        assert_eq!(p.routes[1].limits.handler_timeout, Some(None));
        assert_eq!(p.routes[2].limits.handler_timeout, Some(None));
        assert_eq!(p.routes[2].limits.max_body_size, Some(1024));
        assert_eq!(
            p.routes[3].limits.handler_timeout,
            Some(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            (p.routes[3].file.as_str(), p.routes[3].line),
            ("t.yaml", 11)
        );
    }

    #[test]
    fn a_spec_without_ai_has_no_ai_plan() {
        let p = plan("routes:\n  GET /: h\n");
        assert_eq!(p.ai, None);
        assert!(p.routes.iter().all(|r| r.ai.is_none()));
    }
}
