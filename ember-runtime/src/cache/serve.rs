//! The request path of a cached route (what generated code calls), and the owned copy of
//! a request that a background refresh runs on.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::entry::{Entry, Freshness, now_ms};
use super::key::{self, Skip};
use super::store::{Flight, Lookup};
use super::{Cache, Caches, Policy, remote};
use crate::http::method::Method;
use crate::http::request::{Header, Request, Version};
use crate::http::response::Response;
use crate::http::status::StatusCode;
use crate::panic::CatchUnwind;

thread_local! {
    /// The key being built, reused by every request on the worker.
    static KEY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Answers a request on a cached route: from the cache when it can, else by awaiting
/// `handler()` once for every concurrent request with the same key. `refresh` recomputes
/// the response from an owned copy of the request, in the background, when a stale entry
/// is answered. Generated code calls this; it must run on an Ember worker (inside its
/// `LocalSet`).
pub async fn serve<'a, F, Fut, R, RFut>(
    caches: &'static Caches,
    policy: &'static Policy,
    req: &'a Request<'a>,
    handler: F,
    refresh: R,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Response>,
    R: FnOnce(OwnedRequest) -> RFut + 'static,
    RFut: Future<Output = Response> + 'static,
{
    let cache = caches.at(policy.cache);
    let now = now_ms();
    let found = KEY
        .with_borrow_mut(|buf| key::build(policy, req, buf).map(|()| cache.store.lookup(buf, now)));
    let found = match found {
        Ok(f) => f,
        Err(Skip::Method) => return handler().await,
        Err(Skip::Credentials) => return tag(handler().await, policy, "BYPASS"),
    };
    match found {
        Lookup::Fresh(e) => answer(&e, policy, "HIT"),
        Lookup::Stale(e) => {
            if e.claim_refresh() {
                let key = KEY.with_borrow(|k| Arc::<[u8]>::from(&k[..]));
                spawn_refresh(cache, policy, key, Some(e.clone()), req, refresh);
            }
            answer(&e, policy, "STALE")
        }
        Lookup::Wait(flight) => match flight.wait().await {
            Ok(e) => answer(&e, policy, "HIT"),
            Err(status) => tag(Response::error(status), policy, "MISS"),
        },
        Lookup::Lead(key, flight) => {
            let mut lead = Lead {
                cache,
                key,
                flight,
                armed: true,
            };
            if cache.is_remote()
                && let Ok(Some(e)) = remote::get(cache, &lead.key).await
            {
                {
                    match e.freshness(now_ms()) {
                        Freshness::Fresh => {
                            let e = Arc::new(e);
                            lead.finish(Ok(e.clone()), None);
                            return answer(&e, policy, "HIT");
                        }
                        Freshness::Stale => {
                            let e = Arc::new(e);
                            lead.finish(Ok(e.clone()), None);
                            if claim_remote_refresh(cache, &lead.key) {
                                spawn_refresh(cache, policy, lead.key.clone(), None, req, refresh);
                            }
                            return answer(&e, policy, "STALE");
                        }
                        Freshness::Expired => {}
                    }
                }
            }
            let epoch = cache.epoch.load(Ordering::Acquire);
            let response = handler().await;
            let cacheable = cacheable(&response, policy);
            let e = into_entry(response, policy);
            let store = cacheable && cache.epoch.load(Ordering::Acquire) == epoch;
            if store && cache.is_remote() {
                // Waiters (and requests arriving until the write lands) get the answer
                // from the flight; it leaves the table once the backend has it.
                lead.flight.complete(Ok(e.clone()));
                lead.armed = false;
                let (key, flight) = (lead.key.clone(), lead.flight.clone());
                let stored = e.clone();
                tokio::task::spawn_local(async move {
                    let _ = remote::set(cache, &key, &stored).await;
                    cache.store.finish(&key, &flight, None);
                });
            } else {
                lead.finish(Ok(e.clone()), store.then(|| e.clone()));
            }
            answer(&e, policy, "MISS")
        }
    }
}

/// The leader of a flight. Dropped without finishing (the handler panicked, or timed
/// out and was cancelled), it wakes the waiters with a `500`: nobody hangs.
struct Lead {
    cache: &'static Cache,
    key: Arc<[u8]>,
    flight: Arc<Flight>,
    armed: bool,
}

impl Lead {
    fn finish(&mut self, outcome: super::store::Outcome, store: Option<Arc<Entry>>) {
        self.armed = false;
        self.cache.store.finish(&self.key, &self.flight, store);
        self.flight.complete(outcome);
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        if self.armed {
            self.cache.store.finish(&self.key, &self.flight, None);
            self.flight.complete(Err(StatusCode::INTERNAL_SERVER_ERROR));
        }
    }
}

fn claim_remote_refresh(cache: &Cache, key: &Arc<[u8]>) -> bool {
    let mut set = match cache.refreshing.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    set.insert(key.clone())
}

/// Refreshes a stale entry once, on this worker, after the stale answer has gone out.
fn spawn_refresh<R, RFut>(
    cache: &'static Cache,
    policy: &'static Policy,
    key: Arc<[u8]>,
    stale: Option<Arc<Entry>>,
    req: &Request<'_>,
    refresh: R,
) where
    R: FnOnce(OwnedRequest) -> RFut + 'static,
    RFut: Future<Output = Response> + 'static,
{
    let owned = OwnedRequest::new(req);
    tokio::task::spawn_local(async move {
        let _release = Release {
            cache,
            key: key.clone(),
            stale,
        };
        let epoch = cache.epoch.load(Ordering::Acquire);
        let Ok(response) = CatchUnwind(refresh(owned)).await else {
            tracing::warn!(cache = cache.name(), "background refresh panicked");
            return;
        };
        if !cacheable(&response, policy) || cache.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        let e = into_entry(response, policy);
        if cache.is_remote() {
            let _ = remote::set(cache, &key, &e).await;
        } else {
            cache.store.put(&key, e);
        }
    });
}

/// Lets the next stale answer start another refresh, however this one ended.
struct Release {
    cache: &'static Cache,
    key: Arc<[u8]>,
    stale: Option<Arc<Entry>>,
}

impl Drop for Release {
    fn drop(&mut self) {
        match &self.stale {
            Some(e) => e.release_refresh(),
            None => {
                let mut set = match self.cache.refreshing.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                set.remove(&self.key);
            }
        }
    }
}

/// Whether a handler's response may be stored: a listed status, no `Set-Cookie`, no
/// `Cache-Control: no-store` or `private`.
fn cacheable(r: &Response, policy: &Policy) -> bool {
    // A streamed body is produced while it is sent: there is nothing to store.
    if r.is_stream() || !policy.statuses.contains(&r.status().as_u16()) {
        return false;
    }
    for line in r.header_lines() {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"set-cookie") {
            return false;
        }
        if name.eq_ignore_ascii_case(b"cache-control") {
            let v = String::from_utf8_lossy(value).to_ascii_lowercase();
            if v.split(',')
                .any(|d| matches!(d.trim(), "no-store" | "private"))
            {
                return false;
            }
        }
    }
    true
}

fn into_entry(r: Response, policy: &Policy) -> Arc<Entry> {
    let (fresh, stale) = policy.deadlines(now_ms());
    let (status, headers, body) = r.into_cache_parts();
    Arc::new(Entry::new(status.as_u16(), headers, body, fresh, stale))
}

fn answer(e: &Entry, policy: &Policy, what: &'static str) -> Response {
    Response::shared(
        e.status_code(),
        e.headers.clone(),
        e.body.clone(),
        policy.header.map(|h| (h, what)),
    )
}

fn tag(r: Response, policy: &Policy, what: &'static str) -> Response {
    match policy.header {
        Some(h) => r.with_static_header(h, what),
        None => r,
    }
}

/// A request copied out of the connection's buffer, so that a background refresh can run
/// the handler after the request that triggered it has been answered.
#[derive(Debug)]
pub struct OwnedRequest {
    target: String,
    version: Version,
    names: String,
    values: Vec<u8>,
    /// Per header: end of its name in `names`, end of its value in `values`.
    ends: Vec<(usize, usize)>,
    body: Vec<u8>,
}

impl OwnedRequest {
    fn new(req: &Request<'_>) -> Self {
        let mut target = String::with_capacity(req.path().len() + req.query().len() + 1);
        target.push_str(req.path());
        if !req.query().is_empty() {
            target.push('?');
            target.push_str(req.query());
        }
        let mut names = String::new();
        let mut values = Vec::new();
        let mut ends = Vec::with_capacity(req.headers().len());
        for h in req.headers() {
            names.push_str(h.name);
            values.extend_from_slice(h.value);
            ends.push((names.len(), values.len()));
        }
        OwnedRequest {
            target,
            version: req.version(),
            names,
            values,
            ends,
            body: req.body().to_vec(),
        }
    }

    /// The headers, borrowed (pass them to [`OwnedRequest::request`]).
    pub fn headers(&self) -> Vec<Header<'_>> {
        let mut start = (0, 0);
        self.ends
            .iter()
            .map(|&(n, v)| {
                let h = Header {
                    name: &self.names[start.0..n],
                    value: &self.values[start.1..v],
                };
                start = (n, v);
                h
            })
            .collect()
    }

    /// The request (always as a `GET`: refreshes recompute GET entries).
    pub fn request<'a>(&'a self, headers: &'a [Header<'a>]) -> Request<'a> {
        Request::from_parts(Method::Get, &self.target, self.version, headers, &self.body)
    }
}
