//! The request path of a cached route (what generated code calls), and the owned copy of
//! a request that a background refresh runs on.

use std::cell::RefCell;
use std::future::Future;
use std::net::IpAddr;
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
            // Whether the remote backend answered this lookup (in-process kinds: always),
            // and what the write of the answer is conditional on.
            let mut reachable = true;
            let mut token = remote::Token::Any;
            if cache.is_remote() {
                match remote::get(cache, &lead.key).await {
                    Ok((Some(e), t)) => match e.freshness(now_ms()) {
                        Freshness::Fresh => {
                            let e = Arc::new(e);
                            lead.finish(Ok(e.clone()), None);
                            return answer(&e, policy, "HIT");
                        }
                        Freshness::Stale => {
                            let e = Arc::new(e);
                            lead.finish(Ok(e.clone()), None);
                            if claim_remote_refresh(cache, &lead.key, t) {
                                spawn_refresh(cache, policy, lead.key.clone(), None, req, refresh);
                            }
                            return answer(&e, policy, "STALE");
                        }
                        Freshness::Expired => token = t,
                    },
                    Ok((None, t)) => token = t,
                    // Down, slow or skipped after a failure: the answer will not be
                    // stored (the write would be skipped too).
                    Err(_) => {
                        reachable = false;
                        // observe (obs): a store error; the request goes on without it.
                        crate::observe::cache_event(
                            policy.cache,
                            crate::observe::CacheEvent::Error,
                        );
                        crate::observe::remote_error(true);
                    }
                }
            }
            // scale (issue 18): one instance computes a Redis miss; the others wait.
            let mut lease = None;
            if reachable && cache.is_redis() {
                match across_instances(cache, policy, &lead.key, &mut token).await {
                    Across::Found(e) => {
                        lead.finish(Ok(e.clone()), None);
                        return answer(&e, policy, "HIT");
                    }
                    Across::Compute(held) => lease = held,
                }
            }
            let epoch = cache.epoch.load(Ordering::Acquire);
            let response = handler().await;
            let cacheable = cacheable(&response, policy);
            let e = into_entry(response, policy);
            let store = cacheable && cache.epoch.load(Ordering::Acquire) == epoch;
            if store && cache.is_remote() && reachable {
                // Waiters (and requests arriving until the write lands) get the answer
                // from the flight; it leaves the table once the backend has it. Only
                // while the backend answers: a flight whose write fails on a dead
                // backend would otherwise answer later requests, as HITs, with a copy
                // that is never stored, for as long as its write task waits to run.
                lead.flight.complete(Ok(e.clone()));
                lead.armed = false;
                let (key, flight) = (lead.key.clone(), lead.flight.clone());
                let stored = e.clone();
                tokio::task::spawn_local(async move {
                    // Conditional: a purge since the lookup (here or on another instance)
                    // makes it a no-op.
                    let _ = remote::set(cache, &key, &stored, token).await;
                    cache.store.finish(&key, &flight, None);
                    if let Some(t) = lease {
                        remote::release(cache, &key, t).await;
                    }
                });
            } else {
                if let Some(t) = lease {
                    let key = lead.key.clone();
                    tokio::task::spawn_local(async move { remote::release(cache, &key, t).await });
                }
                // A remote cache keeps nothing here: the flight ends with this request,
                // and the next one asks the backend (or the handler) again.
                let keep = store && !cache.is_remote();
                lead.finish(Ok(e.clone()), keep.then(|| e.clone()));
            }
            answer(&e, policy, "MISS")
        }
    }
}

/// What a Redis miss does about the other instances (scale, issue 18).
enum Across {
    /// Another instance computed the answer meanwhile.
    Found(Arc<Entry>),
    /// Run the handler: with this lease token when this instance holds the lease, without
    /// one when the wait ran out or Redis stopped answering.
    Compute(Option<u64>),
}

/// Takes the key's lease (`SET NX PX`), or waits for the instance that holds it: polls
/// with a growing pause (2 ms doubling up to 50 ms) until its answer is stored, or the
/// lease is gone (its holder died or its answer was not cacheable: take it over), or the
/// policy's lease time has passed (then compute without it). `token` is updated to what
/// the last lookup saw.
async fn across_instances(
    cache: &Cache,
    policy: &Policy,
    key: &[u8],
    token: &mut remote::Token,
) -> Across {
    let start = std::time::Instant::now();
    let limit = std::time::Duration::from_millis(policy.lease_ms);
    loop {
        match remote::lease(cache, key, policy.lease_ms).await {
            Ok(Some(t)) => return Across::Compute(Some(t)),
            Ok(None) => {}
            Err(_) => return Across::Compute(None),
        }
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            let left = limit.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Across::Compute(None);
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(50));
            match remote::poll(cache, key).await {
                Ok((Some(e), _, _)) if e.freshness(now_ms()) != Freshness::Expired => {
                    return Across::Found(Arc::new(e));
                }
                Ok((_, t, held)) => {
                    *token = t;
                    if !held {
                        break;
                    }
                }
                Err(_) => return Across::Compute(None),
            }
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

/// Claims the background refresh of a stale remote entry for this process, recording
/// what its write is conditional on.
fn claim_remote_refresh(cache: &Cache, key: &Arc<[u8]>, token: remote::Token) -> bool {
    let mut set = match cache.refreshing.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    match set.entry(key.clone()) {
        std::collections::hash_map::Entry::Occupied(_) => false,
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(token);
            true
        }
    }
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
            let _ = remote::set_refreshed(cache, &key, &e).await;
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
    Arc::new(Entry::from_response(r, fresh, stale, policy.header))
}

fn answer(e: &Entry, policy: &Policy, what: &'static str) -> Response {
    crate::observe::cache_answer(policy.cache, what); // observe (obs)
    e.response(policy.header, what)
}

fn tag(r: Response, policy: &Policy, what: &'static str) -> Response {
    match policy.header {
        Some(h) => r.header(h, what),
        None => r,
    }
}

/// A request copied out of the connection's buffer, so that a background refresh can run
/// the handler after the request that triggered it has been answered.
///
/// It keeps what the route's middleware had established when the request reached the
/// cache (the middleware runs in front of the cache, not again for the refresh): the
/// authenticated identity and the client's address. The refresh therefore computes the
/// entry exactly as the request that found it stale would have. A `hook`'s `extend`
/// value (a borrowed value of a type only the application knows) cannot be copied: the
/// generator refuses `stale_while_revalidate` on routes with an `extend` hook.
#[derive(Debug)]
pub struct OwnedRequest {
    target: String,
    /// The identity the route's authentication middleware accepted.
    identity: Option<Box<str>>,
    /// The client's address (the TCP peer).
    peer: Option<IpAddr>,
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
            identity: req.identity().map(Box::from),
            peer: req.peer_ip(),
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

    /// The request (always as a `GET`: refreshes recompute GET entries), with the identity
    /// and client address of the request it was copied from.
    pub fn request<'a>(&'a self, headers: &'a [Header<'a>]) -> Request<'a> {
        let mut req =
            Request::from_parts(Method::Get, &self.target, self.version, headers, &self.body);
        req.identity = self.identity.as_deref();
        req.peer = crate::http::request::Peer::Known(self.peer);
        req
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::cache::CacheConfig;
    use crate::http::response::{ConnectionHeader, Framing};
    use crate::test_util::RedisServer;

    fn x_cache(r: &Response) -> String {
        let mut out = Vec::new();
        r.encode(
            &mut out,
            Framing {
                head_only: false,
                connection: ConnectionHeader::None,
                chunked: true,
            },
        );
        let text = String::from_utf8_lossy(&out).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("X-Cache: "))
            .unwrap_or("-")
            .to_owned()
    }

    /// The copy a refresh runs on carries what middleware established on the original.
    #[test]
    fn an_owned_request_keeps_identity_peer_headers_and_target() {
        let headers = [Header {
            name: "Authorization",
            value: b"Bearer t",
        }];
        let peer: IpAddr = "192.0.2.7".parse().expect("an address");
        let original = Request::from_parts(Method::Get, "/a?b=1", Version::Http11, &headers, b"")
            .with_peer(peer)
            .with_identity("alice");
        let owned = OwnedRequest::new(&original);
        let hs = owned.headers();
        let copy = owned.request(&hs);
        assert_eq!(copy.identity(), Some("alice"));
        assert_eq!(copy.peer_ip(), Some(peer));
        assert_eq!((copy.path(), copy.query()), ("/a", "b=1"));
        assert_eq!(copy.header_str("authorization"), Some("Bearer t"));

        let anonymous = Request::from_parts(Method::Get, "/", Version::Http11, &[], b"");
        let owned = OwnedRequest::new(&anonymous);
        let copy = owned.request(&[]);
        assert_eq!((copy.identity(), copy.peer_ip()), (None, None));
    }

    /// With the backend down, a miss's answer goes to the requests that waited for it and
    /// to no one else: it is never stored, so a later request must run the handler, even
    /// one that arrives before the failed write's task has run.
    #[test]
    fn a_miss_computed_while_redis_is_down_is_not_served_to_later_requests() {
        let Some(mut redis) = RedisServer::start_on_free_port() else {
            crate::test_util::require_or_skip("redis-server", "it did not start (installed?)");
            return;
        };
        let url = redis.url();
        let caches: &'static Caches = Box::leak(Box::new(Caches::new(vec![
            CacheConfig::redis("flaky", &url, &url)
                .prefix("serve-test:")
                .timeout(Duration::from_millis(100)),
        ])));
        let policy: &'static Policy =
            Box::leak(Box::new(Policy::new(0).ttl(Duration::from_secs(30))));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            caches.worker_start();
            let calls = Rc::new(std::cell::Cell::new(0u64));
            let call = |target: &'static str| {
                let calls = calls.clone();
                async move {
                    let req = Request::from_parts(Method::Get, target, Version::Http11, &[], b"");
                    let handler = || async {
                        calls.set(calls.get() + 1);
                        Response::text(format!("n={}", calls.get()))
                    };
                    let refresh = |_: OwnedRequest| async { Response::text("refresh") };
                    let r = serve(caches, policy, &req, handler, refresh).await;
                    (x_cache(&r), String::from_utf8_lossy(r.body()).into_owned())
                }
            };

            // Up: a miss is stored, then answered from Redis.
            assert_eq!(call("/up").await, ("MISS".into(), "n=1".into()));
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let (x, body) = call("/up").await;
                assert_eq!(body, "n=1", "the stored answer");
                if x == "HIT" {
                    break;
                }
                assert!(Instant::now() < deadline, "the entry reaches Redis");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }

            redis.stop();
            // Back to back, without yielding in between: the background write of the
            // first answer has not run when the second request looks the key up.
            let first = call("/down").await;
            let second = call("/down").await;
            assert_eq!(first, ("MISS".into(), "n=2".into()));
            assert_eq!(second, ("MISS".into(), "n=3".into()), "from the handler");
            // Let the failed writes finish; the key has no flight left.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(call("/down").await, ("MISS".into(), "n=4".into()));
        });
        caches.worker_stop();
    }
}
