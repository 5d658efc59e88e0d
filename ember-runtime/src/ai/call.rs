//! Routing one chat request: plan the upstreams, try each with its retries per error class,
//! fall back on connect errors, timeouts, 429 and 5xx, and keep the shared health current.
//! Nothing here has sent a byte to the client: that is why falling back is still allowed.

use std::time::Duration;

use bytes::Bytes;

use super::error::AiError;
use super::health::now_ms;
use super::router;
use super::spec::{ModelSpec, Retries};
use super::upstream::{Answer, Upstream};
use super::wire::ChatRequest;

/// How often a failing upstream is logged at warn, at most.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// What routing found: the upstream that answered, and its answer.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) upstream: &'static Upstream,
    pub(crate) answer: Answer,
}

/// A failure, with the last upstream tried (for `x-ember-model`), if any.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) upstream: Option<&'static str>,
    pub(crate) error: AiError,
}

/// The retry budget left for one upstream, per error class.
struct Budget(Retries);

impl Budget {
    /// Spends one retry of `e`'s class, if any is left.
    fn spend(&mut self, e: &AiError) -> bool {
        let left = match e {
            AiError::Connect { .. } => &mut self.0.connect,
            AiError::Timeout { .. } => &mut self.0.timeout,
            AiError::RateLimited { .. } => &mut self.0.rate_limited,
            AiError::ServerError { .. } => &mut self.0.server_error,
            _ => return false,
        };
        if *left == 0 {
            return false;
        }
        *left -= 1;
        true
    }
}

/// Routes `req` through `model`'s upstreams (its `model` field replaced by each upstream's,
/// its `stream` flag as given) until one answers.
pub(crate) async fn route(
    spec: &'static ModelSpec,
    upstreams: &'static [Upstream],
    req: &mut ChatRequest,
) -> Result<Served, Failed> {
    let now = now_ms();
    let order = router::plan(spec, upstreams, now).map_err(|retry_after| {
        // Rate-limited with the first upstream's failure warnings.
        if upstreams
            .first()
            .is_some_and(|u| u.health.should_warn(WARN_EVERY, now))
        {
            tracing::warn!(model = spec.name, "every upstream is cooling down: 503");
        } else {
            tracing::debug!(model = spec.name, "every upstream is cooling down: 503");
        }
        Failed {
            upstream: None,
            error: AiError::NoHealthyUpstream { retry_after },
        }
    })?;
    let mut last: Option<Failed> = None;
    for idx in order {
        if last.is_some() {
            crate::observe::ai_named(spec.name, crate::observe::AiEvent::Fallback, 1); // observe (obs)
        }
        let up: &'static Upstream = &upstreams[idx];
        if up.health.cooling(now_ms()).is_some() {
            // Another worker put it in cooldown since the plan was made.
            tracing::debug!(
                model = spec.name,
                upstream = up.spec.name,
                "skipped: cooling"
            );
            continue;
        }
        tracing::debug!(
            model = spec.name,
            upstream = up.spec.name,
            strategy = ?spec.strategy,
            "routing"
        );
        let body = match body_for(up, req) {
            Ok(b) => b,
            Err(error) => {
                return Err(Failed {
                    upstream: None,
                    error,
                });
            }
        };
        let mut budget = Budget(spec.retries);
        loop {
            match up.attempt(body.clone(), req.stream).await {
                Ok((answer, ttft)) => {
                    up.health.record_success(Some(ttft), now_ms());
                    return Ok(Served {
                        upstream: up,
                        answer,
                    });
                }
                Err(error) if error.is_retryable() => {
                    let now = now_ms();
                    let cooled = up.health.record_failure(spec.cooldown, now);
                    report(spec, up, &error, cooled, now);
                    let retry = !cooled && budget.spend(&error);
                    last = Some(Failed {
                        upstream: Some(up.spec.name),
                        error,
                    });
                    if !retry {
                        break;
                    }
                }
                // The client's fault (another 4xx): passed through, no fallback.
                Err(error) => {
                    return Err(Failed {
                        upstream: Some(up.spec.name),
                        error,
                    });
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| Failed {
        upstream: None,
        error: AiError::NoHealthyUpstream {
            retry_after: Duration::from_secs(1),
        },
    }))
}

/// Logs a failed attempt: at warn when it starts a cooldown, else at warn once per
/// [`WARN_EVERY`] per upstream and at debug otherwise.
pub(crate) fn report(model: &ModelSpec, up: &Upstream, e: &AiError, cooled: bool, now: u64) {
    let (m, u) = (model.name, up.spec.name);
    crate::observe::ai_named(m, crate::observe::AiEvent::UpstreamError, 1); // observe (obs)
    if cooled {
        let secs = model.cooldown.period.as_secs_f64();
        tracing::warn!(model = m, upstream = u, "{e}; cooling down for {secs} s");
    } else if up.health.should_warn(WARN_EVERY, now) {
        tracing::warn!(model = m, upstream = u, "{e}");
    } else {
        tracing::debug!(model = m, upstream = u, "{e}");
    }
}

/// The request body for `up`: `req` with `model` set to the upstream's model name.
fn body_for(up: &Upstream, req: &mut ChatRequest) -> Result<Bytes, AiError> {
    req.model.clear();
    req.model.push_str(up.spec.model);
    serde_json::to_vec(req)
        .map(Bytes::from)
        .map_err(|e| AiError::BadRequest {
            message: format!("the request cannot be encoded: {e}"),
            param: None,
        })
}
