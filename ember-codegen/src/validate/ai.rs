//! Rules of the `ai:` section: strategies, retries and cooldowns, model names, upstreams
//! (URLs, environment variable names, prices, weights; never a literal API key), and what
//! an AI route calls (a gateway endpoint, or a handler with a declared model).

use std::ops::Range;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::{count, duration, refuse};
use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::ai::{
    AiRouteValue, CooldownSpec, GATEWAYS, Gateway, RetriesSpec, STRATEGIES, Strategy, UpstreamSpec,
};
use crate::spec::{MethodSel, Scalar};

/// Checked routing settings of `ai.router` or one model (`None`: not set there).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Routing {
    pub(crate) strategy: Option<Strategy>,
    /// `connect`, `timeout`, `rate_limited`, `server_error`.
    pub(crate) retries: [Option<u8>; 4],
    pub(crate) failures: Option<u32>,
    pub(crate) period: Option<Duration>,
    pub(crate) latency_window: Option<Duration>,
}

impl Routing {
    /// These settings, with `self`'s unset ones taken from `outer`.
    pub(crate) fn over(self, outer: Routing) -> Routing {
        let mut retries = self.retries;
        for (mine, theirs) in retries.iter_mut().zip(outer.retries) {
            *mine = mine.or(theirs);
        }
        Routing {
            strategy: self.strategy.or(outer.strategy),
            retries,
            failures: self.failures.or(outer.failures),
            period: self.period.or(outer.period),
            latency_window: self.latency_window.or(outer.latency_window),
        }
    }
}

/// Checks the routing keys of `ai.router` or a model.
pub(crate) fn routing(
    cx: &mut Ctx<'_, '_>,
    strategy: &Option<Spanned<String>>,
    retries: &Option<Spanned<RetriesSpec>>,
    cooldown: &Option<Spanned<CooldownSpec>>,
    latency_window: &Option<Spanned<Scalar>>,
) -> Routing {
    let mut out = Routing::default();
    if let Some(s) = strategy
        && let Some(name) = cx.text(0, s)
    {
        out.strategy = Strategy::from_name(&name);
        if out.strategy.is_none() {
            let span = cx.span(0, s);
            let mut d = Diagnostic::new(format!("unknown strategy `{name}`"))
                .at(span, format!("expected one of {}", STRATEGIES.join(", ")));
            if let Some(s) = did_you_mean(&name, STRATEGIES) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            cx.error(0, d);
        }
    }
    if let Some(r) = retries {
        let r = &r.value;
        for (slot, v) in
            out.retries
                .iter_mut()
                .zip([&r.connect, &r.timeout, &r.rate_limited, &r.server_error])
        {
            if let Some(v) = v {
                *slot = count(cx, 0, v, 0..=10).map(|n| n as u8);
            }
        }
    }
    if let Some(c) = cooldown {
        if let Some(v) = &c.value.failures {
            // 0: never cool down.
            out.failures = count(cx, 0, v, 0..=1000).map(|n| n as u32);
        }
        if let Some(v) = &c.value.period {
            out.period = duration(cx, 0, v, false).flatten();
        }
    }
    if let Some(v) = latency_window {
        out.latency_window = duration(cx, 0, v, false).flatten();
    }
    out
}

/// Checks a model's name (a key of `ai.models`): what clients send as `"model"`.
pub(crate) fn model_name(cx: &mut Ctx<'_, '_>, key: &Spanned<String>) -> Option<String> {
    let name = &key.value;
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let span = cx.span(0, key);
        let d = Diagnostic::new(format!("`{name}` is not a model name"))
            .at(span, "a model name is what clients send as \"model\"")
            .help("use a non-empty name without spaces, like `gpt-4o-mini` or `ember-chat`");
        cx.error(0, d);
        return None;
    }
    Some(name.clone())
}

/// Reports a name declared a second time (`what` is `model` or `upstream`).
pub(crate) fn duplicate(
    cx: &mut Ctx<'_, '_>,
    what: &str,
    name: &str,
    (first, again): (Range<usize>, Range<usize>),
) {
    let d = Diagnostic::new(format!("{what} `{name}` is declared twice"))
        .at(again, "declared again here")
        .also(first, "first declared here")
        .help(format!("give each {what} its own name"));
    cx.error(0, d);
}

/// A checked upstream (`timeout: None` = the default).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Upstream {
    pub(crate) name: String,
    pub(crate) base_url: Option<String>,
    pub(crate) base_url_env: Option<String>,
    pub(crate) model: String,
    pub(crate) api_key_env: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cost_input: f64,
    pub(crate) cost_output: f64,
    pub(crate) weight: u32,
}

/// Checks one upstream (at `at`, the span of its mapping); `None` when it has errors (all
/// reported).
pub(crate) fn upstream(
    cx: &mut Ctx<'_, '_>,
    u: &UpstreamSpec,
    at: Range<usize>,
) -> Option<Upstream> {
    let errors = cx.errors.len();
    if let Some(k) = &u.api_key {
        let span = cx.key_span(0, k, "api_key");
        let d = Diagnostic::new("an API key cannot be written into the spec")
            .at(span, "it would end up in the repository and in the built program")
            .help("put the key in an environment variable and name it with `api_key_env: VAR`, not `api_key`");
        cx.error(0, d);
    }
    let model = match &u.model {
        Some(m) => match cx.text(0, m) {
            Some(name) if name.trim().is_empty() => {
                let span = cx.span(0, m);
                let d = Diagnostic::new("the upstream's `model` is empty")
                    .at(span, "the model name the upstream serves");
                cx.error(0, d);
                None
            }
            other => other,
        },
        None => {
            let d = Diagnostic::new("an upstream needs `model`: the model name it serves")
                .at(at.clone(), "no `model` here")
                .help("add `model: gpt-4o-mini` (whatever the upstream calls the model)");
            cx.error(0, d);
            None
        }
    };
    let base_url = u.base_url.as_ref().and_then(|b| base_url(cx, b));
    let base_url_env = u.base_url_env.as_ref().and_then(|v| env_name(cx, v));
    let api_key_env = u.api_key_env.as_ref().and_then(|v| env_name(cx, v));
    if u.base_url.is_none() && u.base_url_env.is_none() {
        let d = Diagnostic::new("an upstream needs `base_url`, `base_url_env` or both")
            .at(at, "no address for this upstream")
            .help("add `base_url: http://127.0.0.1:8000/v1`, or `base_url_env: VAR` to read it at run time");
        cx.error(0, d);
    }
    let timeout = u
        .timeout
        .as_ref()
        .and_then(|t| duration(cx, 0, t, false).flatten());
    let (mut cost_input, mut cost_output) = (0.0, 0.0);
    if let Some(c) = &u.cost {
        if let Some(v) = &c.value.input {
            cost_input = price(cx, v).unwrap_or(0.0);
        }
        if let Some(v) = &c.value.output {
            cost_output = price(cx, v).unwrap_or(0.0);
        }
    }
    let weight = u.weight.as_ref().and_then(|w| weight(cx, w)).unwrap_or(1);
    let name = match &u.name {
        Some(n) => cx.text(0, n),
        None => model.clone(),
    };
    if cx.errors.len() > errors {
        return None;
    }
    Some(Upstream {
        name: name?,
        base_url,
        base_url_env,
        model: model?,
        api_key_env,
        timeout,
        cost_input,
        cost_output,
        weight,
    })
}

/// Checks a base URL: `http://` (the upstream client has no TLS yet), a host, no query or
/// fragment. A trailing `/` is dropped.
pub(crate) fn base_url(cx: &mut Ctx<'_, '_>, v: &Spanned<String>) -> Option<String> {
    let url = cx.text(0, v)?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or(""));
    let problem = match (rest, host) {
        _ if url.starts_with("https://") => {
            let span = cx.span(0, v);
            let d = Diagnostic::new(format!("`{url}`: https upstreams are not supported yet"))
                .at(span, "the upstream client has no TLS in this release")
                .help("use an http:// URL, e.g. a local TLS-terminating proxy in front of the provider");
            cx.error(0, d);
            return None;
        }
        (None, _) => Some("expected `http://`"),
        (_, Some("")) => Some("no host"),
        _ if url.contains(['?', '#']) => Some("no query or fragment here"),
        _ if url.chars().any(|c| c.is_whitespace() || c.is_control()) => Some("no spaces"),
        _ => None,
    };
    if let Some(why) = problem {
        let span = cx.span(0, v);
        let d = Diagnostic::new(format!("`{url}` is not an upstream base URL"))
            .at(span, why)
            .help("write it like `http://127.0.0.1:8000/v1` (the part before `/chat/completions`)");
        cx.error(0, d);
        return None;
    }
    Some(url.trim_end_matches('/').to_owned())
}

/// Checks an environment variable's name (`[A-Za-z_][A-Za-z0-9_]*`).
pub(crate) fn env_name(cx: &mut Ctx<'_, '_>, v: &Spanned<Option<String>>) -> Option<String> {
    let written = v.value.as_deref().unwrap_or("");
    let name = cx.interp(0, v, written)?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        return Some(name);
    }
    let span = cx.span(0, v);
    let d = if name.is_empty() {
        Diagnostic::new("empty environment variable name").at(span, "name a variable here")
    } else {
        Diagnostic::new(format!("`{name}` is not an environment variable name"))
            .at(span, "letters, digits and `_`, not starting with a digit")
    };
    cx.error(
        0,
        d.help("like `OPENAI_API_KEY`; the variable is read at run time"),
    );
    None
}

/// Checks a weight: a whole number from 1 (an upstream that should take no share is
/// removed, not weighted 0).
fn weight(cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>) -> Option<u32> {
    let text = cx.scalar(0, v)?;
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Some(n),
        parsed => {
            let span = cx.span(0, v);
            let d = Diagnostic::new(format!(
                "weight `{text}` is not a whole number from 1 to 1000000"
            ))
            .at(
                span,
                if parsed == Ok(0) {
                    "an upstream of weight 0 would never be picked"
                } else {
                    "its share of requests under strategy `weighted`"
                },
            );
            let d = if parsed == Ok(0) {
                d.help("remove the upstream instead, or give it weight 1 or more")
            } else {
                d
            };
            cx.error(0, d);
            None
        }
    }
}

/// Checks a price: a number of US dollars per million tokens, from 0.
fn price(cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>) -> Option<f64> {
    let text = cx.scalar(0, v)?;
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && (0.0..=1e9).contains(&n) => Some(n),
        _ => {
            let span = cx.span(0, v);
            let d = Diagnostic::new(format!("cost `{text}` is not a number"))
                .at(span, "expected US dollars per million tokens, like `0.15`");
            cx.error(0, d);
            None
        }
    }
}

/// What a checked AI route calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A built-in gateway endpoint.
    Gateway(Gateway),
    /// A user handler (its full path) with the model of this index in `ai.models`.
    Handler { handler: String, model: usize },
}

/// The checked route key and value an AI route target is judged by.
pub(crate) struct AiRoute<'r> {
    pub(crate) value: &'r Spanned<AiRouteValue>,
    pub(crate) method: MethodSel,
    /// The route key's span and text (`POST /v1/chat/completions`).
    pub(crate) key: (Range<usize>, &'r str),
    pub(crate) has_params: bool,
}

/// Checks what an AI route calls: exactly one of `gateway` (a known endpoint, on its
/// method, without path parameters or `model`) and `handler` (with a declared `model`).
pub(crate) fn target(
    cx: &mut Ctx<'_, '_>,
    route: &AiRoute<'_>,
    models: &[String],
    handlers_mod: &str,
) -> Option<Target> {
    let r = &route.value.value;
    let (key_span, key) = (route.key.0.clone(), route.key.1);
    match (&r.gateway, &r.handler) {
        (Some(_), Some(h)) => {
            let span = cx.key_span(0, h, "handler");
            let d = Diagnostic::new(format!("AI route `{key}` has both `gateway` and `handler`"))
                .at(span, "one or the other")
                .help("`gateway` serves a built-in endpoint; `handler` calls your function");
            cx.error(0, d);
            None
        }
        (None, None) => {
            let span = cx.span(0, route.value);
            let d = Diagnostic::new(format!(
                "AI route `{key}` needs `gateway` or `handler`"
            ))
            .at(span, "neither is here")
            .help("`{ gateway: chat_completions }`, `{ gateway: models }`, or `{ handler: NAME, model: MODEL }`");
            cx.error(0, d);
            None
        }
        (Some(g), None) => {
            if refuse(
                cx,
                &r.model,
                "model",
                "the client names the model in each request",
                "remove `model` from a gateway route",
            ) {
                return None;
            }
            let gateway = gateway(cx, g)?;
            let method = match gateway {
                Gateway::ChatCompletions => MethodSel::Post,
                Gateway::Models => MethodSel::Get,
            };
            let problem = if route.method != method {
                Some(format!(
                    "the gateway's `{}` answers {} only",
                    gateway.name(),
                    method.keyword()
                ))
            } else if route.has_params {
                Some(format!(
                    "a gateway route takes no path parameters (`{key}`)"
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                let d = Diagnostic::new(message)
                    .at(key_span, "this route")
                    .help(format!(
                        "declare it as `{} /v1/{}`",
                        method.keyword(),
                        gateway.name().replace('_', "/")
                    ));
                cx.error(0, d);
                return None;
            }
            Some(Target::Gateway(gateway))
        }
        (None, Some(h)) => {
            let span = cx.span(0, h);
            let handler = super::routes::handler(cx, 0, &h.value, span, handlers_mod);
            let model = match &r.model {
                Some(m) => model_ref(cx, m, models),
                None => {
                    let span = cx.key_span(0, h, "handler");
                    let mut d = Diagnostic::new(format!(
                        "AI route `{key}` needs `model`: the model its handler gets"
                    ))
                    .at(span, "a user AI handler");
                    if let Some(first) = models.first() {
                        d = d.help(format!("add `model: {first}`"));
                    }
                    cx.error(0, d);
                    None
                }
            };
            Some(Target::Handler {
                handler: handler?,
                model: model?,
            })
        }
    }
}

/// Checks a gateway endpoint's name.
fn gateway(cx: &mut Ctx<'_, '_>, g: &Spanned<String>) -> Option<Gateway> {
    let found = Gateway::from_name(&g.value);
    if found.is_none() {
        let span = cx.span(0, g);
        let mut d = Diagnostic::new(format!("unknown gateway endpoint `{}`", g.value))
            .at(span, "expected `chat_completions` or `models`");
        if let Some(s) = did_you_mean(&g.value, GATEWAYS) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        cx.error(0, d);
    }
    found
}

/// Checks a route's `model:`: the index of a model declared under `ai.models`.
fn model_ref(cx: &mut Ctx<'_, '_>, m: &Spanned<String>, models: &[String]) -> Option<usize> {
    let found = models.iter().position(|n| *n == m.value);
    if found.is_none() {
        let span = cx.span(0, m);
        let names: Vec<&str> = models.iter().map(String::as_str).collect();
        let mut d = Diagnostic::new(format!("unknown model `{}`", m.value)).at(
            span,
            if names.is_empty() {
                "no model is declared under `ai.models`".to_owned()
            } else {
                format!("declared: {}", names.join(", "))
            },
        );
        if let Some(s) = did_you_mean(&m.value, &names) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        cx.error(0, d);
    }
    found
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::check_table;

    /// One model served by one upstream, then `extra` lines under `ai:`.
    macro_rules! ai {
        ($($extra:literal),*) => {
            concat!(
                "ai:\n  models:\n    m:\n      upstreams:\n        - { base_url: http://h:1/v1, model: x }\n",
                $($extra),*
            )
        };
    }

    /// A spec, and the `LINE:COL` and part of the message of the one error it must get
    /// (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        (ai!(), "", ""),
        (
            ai!(
                "  routes:\n    POST /v1/chat/completions: { gateway: chat_completions }\n    GET /v1/models: { gateway: models }\n    POST /s/{id}: { handler: s, model: m }\n"
            ),
            "",
            "",
        ),
        // The section itself.
        ("ai: {}\n", "1:1", "`ai` declares no model"),
        ("ai:\n  models: {}\n", "2:3", "`ai` declares no model"),
        ("ai:\n  modles: {}\n", "2:3", "unknown field `modles`"),
        // Strategies, retries, cooldowns.
        (
            "ai:\n  router: { strategy: fastest }\n  models: { m: { upstreams: [ { base_url: http://h/v1, model: x } ] } }\n",
            "2:23",
            "unknown strategy `fastest`",
        ),
        (
            "ai:\n  models:\n    m:\n      strategy: costs\n      upstreams: [ { base_url: http://h/v1, model: x } ]\n",
            "4:17",
            "unknown strategy `costs`",
        ),
        (
            "ai:\n  router: { retries: { connect: 11 } }\n  models: { m: { upstreams: [ { base_url: http://h/v1, model: x } ] } }\n",
            "2:33",
            "invalid count `11`",
        ),
        (
            "ai:\n  router: { cooldown: { failures: 0, for: 5s } }\n  models: { m: { upstreams: [ { base_url: http://h/v1, model: x } ] } }\n",
            "",
            "",
        ),
        (
            "ai:\n  router: { cooldown: { failures: 1001 } }\n  models: { m: { upstreams: [ { base_url: http://h/v1, model: x } ] } }\n",
            "2:35",
            "invalid count `1001`",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: 'https://api.openai.com/v1', model: x } ] }\n",
            "3:35",
            "https upstreams are not supported yet",
        ),
        (
            "ai:\n  router: { cooldown: { failures: 2, for: 5 } }\n  models: { m: { upstreams: [ { base_url: http://h/v1, model: x } ] } }\n",
            "2:43",
            "`5` needs a unit",
        ),
        (
            "ai:\n  router: { latency_window: 0s }\n  models: { m: { upstreams: [ { base_url: http://h/v1, model: x } ] } }\n",
            "2:29",
            "`0s` is zero",
        ),
        // Models.
        (
            "ai:\n  models:\n    m: {}\n",
            "3:5",
            "model `m` has no upstreams",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [] }\n",
            "3:5",
            "model `m` has no upstreams",
        ),
        (
            "ai:\n  models:\n    'a b': { upstreams: [ { base_url: http://h/v1, model: x } ] }\n",
            "3:5",
            "`a b` is not a model name",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x } ] }\n    m: { upstreams: [ { base_url: http://h/v1, model: y } ] }\n",
            "4:5",
            "model `m` is declared twice",
        ),
        // Upstreams.
        (
            "ai:\n  models:\n    m: { upstreams: [ { model: x } ] }\n",
            "3:23",
            "an upstream needs `base_url`, `base_url_env` or both",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url_env: U, model: x } ] }\n",
            "",
            "",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1 } ] }\n",
            "3:23",
            "an upstream needs `model`",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: '' } ] }\n",
            "3:55",
            "the upstream's `model` is empty",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: 'ftp://h/v1', model: x } ] }\n",
            "3:35",
            "`ftp://h/v1` is not an upstream base URL",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: 'http:///v1', model: x } ] }\n",
            "3:35",
            "is not an upstream base URL",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: 'http://h/v1?x=1', model: x } ] }\n",
            "3:35",
            "is not an upstream base URL",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x, api_key: sk-123 } ] }\n",
            "3:58",
            "an API key cannot be written into the spec",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x, api_key_env: '' } ] }\n",
            "3:71",
            "empty environment variable name",
        ),
        (
            "ai:\n  models:\n    m:\n      upstreams:\n        - base_url: http://h/v1\n          model: x\n          api_key_env:\n",
            "7:22",
            "empty environment variable name",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url_env: 9LIVES, model: x } ] }\n",
            "3:39",
            "`9LIVES` is not an environment variable name",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x, cost: { input: cheap } } ] }\n",
            "3:73",
            "cost `cheap` is not a number",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x, cost: { input: -1 } } ] }\n",
            "3:73",
            "cost `-1` is not a number",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x, cost: { input: 1, output: 2.5 } } ] }\n",
            "",
            "",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x, weight: 0 } ] }\n",
            "3:66",
            "weight `0` is not a whole number from 1",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x, timeout: 1 } ] }\n",
            "3:67",
            "`1` needs a unit",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { base_url: http://h/v1, model: x }, { base_url: http://g/v1, model: x } ] }\n",
            "3:60",
            "upstream `x` is declared twice",
        ),
        (
            "ai:\n  models:\n    m: { upstreams: [ { name: a, base_url: http://h/v1, model: x }, { name: a, base_url: http://g/v1, model: y } ] }\n",
            "3:77",
            "upstream `a` is declared twice",
        ),
        // Routes.
        (
            ai!("  routes:\n    POST /s: { handler: s, model: n }\n"),
            "7:35",
            "unknown model `n`",
        ),
        (
            ai!("  routes:\n    POST /s: { handler: s }\n"),
            "7:16",
            "AI route `POST /s` needs `model`",
        ),
        (
            ai!("  routes:\n    POST /s: { model: m }\n"),
            "7:14",
            "AI route `POST /s` needs `gateway` or `handler`",
        ),
        (
            ai!("  routes:\n    POST /s: { gateway: models, handler: s }\n"),
            "7:33",
            "has both `gateway` and `handler`",
        ),
        (
            ai!("  routes:\n    POST /s: { gateway: chat }\n"),
            "7:25",
            "unknown gateway endpoint `chat`",
        ),
        (
            ai!("  routes:\n    GET /s: { gateway: chat_completions }\n"),
            "7:5",
            "the gateway's `chat_completions` answers POST only",
        ),
        (
            ai!("  routes:\n    GET /t/{t}/models: { gateway: models }\n"),
            "7:5",
            "a gateway route takes no path parameters",
        ),
        (
            ai!("  routes:\n    GET /models: { gateway: models, model: m }\n"),
            "7:37",
            "`model` makes no sense here",
        ),
        (
            ai!("  routes:\n    POST /s: 'h'\n"),
            "7:5",
            "expected a mapping with `gateway`, or with `handler` and `model`",
        ),
        (
            ai!("  routes:\n    POST /s: { handler: s, model: m, cache: c }\n"),
            "7:38",
            "unknown field `cache`",
        ),
        (
            ai!("  routes:\n    FETCH /s: { gateway: models }\n"),
            "7:5",
            "unknown method `FETCH`",
        ),
        (
            concat!(
                "routes:\n  POST /v1/chat/completions: mine\n",
                ai!("  routes:\n    POST /v1/chat/completions: { gateway: chat_completions }\n")
            ),
            "9:5",
            "route `POST /v1/chat/completions` is declared twice (first as `POST /v1/chat/completions` on line 2)",
        ),
        (
            ai!("  routes:\n    POST /s: { handler: s, model: m, limits: { max_headers: 5 } }\n"),
            "7:",
            "max_headers",
        ),
        // Only in the main spec.
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }
}
