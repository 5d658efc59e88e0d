//! Access log, request ids and metrics (obs, issue 16): the settings in `config()`, the
//! metric families' label values, and the route id of each request.

use crate::code::{Code, Str, StrList, close, open, w};
use crate::plan::{MwKind, Plan};

/// Whether the app says anything about observability (else nothing is generated).
fn any(plan: &Plan) -> bool {
    let o = &plan.observe;
    o.access_log.is_some() || o.request_id.is_some() || o.metrics.is_some()
}

/// The `ServerConfig` calls of `access_log:`, `request_id:` and `metrics:`.
pub(super) fn config_calls(plan: &Plan, calls: &mut Vec<String>) {
    const P: &str = "::ember_runtime";
    let o = &plan.observe;
    if let Some((Some(format), path)) = &o.access_log {
        let format = if format == "json" { "Json" } else { "Common" };
        calls.push(format!(
            ".access_log({P}::AccessLog::new({P}::AccessLogFormat::{format}, {P}::AccessLogTarget::parse({})))",
            Str(path)
        ));
    }
    if let Some((header, accept)) = &o.request_id {
        calls.push(format!(
            ".request_id(Some({P}::RequestIdConfig {{ header: {}.to_owned(), accept: {accept} }}))",
            Str(header)
        ));
    }
    if o.metrics.is_some() {
        calls.push(".metrics(true)".to_owned());
    }
}

/// The `Service` methods that name the families and each request's route.
pub(super) fn service_methods(c: &mut Code, plan: &Plan) {
    if !any(plan) {
        return;
    }
    c.text(
        "
        fn metric_families(&self) -> ::core::option::Option<&'static ::ember_runtime::__private::observe::Families> {
            ::core::option::Option::Some(&__ember_router::FAMILIES)
        }

        #[inline]
        fn route_id(&self, route: &__ember_router::Route) -> usize {
            __ember_router::route_id(route)
        }
        ",
    );
}

/// The label values of every family (in the router module), and `route_id`.
pub(super) fn emit_families(c: &mut Code, plan: &Plan, endpoint_paths: &[&str]) {
    if !any(plan) {
        return;
    }
    let mut routes = vec!["(unmatched)".to_owned()];
    routes.extend(endpoint_paths.iter().map(|p| (*p).to_owned()));
    let caches: Vec<String> = plan.caches.iter().map(|c| c.name.clone()).collect();
    let models: Vec<String> = plan
        .ai
        .as_ref()
        .map(|a| a.models.iter().map(|m| m.name.clone()).collect())
        .unwrap_or_default();
    w!(
        c,
        "/// The label values of the metric families (obs, issue 16)."
    );
    open!(
        c,
        "pub static FAMILIES: ::ember_runtime::__private::observe::Families = ::ember_runtime::__private::observe::Families {{"
    );
    w!(c, "routes: &[{}],", StrList(&routes));
    w!(c, "caches: &[{}],", StrList(&caches));
    w!(c, "limiters: &[{}],", StrList(&limiters(plan)));
    w!(c, "models: &[{}],", StrList(&models));
    close!(c, "}};");
    c.blank();
    c.text(
        "
        /// The index of a request's route template in `FAMILIES.routes` (0: no route).
        #[inline]
        pub fn route_id(route: &Route) -> usize {
            match route.endpoint {
                Some(e) => e.index() + 1,
                None => 0,
            }
        }
        ",
    );
}

/// Rate limiters by middleware declaration id (`""` where the declaration is not one):
/// the generated rejection counts under its own id, no lookup.
fn limiters(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in plan.routes.iter().flat_map(|r| &r.middleware) {
        if let MwKind::RateLimit(_) = m.kind {
            if out.len() <= m.id {
                out.resize(m.id + 1, String::new());
            }
            out[m.id] = format!("{}#{}", m.name, m.id);
        }
    }
    out
}
