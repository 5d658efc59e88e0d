//! Purges against writes that started before them, on the real Redis and Memcached the
//! machine runs (keys under a prefix unique to the run).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::cache::{CacheConfig, Caches, OwnedRequest, Policy, serve};
use crate::http::method::Method;
use crate::http::request::{Request, Version};
use crate::http::response::Response;

/// `host:port` of a service, or `None` (skip) when it does not answer; under CI
/// (`CI` set and not `0`/`false`, or `EMBER_REQUIRE_SERVICES=1`) a missing service
/// fails the test.
fn service(env: &str, default: &str) -> Option<String> {
    let raw = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    let addr = raw.trim_start_matches("redis://").trim_end_matches('/');
    if std::net::TcpStream::connect(addr).is_ok() {
        return Some(raw);
    }
    crate::test_util::require_or_skip(env, &format!("{raw} does not answer"));
    None
}

fn unique(what: &str) -> String {
    format!(
        "ember-coherence-{what}-{}-{}:",
        std::process::id(),
        now_ms()
    )
}

/// Two `Caches` over the same store and prefix: two instances of one app.
fn two_instances(config: CacheConfig) -> (&'static Caches, &'static Caches) {
    let a = Box::leak(Box::new(Caches::new(vec![config.clone()])));
    let b = Box::leak(Box::new(Caches::new(vec![config])));
    (a, b)
}

fn on_worker(f: impl AsyncFnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        tokio::task::LocalSet::new().block_on(&rt, f());
    })
    .join()
    .expect("the worker thread");
}

fn entry(body: &'static str) -> Entry {
    let now = now_ms();
    Entry::new(
        200,
        Bytes::new(),
        Bytes::from_static(body.as_bytes()),
        now + 30_000,
        now + 30_000,
    )
}

async fn body(cache: &Cache, key: &str) -> Option<String> {
    let (e, _) = get(cache, key.as_bytes()).await.expect("the store answers");
    e.map(|e| String::from_utf8_lossy(&e.body).into_owned())
}

async fn suite(a: &'static Caches, b: &'static Caches) {
    a.worker_start();
    b.worker_start();
    let (ca, cb) = (a.at(0), b.at(0));

    // A miss, then a purge on this instance, then the miss's write: not stored.
    let (found, token) = get(ca, b"k1").await.expect("lookup");
    assert!(found.is_none());
    ca.purge("k1").await.expect("purge");
    let stored = set(ca, b"k1", &entry("old"), token).await.expect("write");
    assert!(!stored, "a write that started before the purge loses");
    assert_eq!(body(ca, "k1").await, None);

    // The same across instances: the purge comes from the other one.
    let (_, token) = get(ca, b"k2").await.expect("lookup");
    cb.purge("k2").await.expect("purge");
    assert!(!set(ca, b"k2", &entry("old"), token).await.expect("write"));
    assert_eq!(body(cb, "k2").await, None);
    assert_eq!(body(ca, "k2").await, None);

    // An expired or stale entry being replaced (CAS path on Memcached).
    assert!(
        set(ca, b"k3", &entry("v1"), Token::Any)
            .await
            .expect("write")
    );
    let (found, token) = get(ca, b"k3").await.expect("lookup");
    assert!(found.is_some());
    cb.purge("k3").await.expect("purge");
    assert!(!set(ca, b"k3", &entry("v2"), token).await.expect("write"));
    assert_eq!(body(ca, "k3").await, None, "purged, not replaced");

    // A write that starts after the purge stores as usual.
    let (_, token) = get(ca, b"k1").await.expect("lookup");
    assert!(set(ca, b"k1", &entry("new"), token).await.expect("write"));
    assert_eq!(body(cb, "k1").await.as_deref(), Some("new"));

    // Through `serve`: the miss's write is spawned after the answer; the other
    // instance's purge is sent before that task runs, then the write lands.
    let policy: &'static Policy = Box::leak(Box::new(Policy::new(0).ttl(Duration::from_secs(30))));
    let calls = Rc::new(Cell::new(0u32));
    let call = async |caches: &'static Caches| {
        let req = Request::from_parts(Method::Get, "/p", Version::Http11, &[], b"");
        let calls = calls.clone();
        let handler = || async move {
            calls.set(calls.get() + 1);
            Response::text(format!("n={}", calls.get()))
        };
        let refresh = |_: OwnedRequest| async { Response::text("refresh") };
        let r = serve(caches, policy, &req, handler, refresh).await;
        String::from_utf8_lossy(r.body()).into_owned()
    };
    assert_eq!(call(a).await, "n=1");
    // No yield between the answer and the purge's request.
    cb.purge("GET /p").await.expect("purge");
    tokio::time::sleep(Duration::from_millis(100)).await; // the write has landed
    for _ in 0..5 {
        assert_ne!(
            call(a).await,
            "n=1",
            "the purged answer is never served again"
        );
        assert_ne!(call(b).await, "n=1", "nor by the other instance");
    }

    // A background refresh (stale-while-revalidate) that started before a purge.
    let now = now_ms();
    let stale = Entry::new(
        200,
        Bytes::new(),
        Bytes::from_static(b"stale"),
        now - 1000,
        now + 30_000,
    );
    assert!(set(ca, b"GET /s", &stale, Token::Any).await.expect("write"));
    let swr = async |caches: &'static Caches| {
        let req = Request::from_parts(Method::Get, "/s", Version::Http11, &[], b"");
        let handler = || async { Response::text("handler") };
        let refresh = |_: OwnedRequest| async { Response::text("refreshed") };
        let r = serve(caches, policy, &req, handler, refresh).await;
        String::from_utf8_lossy(r.body()).into_owned()
    };
    assert_eq!(swr(a).await, "stale", "answered stale, refresh spawned");
    cb.purge("GET /s").await.expect("purge");
    tokio::time::sleep(Duration::from_millis(100)).await; // the refresh has run
    assert_eq!(body(ca, "GET /s").await, None, "the refresh did not store");
    assert_eq!(swr(b).await, "handler");
    a.worker_stop();
    b.worker_stop();
}

#[test]
fn a_purge_wins_over_writes_that_started_before_it_on_redis() {
    let Some(url) = service("REDIS_URL", "redis://127.0.0.1:6379") else {
        return;
    };
    let (a, b) = two_instances(
        CacheConfig::redis("c", &url, &url)
            .prefix(&unique("redis"))
            .timeout(Duration::from_secs(1)),
    );
    on_worker(async move || suite(a, b).await);
}

/// The same on a Redis Cluster (scale, issue 18): keys hash-tagged per cache key, a
/// version per key; `REDIS_CLUSTER_NODES` lists the seed nodes (comma-separated).
#[test]
fn a_purge_wins_over_writes_that_started_before_it_on_a_redis_cluster() {
    let Some(nodes) = cluster_nodes() else {
        return;
    };
    let target = format!("cluster:{nodes}");
    let (a, b) = two_instances(
        CacheConfig::redis("c", &target, &target)
            .prefix(&unique("cluster"))
            .timeout(Duration::from_secs(1)),
    );
    on_worker(async move || {
        suite(a, b).await;
        // A purge by prefix reaches entries on every master.
        a.worker_start();
        let ca = a.at(0);
        for i in 0..30 {
            let k = format!("GET /many/{i}");
            assert!(
                set(ca, k.as_bytes(), &entry("v"), Token::Any)
                    .await
                    .expect("write")
            );
        }
        let (_, token) = get(ca, b"GET /many/0").await.expect("lookup");
        assert_eq!(ca.purge_prefix("GET /many/").await.expect("purge"), 30);
        assert_eq!(body(ca, "GET /many/7").await, None);
        assert!(
            !set(ca, b"GET /many/0", &entry("old"), token)
                .await
                .expect("write")
        );
        a.worker_stop();
    });
}

/// `REDIS_CLUSTER_NODES` when its first node answers; else skips (fails under CI).
fn cluster_nodes() -> Option<String> {
    let raw = std::env::var("REDIS_CLUSTER_NODES").unwrap_or_default();
    let first = raw.split(',').next().unwrap_or_default();
    let addr = first
        .trim()
        .trim_start_matches("redis://")
        .trim_end_matches('/');
    if !addr.is_empty() && std::net::TcpStream::connect(addr).is_ok() {
        return Some(raw);
    }
    crate::test_util::require_or_skip("REDIS_CLUSTER_NODES", "no Redis Cluster answers");
    None
}

#[test]
fn a_purge_wins_over_writes_that_started_before_it_on_memcached() {
    let Some(addr) = service("MEMCACHED_ADDR", "127.0.0.1:11211") else {
        return;
    };
    let (a, b) = two_instances(
        CacheConfig::memcached("c", &addr, &addr)
            .prefix(&unique("mc"))
            .timeout(Duration::from_secs(1)),
    );
    on_worker(async move || {
        // The driver connects in the background.
        a.worker_start();
        tokio::time::sleep(Duration::from_millis(200)).await;
        suite(a, b).await
    });
}

/// A key too long for Memcached is hashed, never refused, and cannot meet a short one.
#[test]
fn long_memcached_keys_are_hashed_to_fit() {
    let long = vec![b'q'; 400];
    let k = memcached_key(b"p:", &long);
    assert!(codec::key_fits(&k));
    assert!(k.starts_with(b"p:\xFF"));
    let mut other = long.clone();
    other[399] = b'r';
    assert_ne!(k, memcached_key(b"p:", &other));
    assert_eq!(memcached_key(b"p:", b"GET /t"), b"p:GET /t");
    let huge_prefix = vec![b'x'; 300];
    assert!(codec::key_fits(&memcached_key(&huge_prefix, b"k")));
}
