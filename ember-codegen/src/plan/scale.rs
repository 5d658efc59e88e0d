//! The top-level `redis:` and the generated probe routes (scale, issues 16.3 and 18).

use std::time::Duration;

use super::{Builder, Origin, RoutePlan};
use crate::diag::line_col;
use crate::plan::MethodSel;
use crate::spec::Spec;
use crate::validate::scale as rules;

/// The top-level `redis:`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisPlan {
    /// The registry target as written (`${VAR}` read again at start-up).
    pub template: String,
    /// Its value at build time.
    pub value: String,
    /// The default timeout of features on it.
    pub timeout: Duration,
    /// Connections per worker.
    pub pool_size: u64,
    /// Whether readiness requires it.
    pub required: bool,
}

/// Checks `redis:` and makes it the default of Redis-backed features.
pub(super) fn redis_plan(cx: &mut Builder<'_, '_>, spec: &Spec) -> Option<RedisPlan> {
    let top = rules::redis(cx, spec.redis.as_ref()?)?;
    cx.redis = Some(top.clone());
    Some(RedisPlan {
        template: top.template,
        value: top.value,
        timeout: top.timeout,
        pool_size: top.pool_size,
        required: top.required,
    })
}

/// Adds `GET` routes for the probes `probes:` asks for, served by the runtime (no
/// middleware: a load balancer needs no credentials).
pub(super) fn add_probes(cx: &mut Builder<'_, '_>, spec: &Spec) {
    let Some(p) = &spec.probes else { return };
    let file = cx.files[0].name.clone();
    for (which, path, segments, span) in rules::probes(cx, p) {
        let line = line_col(cx.source(0), span.start).0;
        cx.routes.push(RoutePlan {
            method: MethodSel::Get,
            path,
            segments,
            handler: format!("::ember_runtime::__private::probe::{which}"),
            name: Some(which.to_owned()),
            summary: None,
            limits: Default::default(),
            file: file.clone(),
            line,
            cache: None,
            middleware: Vec::new(),
            ai: None,
            session: None,
            input: Default::default(),
        });
        cx.origins.push(Origin { file: 0, span });
    }
}
