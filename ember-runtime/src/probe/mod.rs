//! Health probes (issue 16.3) and the drain that rolling deploys need (issue 18.3).
//!
//! * `livez`: the process is up and its workers answer — always `200 ok`.
//! * `readyz`: `200 ready`, or `503` while the server drains after SIGTERM, or while a
//!   backend declared `required` (the top-level `redis:` with `required: true`) does not
//!   answer a `PING` within its timeout (at least 1 s).
//!
//! The probes are generated routes (`probes: { livez: /livez, readyz: /readyz }`): they
//! skip the spec's middleware (a load balancer needs no credentials) and cost nothing
//! when the spec has no `probes:`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cache::env;
use crate::http::response::Response;
use crate::http::status::StatusCode;
use crate::remote::{self, Conn, Endpoint, Proto};

/// Set at SIGTERM: readiness fails from then on.
static DRAINING: AtomicBool = AtomicBool::new(false);

/// The Redis endpoints readiness requires, with their timeouts.
static REQUIRED: Mutex<Vec<(&'static Endpoint, Duration)>> = Mutex::new(Vec::new());

/// Readiness fails from now on (SIGTERM: the load balancer drains the instance).
pub(crate) fn begin_drain() {
    DRAINING.store(true, Ordering::Relaxed);
}

/// Whether the server is draining.
pub(crate) fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Declares that readiness requires the Redis at `template` (`${VAR:-default}` read now;
/// `built` when a variable is unset) to answer within `timeout`. Idempotent: generated
/// code calls it as each worker starts.
pub fn require_redis(template: &str, built: &str, timeout: Duration) {
    let target =
        env::resolve(template, &|k| std::env::var(k).ok()).unwrap_or_else(|| built.to_owned());
    let ep = remote::endpoint(Proto::Redis, &target);
    let mut all = REQUIRED.lock().unwrap_or_else(|p| p.into_inner());
    if !all.iter().any(|(e, _)| std::ptr::eq(*e, ep)) {
        all.push((ep, timeout));
    }
}

/// Sets how many connections each worker keeps to the Redis at `template` (`${VAR}` read
/// now; `built` when a variable is unset): the top-level `redis.pool_size`. Called by
/// generated code as each worker starts, before any connection is made.
pub fn redis_pool_size(template: &str, built: &str, n: usize) {
    let target =
        env::resolve(template, &|k| std::env::var(k).ok()).unwrap_or_else(|| built.to_owned());
    remote::set_pool(remote::endpoint(Proto::Redis, &target), n);
}

/// `GET /livez`: `200 ok`.
pub async fn livez() -> Response {
    Response::text("ok")
}

/// `GET /readyz`: `200 ready`, or `503` with the reason (see the module docs).
pub async fn readyz() -> Response {
    if draining() {
        return not_ready("draining");
    }
    let required: Vec<(&'static Endpoint, Duration)> =
        REQUIRED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for (ep, timeout) in required {
        if let Err(why) = ping(ep, timeout).await {
            return not_ready(&format!("redis: {why}"));
        }
    }
    Response::text("ready")
}

fn not_ready(why: &str) -> Response {
    Response::text(format!("not ready: {why}"))
        .with_status(StatusCode::SERVICE_UNAVAILABLE)
        .header("Retry-After", "1")
}

/// The least time a readiness `PING` may take: readiness says "down", not "slow", so a
/// loaded instance whose operations time out is not taken out of rotation for it.
const PING_AT_LEAST: Duration = Duration::from_secs(1);

/// One `PING` on this worker's connection to `ep`, sent even while the endpoint is in
/// backoff (one timed-out request must not make every instance unready at once).
async fn ping(ep: &'static Endpoint, timeout: Duration) -> Result<(), String> {
    let conn = remote::conn(ep).ok_or("not on an Ember worker")?;
    let Conn::Redis(m) = &*conn else {
        return Err("not a Redis connection".into());
    };
    let timeout = timeout.max(PING_AT_LEAST);
    let mut m = m.clone();
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<String>(&mut m);
    match ep.run(&"readiness", "ping", timeout, |_| true, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(f) => Err(f.to_string()),
    }
}
