//! The remote caches on a hanging backend.

use std::time::{Duration, Instant};

use super::*;
use crate::cache::{CacheConfig, Caches};

/// Runs `f` on a fresh worker-like thread: its own current-thread runtime and
/// `LocalSet`, with the caches' per-worker connections made first.
fn on_worker<T: Send + 'static>(
    caches: &'static Caches,
    f: impl AsyncFnOnce(&'static Caches) -> T + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        tokio::task::LocalSet::new().block_on(&rt, async move {
            caches.worker_start();
            let out = f(caches).await;
            caches.worker_stop();
            out
        })
    })
    .join()
    .expect("the worker thread")
}

/// A backend that accepts connections and never answers costs one timeout for the
/// whole process: the next worker to ask skips it at once instead of waiting too.
#[test]
fn a_hanging_backend_is_skipped_by_every_worker_after_one_timeout() {
    let addr = crate::test_util::black_hole("127.0.0.1:0").expect("bind a black hole");
    let url = format!("redis://{addr}");
    let caches: &'static Caches = Box::leak(Box::new(Caches::new(vec![
        CacheConfig::redis("hanging", &url, &url).timeout(Duration::from_millis(150)),
    ])));
    let ask = async |caches: &'static Caches| {
        let cache = caches.get("hanging").expect("declared");
        let t = Instant::now();
        let r = get(cache, b"key").await;
        (r.is_err(), t.elapsed())
    };
    let (failed, first) = on_worker(caches, ask);
    assert!(failed, "a backend that never answers fails");
    assert!(
        first >= Duration::from_millis(140),
        "the first ask waits: {first:?}"
    );
    let (failed, second) = on_worker(caches, ask);
    assert!(failed, "still failing");
    assert!(
        second < Duration::from_millis(50),
        "another worker skips the backend at once, took {second:?}"
    );
    let ep = endpoint(caches.get("hanging").expect("declared")).expect("an endpoint");
    assert_eq!(
        ep.warnings(),
        1,
        "one warning for the outage, not one per request"
    );
}
