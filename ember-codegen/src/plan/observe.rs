//! `access_log:`, `request_id:` and `metrics:` (obs, issue 16): the settings, and the
//! metrics route added to the app's routes.

use super::{Builder, Origin, RoutePlan};
use crate::spec::{MethodSel, Spec};
use crate::validate::observe as rules;

/// The handler of the metrics route.
pub const METRICS_HANDLER: &str = "::ember_runtime::__private::observe::serve_metrics";

/// What the spec says about observability.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservePlan {
    /// `access_log:`: the format (`common` or `json`; `None`: off) and where lines go.
    pub access_log: Option<(Option<String>, String)>,
    /// `request_id:`: the header and whether a client's id is kept.
    pub request_id: Option<(String, bool)>,
    /// `metrics:`: the route's path (the route is among the plan's routes).
    pub metrics: Option<String>,
}

/// Checks the three sections and adds the metrics route.
pub(super) fn observe_plan(cx: &mut Builder<'_, '_>, spec: &Spec) -> ObservePlan {
    let mut plan = ObservePlan::default();
    if let Some(a) = &spec.access_log {
        plan.access_log = rules::access_log(cx, &a.value).map(|a| (a.format, a.path));
    }
    if let Some(r) = &spec.request_id {
        plan.request_id = rules::request_id(cx, &r.value).map(|r| (r.header, r.accept));
    }
    if let Some(m) = &spec.metrics
        && let Some((path, segments)) = rules::metrics(cx, &m.value)
    {
        let span = cx.key_span(0, m, "metrics");
        let line = crate::diag::line_col(cx.source(0), span.start).0;
        let file = cx.files[0].name.clone();
        cx.routes.push(RoutePlan {
            method: MethodSel::Get,
            path: path.clone(),
            segments,
            handler: METRICS_HANDLER.to_owned(),
            name: Some("metrics".to_owned()),
            summary: Some("Prometheus metrics".to_owned()),
            limits: Default::default(),
            file,
            line,
            cache: None,
            middleware: Vec::new(),
            ai: None,
            session: None,
            input: Default::default(),
        });
        cx.origins.push(Origin { file: 0, span });
        plan.metrics = Some(path);
    }
    plan
}
