//! What the top-level `redis:` adds to the generated app (scale, issue 18): its pool size
//! and, when `required`, its place in readiness — both set as each worker starts, before
//! any connection is made.

use crate::code::{Millis, Str};
use crate::plan::Plan;

/// Statements for `on_worker_start` (none without `redis:`).
pub(super) fn worker_start(plan: &Plan) -> Vec<String> {
    let Some(r) = &plan.redis else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if r.pool_size > 1 {
        out.push(format!(
            "::ember_runtime::__private::probe::redis_pool_size({}, {}, {})",
            Str(&r.template),
            Str(&r.value),
            r.pool_size
        ));
    }
    if r.required {
        out.push(format!(
            "::ember_runtime::__private::probe::require_redis({}, {}, {})",
            Str(&r.template),
            Str(&r.value),
            Millis(r.timeout)
        ));
    }
    out
}
