//! One `async fn` per route: decode its typed parameters, run its middleware chain and
//! cache, await the user's handler.

use super::caches::route_marker;
use crate::code::{Code, Millis, Str, close, open, w};
use crate::code::{Doc, StrList};
use crate::path::{ParamType, Segment};
use crate::plan::JitterPlan;
use crate::plan::{CachePlan, QueryPlan, RoutePlan};

/// The functions of one route: its marker type, the handler call (`rN` or `rN_call`), the
/// cache front and the middleware wrapper.
pub(super) fn emit_route(c: &mut Code, i: usize, route: &RoutePlan, caches: &[CachePlan]) {
    // Outermost first: the middleware wrapper (`rN`, calling `rN_h`), then the cache front,
    // then the plain route (`rN_call` behind a cache). Middleware runs before the cache, so
    // a cached answer is never served to a request its middleware would refuse.
    let front = if route.middleware.is_empty() {
        format!("r{i}")
    } else {
        format!("r{i}_h")
    };
    let call = match route.cache {
        Some(_) => format!("r{i}_call"),
        None => front.clone(),
    };
    let marker = route_marker(route);
    let (method, path) = (route.method.keyword(), Doc(&route.path));
    w!(
        c,
        "/// Names `{method} {path}` ({}:{}) in handler-signature errors.",
        Doc(&route.file),
        route.line
    );
    w!(c, "#[allow(non_camel_case_types)]");
    w!(c, "pub struct {marker};");
    c.blank();
    w!(
        c,
        "/// {}:{}: `{method} {path}` → `{}`",
        Doc(&route.file),
        route.line,
        route.handler
    );
    w!(c, "#[inline]");
    open!(
        c,
        "async fn {call}<'a>(req: &'a Request<'a>{}) -> Response {{",
        route.params_decl()
    );
    let mut args = Vec::new();
    let mut arg_types = Vec::new();
    let mut k = 0usize;
    for seg in &route.segments {
        let (name, ty) = match seg {
            Segment::Static(_) => continue,
            Segment::Param { name, ty } => (name, *ty),
            Segment::CatchAll { name } => (name, ParamType::Str),
        };
        let idx = k;
        k += 1;
        match ty {
            ParamType::Str => {
                open!(
                    c,
                    "let param_{name} = match ::ember_runtime::__private::params::decode(p[{idx}], {}) {{",
                    Str(name)
                );
                args.push(format!("&*param_{name}"));
                arg_types.push("&str".to_owned());
            }
            other => {
                let rust_ty = match other {
                    ParamType::Uuid => "::ember_runtime::__private::params::Uuid",
                    t => t.name(),
                };
                open!(
                    c,
                    "let param_{name}: {rust_ty} = match ::ember_runtime::__private::params::parse(p[{idx}], {}, {}) {{",
                    Str(name),
                    Str(other.name())
                );
                args.push(format!("param_{name}"));
                arg_types.push(rust_ty.to_owned());
            }
        }
        w!(c, "Ok(v) => v,");
        w!(c, "Err(e) => return e.into_response(),");
        close!(c, "}};");
    }
    // ai (issue 13): a user AI handler also gets the parsed chat request and its model.
    super::ai::chat_args(c, route, &mut args, &mut arg_types);
    // typed input (issue 15): the `body:` and `query:` arguments, after the path params.
    super::input::emit_input(c, &route.input, &mut args, &mut arg_types);
    // One-element tuples need their trailing comma.
    let tuple = |items: &[String]| match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    };
    // ---- cookies & sessions (issue 15): the session handle is the last argument ----
    let session = super::sessions::emit_load(c, route, &mut args, &mut arg_types);
    // ai state (issue 14): a conversation is saved after the handler, too.
    let conv = super::ai::has_conversation(route);
    let (bind, end) = if session || conv {
        ("let response = ", ".await;")
    } else {
        ("", ".await")
    };
    // ---- end of cookies & sessions ----
    open!(
        c,
        "{bind}::ember_runtime::__private::call::<{marker}, _, {}, _>(",
        tuple(&arg_types)
    );
    w!(c, "&{},", route.handler);
    w!(c, "req,");
    w!(c, "{},", tuple(&args));
    close!(c, ")");
    w!(c, "{end}");
    if conv {
        // ai state (issue 14): the conversation's changes, saved after the handler.
        w!(
            c,
            "::ember_runtime::__private::ai::save_conversation(ai_conv).await;"
        );
        if !session {
            w!(c, "response");
        }
    }
    if session {
        // cookies & sessions (issue 15): saved, and the cookie set, after the handler.
        w!(
            c,
            "::ember_runtime::__private::session::finish(session, response).await"
        );
    }
    close!(c, "}}");
    if let Some(cache) = route.cache {
        c.blank();
        emit_cached_route(c, i, &front, route, cache, &caches[cache]);
    }
    if !route.middleware.is_empty() {
        c.blank();
        super::middleware::emit_route(c, i, route);
    }
}

/// The cache front of a cached route: its policy constant, the function that asks the
/// cache, and the background refresh over an owned copy of the request.
pub(super) fn emit_cached_route(
    c: &mut Code,
    i: usize,
    front: &str,
    route: &RoutePlan,
    cache: usize,
    plan: &CachePlan,
) {
    let mut calls = Vec::new();
    match plan.ttl {
        Some(t) => calls.push(format!(".ttl({})", Millis(t))),
        None => calls.push(".no_expiry()".to_owned()),
    }
    if let Some(t) = plan.stale_while_revalidate {
        calls.push(format!(".stale_while_revalidate({})", Millis(t)));
    }
    match plan.jitter {
        Some(JitterPlan::Duration(d)) => calls.push(format!(".jitter({})", Millis(d))),
        Some(JitterPlan::Percent(p)) => calls.push(format!(".jitter_percent({p})")),
        None => {}
    }
    match &plan.query {
        QueryPlan::All => {}
        QueryPlan::None => calls.push(".query_none()".to_owned()),
        QueryPlan::Only(names) => calls.push(format!(".query_only(&[{}])", StrList(names))),
    }
    if !plan.vary.is_empty() {
        calls.push(format!(".vary(&[{}])", StrList(&plan.vary)));
    }
    if plan.statuses != [200] {
        let st: Vec<String> = plan.statuses.iter().map(u16::to_string).collect();
        calls.push(format!(".statuses(&[{}])", st.join(", ")));
    }
    // scale (issue 18): a wait for another instance's answer never outlasts the route's
    // handler timeout (the runtime's default lease is 5 s).
    if matches!(plan.kind, crate::plan::CacheKind::Redis(_))
        && let Some(Some(t)) = route.limits.handler_timeout
        && t < std::time::Duration::from_secs(5)
    {
        calls.push(format!(".lease({})", Millis(t)));
    }
    match &plan.header {
        Some(h) if h == "X-Cache" => {}
        Some(h) => calls.push(format!(".header(Some({}))", Str(h))),
        None => calls.push(".header(None)".to_owned()),
    }
    c.chain(
        &format!(
            "static POLICY_R{i}: ::ember_runtime::__private::cache::Policy = ::ember_runtime::__private::cache::Policy::new({cache})"
        ),
        &calls,
        ";",
    );
    c.blank();
    w!(
        c,
        "/// {}:{}: `{} {}` through cache `{}`",
        Doc(&route.file),
        route.line,
        route.method.keyword(),
        Doc(&route.path),
        Doc(&plan.name)
    );
    w!(c, "#[inline]");
    open!(
        c,
        "async fn {front}<'a>(req: &'a Request<'a>{}) -> Response {{",
        route.params_decl()
    );
    w!(
        c,
        "::ember_runtime::__private::cache::serve(&CACHES, &POLICY_R{i}, req, || r{i}_call(req{}), r{i}_refresh).await",
        route.params_pass("p")
    );
    close!(c, "}}");
    c.blank();
    w!(
        c,
        "/// Recomputes a stale entry in the background, from an owned copy of the request that"
    );
    w!(
        c,
        "/// keeps its identity and client address (the middleware ran in front of the cache)."
    );
    open!(c, "fn r{i}_refresh(");
    w!(c, "owned: ::ember_runtime::__private::cache::OwnedRequest,");
    close!(
        c,
        ") -> impl ::core::future::Future<Output = Response> + 'static {{"
    );
    c.indented(|c| {
        c.text(
            r#"
            async move {
                let headers = owned.headers();
                let req = owned.request(&headers);
                let mut p: [&str; N] = [""; N];
                if find(req.path(), &mut p).is_none() {
                    return Response::error(StatusCode::NOT_FOUND);
                }
            "#,
        );
        w!(c, "    r{i}_call(&req{}).await", route.params_pass("&p"));
        w!(c, "}}");
    });
    w!(c, "}}");
}
