//! Remote stores fail open fast, whatever the failure (issue 11, point 2): with a Redis or
//! Memcached that accepts connections and never answers (a "black hole" this test binds
//! itself on a fixed port the spec names), or whose port refuses connections, every
//! request on a Redis-cached, Memcached-cached or Redis-rate-limited route is answered,
//! without a 5xx, within the store's timeout (100 ms) plus 50 ms; and after one timeout
//! the store is skipped by the whole process for a backoff period (1 s), so at most one
//! request per period waits.
//!
//! The fixed ports (29311-29316, named in tests/ember.yaml, where `${VAR}` cannot help:
//! the test picks them, not the environment) lie below Linux's ephemeral range
//! (32768-60999), so an outgoing connection never holds them.

use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ember_tests::{BACKENDS, Client, start};

/// The routes' store timeout (`timeout: 100ms` in tests/ember.yaml).
const TIMEOUT: Duration = Duration::from_millis(100);
/// What a request may take at most.
const BUDGET: Duration = Duration::from_millis(150);
/// A request at least this slow waited for the store (a skipped store answers in a few
/// milliseconds).
const WAITED: Duration = Duration::from_millis(80);
/// The registry's backoff period.
const BACKOFF: Duration = Duration::from_secs(1);

/// Binds 127.0.0.1:`port` and holds every connection it accepts, answering nothing.
fn black_hole(port: u16) {
    if let Err(e) = ember_runtime::test_util::black_hole(&format!("127.0.0.1:{port}")) {
        panic!(
            "this test binds its own black hole on 127.0.0.1:{port} (named in tests/ember.yaml), \
             but the port is taken: {e}"
        )
    }
}

/// Checks that nothing listens on 127.0.0.1:`port`.
fn refused(port: u16) {
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "this test needs 127.0.0.1:{port} (named in tests/ember.yaml) to refuse connections, \
         but something listens there"
    );
}

/// One timing test at a time: they measure tens of milliseconds, and each runs servers.
static SERIAL: Mutex<()> = Mutex::new(());

/// Sends 30 requests (each on a new connection, so both workers serve some) to
/// `path(i)`, on each backend, and checks the timing rules above.
fn all_fast(what: &str, path: impl Fn(&str, usize) -> String, may_wait: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    for (n, b) in BACKENDS.into_iter().enumerate() {
        if n > 0 {
            // The store's backoff is process-wide: let the previous pass's expire, so
            // this backend meets the failure itself.
            std::thread::sleep(BACKOFF + Duration::from_millis(200));
        }
        let server = start(ember_tests::App, b, 2);
        let addr = server.local_addr();
        // Warm the server up (first connections, lazy statics) outside the measure.
        for _ in 0..4 {
            assert_eq!(Client::connect(addr).get("/plaintext").status, 200);
        }
        let run = format!(
            "{}-{}-{}",
            b.as_str(),
            std::process::id(),
            what.replace(' ', "-")
        );
        let start = Instant::now();
        let mut waited = 0u32;
        let mut times = Vec::new();
        for i in 0..30 {
            let mut c = Client::connect(addr);
            let t = Instant::now();
            let r = c.get(&path(&run, i));
            let took = t.elapsed();
            assert_eq!(r.status, 200, "{b} {what} #{i}: {}", r.text());
            assert!(
                took <= BUDGET,
                "{b} {what} #{i}: answered in {took:?}, over {TIMEOUT:?} + 50 ms"
            );
            times.push(took);
            if took >= WAITED {
                waited += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let periods = (start.elapsed().as_millis() / BACKOFF.as_millis()) as u32 + 1;
        times.sort();
        eprintln!(
            "{b} {what}: max {:?}, median {:?}, {waited} of 30 waited for the store",
            times[29], times[15]
        );
        if may_wait {
            assert!(
                waited >= 1,
                "{b} {what}: the first request meets the store's timeout"
            );
            assert!(
                waited <= periods + 1,
                "{b} {what}: {waited} requests waited for the store in {periods} backoff \
                 periods: the store is not skipped after a timeout"
            );
        } else {
            assert_eq!(waited, 0, "{b} {what}: a refused connection costs no wait");
        }
    }
}

#[test]
fn a_black_hole_redis_cache_costs_one_timeout_per_backoff() {
    black_hole(29311);
    all_fast(
        "redis cache hole",
        |run, i| format!("/rm/hole/redis/{run}-{i}"),
        true,
    );
}

#[test]
fn a_black_hole_memcached_cache_costs_one_timeout_per_backoff() {
    black_hole(29312);
    all_fast(
        "memcached cache hole",
        |run, i| format!("/rm/hole/memcached/{run}-{i}"),
        true,
    );
}

#[test]
fn a_black_hole_redis_limiter_allows_within_its_timeout() {
    black_hole(29313);
    all_fast("redis limiter hole", |_, _| "/rm/rl/hole".to_owned(), true);
}

#[test]
fn a_refused_redis_cache_is_skipped_at_once() {
    refused(29314);
    all_fast(
        "redis cache refused",
        |run, i| format!("/rm/refused/redis/{run}-{i}"),
        false,
    );
}

#[test]
fn a_refused_memcached_cache_is_skipped_at_once() {
    refused(29315);
    all_fast(
        "memcached cache refused",
        |run, i| format!("/rm/refused/memcached/{run}-{i}"),
        false,
    );
}

#[test]
fn a_refused_redis_limiter_allows_at_once() {
    refused(29316);
    all_fast(
        "redis limiter refused",
        |_, _| "/rm/rl/refused".to_owned(),
        false,
    );
}
