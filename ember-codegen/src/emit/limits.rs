//! Per-route limit overrides, looked up by endpoint.

use super::router;
use crate::code::Millis;
use crate::code::{Code, close, open, w};
use crate::plan::{MethodSel, Plan};

/// `route_limits`: the per-route overrides of the endpoint `route` matched; a constant when
/// no route has any.
pub(super) fn emit_route_limits(
    c: &mut Code,
    plan: &Plan,
    endpoints: &[router::Endpoint],
    names: &[String],
) {
    let mut arms: Vec<(usize, Vec<(bool, String)>)> = Vec::new();
    for (i, ep) in endpoints.iter().enumerate() {
        let mut method_arms = Vec::new();
        for &r in &ep.routes {
            let route = &plan.routes[r];
            let l = route.limits;
            if l.max_body_size.is_none() && l.handler_timeout.is_none() {
                continue;
            }
            let body = match l.max_body_size {
                Some(v) => format!("Some({v})"),
                None => "None".to_owned(),
            };
            let timeout = match l.handler_timeout {
                Some(Some(d)) => format!("Some(Some({}))", Millis(d)),
                Some(None) => "Some(None)".to_owned(),
                None => "None".to_owned(),
            };
            let pat = match route.method {
                MethodSel::Get => "Method::Get | Method::Head",
                MethodSel::Head => "Method::Head",
                MethodSel::Post => "Method::Post",
                MethodSel::Put => "Method::Put",
                MethodSel::Patch => "Method::Patch",
                MethodSel::Delete => "Method::Delete",
                MethodSel::Options => "Method::Options",
                MethodSel::Any => "_",
            };
            method_arms.push((
                route.method == MethodSel::Any,
                format!(
                    "{pat} => ::ember_runtime::__private::RouteLimits {{ max_body_size: {body}, handler_timeout: {timeout} }},"
                ),
            ));
        }
        if !method_arms.is_empty() {
            // A specific method before `ANY`.
            method_arms.sort_by_key(|(any, _)| *any);
            arms.push((i, method_arms));
        }
    }
    if arms.is_empty() {
        c.text(
            "
            /// No route overrides the server's limits.
            #[inline(always)]
            fn route_limits(_: Option<Endpoint>, _: Method<'_>) -> ::ember_runtime::__private::RouteLimits {
                ::ember_runtime::__private::RouteLimits::default()
            }
            ",
        );
        return;
    }
    c.text(
        "
        /// The limits of the route `method` reaches at `endpoint`, where they differ from the
        /// server's.
        fn route_limits(endpoint: Option<Endpoint>, method: Method<'_>) -> ::ember_runtime::__private::RouteLimits {
        ",
    );
    c.indented(|c| {
        open!(c, "match endpoint {{");
        for (i, method_arms) in arms {
            open!(c, "Some(Endpoint::{}) => match method {{", names[i]);
            for (_, arm) in method_arms {
                w!(c, "{arm}");
            }
            w!(
                c,
                "_ => ::ember_runtime::__private::RouteLimits::default(),"
            );
            close!(c, "}},");
        }
        w!(
            c,
            "_ => ::ember_runtime::__private::RouteLimits::default(),"
        );
        close!(c, "}}");
    });
    w!(c, "}}");
}
