//! Middleware expanded inline around each route's handler call, and the state its
//! declarations share (statics).

use std::net::IpAddr;

use crate::code::{Code, Doc, OptStr, Str, StrList, close, open, w};
use crate::plan::{MethodSel, MwKind, MwPlan, RateKeyPlan, RoutePlan};

/// How the generated code reaches the middleware runtime.
const MW: &str = "::ember_runtime::__private::middleware";

/// A Rust expression for an IP address.
fn ip_expr(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => {
            let [a, b, c, d] = v.octets();
            format!("::std::net::IpAddr::V4(::std::net::Ipv4Addr::new({a}, {b}, {c}, {d}))")
        }
        IpAddr::V6(v) => {
            let s: Vec<String> = v.segments().iter().map(u16::to_string).collect();
            format!(
                "::std::net::IpAddr::V6(::std::net::Ipv6Addr::new({}))",
                s.join(", ")
            )
        }
    }
}

/// One `static` per middleware declaration used by some route (its settings or state).
pub(super) fn emit_statics(c: &mut Code, routes: &[RoutePlan]) {
    let mut seen = std::collections::BTreeMap::new();
    for r in routes {
        for m in &r.middleware {
            seen.entry(m.id).or_insert(m);
        }
    }
    for (id, m) in seen {
        let doc = Doc(&m.name);
        match &m.kind {
            MwKind::Cors(cors) => {
                c.blank();
                w!(c, "/// Middleware `{doc}`.");
                open!(c, "static MW{id}: {MW}::Cors = {MW}::Cors {{");
                w!(c, "any_origin: {},", cors.any);
                w!(c, "exact: &[{}],", StrList(&cors.exact));
                w!(c, "suffixes: &[{}],", StrList(&cors.suffixes));
                w!(c, "methods: {},", Str(&cors.methods));
                w!(c, "headers: {},", Str(&cors.headers));
                w!(c, "credentials: {},", cors.credentials);
                let max_age = cors.max_age.map(|s| s.to_string());
                w!(c, "max_age: {},", OptStr(max_age.as_deref()));
                w!(c, "expose: {},", Str(&cors.expose));
                close!(c, "}};");
            }
            MwKind::Auth(a) if a.verify.is_none() => {
                c.blank();
                w!(c, "/// Middleware `{doc}`.");
                w!(
                    c,
                    "static MW{id}: ::std::sync::LazyLock<{MW}::Secrets> = ::std::sync::LazyLock::new(|| {MW}::Secrets::load({}, {}));",
                    OptStr(a.env.as_deref()),
                    OptStr(a.file.as_deref())
                );
            }
            MwKind::RateLimit(r) => {
                c.blank();
                let per_sec = r.count as f64 / r.per_secs as f64;
                let burst = r.burst;
                if let RateKeyPlan::ClientIp(ips) = &r.key
                    && !ips.is_empty()
                {
                    let ips: Vec<String> = ips.iter().map(ip_expr).collect();
                    w!(c, "/// Middleware `{doc}`: the proxies it trusts.");
                    w!(
                        c,
                        "static MW{id}_TRUSTED: [::std::net::IpAddr; {}] = [{}];",
                        ips.len(),
                        ips.join(", ")
                    );
                }
                w!(c, "/// Middleware `{doc}`.");
                match &r.redis {
                    Some(url) => {
                        let timeout = r
                            .timeout_ms
                            .map(|ms| format!(".timeout(::std::time::Duration::from_millis({ms}))"))
                            .unwrap_or_default();
                        w!(
                            c,
                            "static MW{id}: ::std::sync::LazyLock<{MW}::RedisLimiter> = ::std::sync::LazyLock::new(|| {MW}::RedisLimiter::new({}, {}, {per_sec:?}, {burst}){timeout});",
                            Str(url),
                            Str(&r.prefix)
                        )
                    }
                    None => w!(
                        c,
                        "static MW{id}: ::std::sync::LazyLock<{MW}::RateLimiter> = ::std::sync::LazyLock::new(|| {MW}::RateLimiter::new({per_sec:?}, {burst}, {}));",
                        r.max_keys
                    ),
                }
            }
            _ => {}
        }
    }
}

/// The route function `r{i}` wrapping the handler call `r{i}_h` in the route's middleware
/// (for a route that has some).
pub(super) fn emit_route(c: &mut Code, i: usize, route: &RoutePlan) {
    let names: Vec<&str> = route.middleware.iter().map(|m| m.name.as_str()).collect();
    w!(
        c,
        "/// Middleware, outermost first: {}.",
        Doc(&names.join(", "))
    );
    open!(
        c,
        "async fn r{i}<'a>(req: &'a Request<'a>{}) -> Response {{",
        route.params_decl()
    );
    wrap(
        c,
        &route.middleware,
        &format!("r{i}_h(req{}).await", route.params_pass("p")),
    );
    close!(c, "}}");
}

/// Writes the expression that runs `chain` (outermost first) around `inner`.
fn wrap(c: &mut Code, chain: &[MwPlan], inner: &str) {
    let Some((m, rest)) = chain.split_first() else {
        w!(c, "{inner}");
        return;
    };
    let id = m.id;
    match &m.kind {
        MwKind::Cors(_) => {
            open!(c, "match MW{id}.before(req) {{");
            w!(c, "{MW}::CorsStep::Answer(r) => r,");
            open!(c, "{MW}::CorsStep::Continue(origin) => {{");
            let_resp(c, rest, inner);
            w!(c, "MW{id}.after(origin, resp)");
            close!(c, "}}");
            close!(c, "}}");
        }
        MwKind::Auth(a) => {
            let scheme = if a.api_key { "ApiKey" } else { "Bearer" };
            let realm = &a.realm;
            let (challenge, invalid) = if a.api_key {
                let what = match &a.header {
                    Some(h) => format!("header=\"{h}\""),
                    None => format!("query=\"{}\"", a.query),
                };
                let c = format!("{scheme} realm=\"{realm}\", {what}");
                (c.clone(), c)
            } else {
                (
                    format!("{scheme} realm=\"{realm}\""),
                    format!("{scheme} realm=\"{realm}\", error=\"invalid_token\""),
                )
            };
            let presented = if a.api_key {
                format!(
                    "{MW}::api_key(req, {}, {})",
                    OptStr(a.header.as_deref()),
                    Str(&a.query)
                )
            } else {
                format!("{MW}::bearer_token(req)")
            };
            match &a.verify {
                None => {
                    open!(c, "match {presented} {{");
                    open!(c, "Some(token) => match MW{id}.find(token) {{");
                    open!(c, "Some(identity) => {{");
                    w!(c, "let req = &req.with_identity(identity);");
                }
                Some(verify) => {
                    open!(
                        c,
                        "match {presented}.and_then(|t| ::core::str::from_utf8(t).ok()) {{"
                    );
                    open!(c, "Some(token) => match {verify}(req, token).await {{");
                    open!(c, "Some(identity) => {{");
                    w!(c, "let identity: ::std::string::String = identity;");
                    w!(c, "let req = &req.with_identity(&identity);");
                }
            }
            wrap(c, rest, inner);
            close!(c, "}}");
            w!(c, "None => {MW}::unauthorized({}),", Str(&invalid));
            close!(c, "}},");
            w!(c, "None => {MW}::unauthorized({}),", Str(&challenge));
            close!(c, "}}");
        }
        MwKind::RateLimit(r) => {
            let key = match &r.key {
                RateKeyPlan::Global => format!("{MW}::RateKey::Global"),
                RateKeyPlan::Identity => format!(
                    "match req.identity() {{ Some(i) => {MW}::RateKey::Text(i.as_bytes()), None => {MW}::RateKey::Missing }}"
                ),
                RateKeyPlan::Header(h) => format!("{MW}::header_key(req, {})", Str(h)),
                RateKeyPlan::ClientIp(ips) if ips.is_empty() => {
                    format!("{MW}::client_ip(req, &[])")
                }
                RateKeyPlan::ClientIp(_) => format!("{MW}::client_ip(req, &MW{id}_TRUSTED)"),
            };
            let wait = if r.redis.is_some() { ".await" } else { "" };
            open!(c, "{{");
            w!(c, "let decision = MW{id}.check({key}){wait};");
            open!(c, "if decision.allowed {{");
            let_resp(c, rest, inner);
            w!(c, "decision.annotate(resp)");
            close!(c, "}} else {{");
            // observe (obs, issue 16): the rejection counted under the limiter's id.
            c.indented(|c| {
                w!(
                    c,
                    "::ember_runtime::__private::observe::rate_limited({id});"
                );
                w!(c, "decision.reject()");
            });
            w!(c, "}}");
            close!(c, "}}");
        }
        MwKind::Hook {
            before,
            extend,
            after,
        } => {
            // `before` sees the request first, then `after` wraps the response of
            // `extend` and the rest of the chain.
            if let Some(b) = before {
                open!(c, "match {b}(req).await {{");
                w!(c, "Some(early) => early,");
                open!(c, "None => {{");
            }
            if after.is_some() {
                open!(c, "{{");
                open!(c, "let resp: Response = {{");
            }
            if let Some(x) = extend {
                open!(c, "match {x}(req).await {{");
                open!(c, "Ok(value) => {{");
                w!(c, "let req = &req.with_extension(&value);");
            }
            wrap(c, rest, inner);
            if extend.is_some() {
                close!(c, "}}");
                w!(c, "Err(early) => early,");
                close!(c, "}}");
            }
            if let Some(a) = after {
                close!(c, "}};");
                w!(c, "{a}(req, resp).await");
                close!(c, "}}");
            }
            if before.is_some() {
                close!(c, "}}");
                close!(c, "}}");
            }
        }
    }
}

/// Writes `let resp = …;` with the response of `chain` around `inner`.
fn let_resp(c: &mut Code, chain: &[MwPlan], inner: &str) {
    if chain.is_empty() {
        w!(c, "let resp = {inner};");
    } else {
        open!(c, "let resp = {{");
        wrap(c, chain, inner);
        close!(c, "}};");
    }
}

/// For an endpoint without an `OPTIONS` route, where a route has CORS: writes the
/// `OPTIONS` arm answering preflights (and `204` with `allow` otherwise).
pub(super) fn options_arm(c: &mut Code, routes: &[&RoutePlan], allow: &str) {
    if routes
        .iter()
        .any(|r| r.method == MethodSel::Options || r.method == MethodSel::Any)
    {
        return;
    }
    let cors = routes.iter().find_map(|r| {
        r.middleware
            .iter()
            .find(|m| matches!(m.kind, MwKind::Cors(_)))
            .map(|m| m.id)
    });
    if let Some(id) = cors {
        w!(c, "Method::Options => MW{id}.options(req, {}),", Str(allow));
    }
}
