//! TTL jitter at run time, on both backends: entries filled together under `jitter: 50%`
//! (`honest_jitter`: ttl 2 s, so each entry lives between 1 s and 2 s) expire at different
//! times, some well before the TTL; without jitter (`honest_nojitter`) they all live the
//! full TTL. Every key is polled until its first `MISS`, and each observation is judged
//! against the times the client sent and received the request that filled it, so the
//! bounds hold however slow the machine is.

use std::time::{Duration, Instant};

use ember_tests::{BACKENDS, Client, Reply};

/// Keys per cache.
const KEYS: usize = 60;
/// The caches' TTL.
const TTL_MS: u128 = 2000;
/// Clock slack (the cache's clock is in whole milliseconds of wall time).
const SLACK_MS: u128 = 20;

/// One key: when its filling request was sent and answered, and what polling saw.
struct Key {
    path: String,
    sent: Instant,
    received: Instant,
    /// `(ms since the fill was answered, when the poll was sent)` of every `HIT`.
    hits: Vec<u128>,
    /// Ms between the fill's sending and the answer of the first `MISS`.
    miss: Option<u128>,
}

fn get(c: &mut Client, path: &str) -> Reply {
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    c.read_reply(false).expect("a response")
}

/// Fills `KEYS` keys under `prefix` (each must be a `MISS`).
fn fill(c: &mut Client, prefix: &str, tag: &str) -> Vec<Key> {
    (0..KEYS)
        .map(|i| {
            let path = format!("{prefix}/{tag}-{i}");
            let sent = Instant::now();
            let r = get(c, &path);
            let received = Instant::now();
            assert_eq!(
                (r.status, r.header("x-cache")),
                (200, Some("MISS")),
                "{path}"
            );
            Key {
                path,
                sent,
                received,
                hits: Vec::new(),
                miss: None,
            }
        })
        .collect()
}

/// Polls every key not yet seen expired, once.
fn poll(c: &mut Client, keys: &mut [Key]) {
    for k in keys.iter_mut().filter(|k| k.miss.is_none()) {
        let sent = Instant::now();
        let r = get(c, &k.path);
        let received = Instant::now();
        match r.header("x-cache") {
            Some("HIT") => k.hits.push((sent - k.received).as_millis()),
            Some("MISS") => k.miss = Some((received - k.sent).as_millis()),
            other => panic!("{}: x-cache {other:?}", k.path),
        }
    }
}

#[test]
fn jittered_entries_filled_together_expire_apart_and_unjittered_ones_together() {
    for backend in BACKENDS {
        let server = ember_tests::start(ember_tests::App, backend, 2);
        let mut c = Client::connect(server.local_addr());
        let tag = format!("jit-{}-{backend}", std::process::id());
        let mut jittered = fill(&mut c, "/honest/jitter", &tag);
        let mut plain = fill(&mut c, "/honest/nojitter", &tag);
        // Nothing can expire within 1 s: start polling a little before.
        let first = jittered[0].received;
        std::thread::sleep(Duration::from_millis(900).saturating_sub(first.elapsed()));
        let give_up = first + Duration::from_millis(TTL_MS as u64 + 3000);
        while jittered.iter().chain(&plain).any(|k| k.miss.is_none()) {
            assert!(
                Instant::now() < give_up,
                "{backend}: entries outlived the TTL"
            );
            poll(&mut c, &mut jittered);
            poll(&mut c, &mut plain);
            std::thread::sleep(Duration::from_millis(10));
        }

        // Every observation within [ttl/2, ttl] for the jittered cache...
        for k in &jittered {
            let miss = k.miss.unwrap_or_default();
            assert!(
                miss + SLACK_MS >= TTL_MS / 2,
                "{backend}: {} expired {miss} ms after it was filled: cut by more than the jitter",
                k.path
            );
            for hit in &k.hits {
                assert!(
                    *hit < TTL_MS + SLACK_MS,
                    "{backend}: {} still fresh {hit} ms after it was filled",
                    k.path
                );
            }
        }
        // ...and spread over it: some expired well before the TTL (impossible if jitter
        // were ignored) while others were still fresh well after half of it (impossible if
        // every TTL were cut by the same amount).
        let early = jittered
            .iter()
            .filter(|k| k.miss.is_some_and(|m| m < TTL_MS * 9 / 10))
            .count();
        let late = jittered
            .iter()
            .filter(|k| k.hits.iter().any(|h| *h > TTL_MS * 6 / 10))
            .count();
        let misses: Vec<u128> = jittered.iter().filter_map(|k| k.miss).collect();
        assert!(
            early >= 5 && late >= 5,
            "{backend}: {early} expired before 90% of the TTL, {late} fresh after 60% \
             (first misses, ms after filling: {misses:?})"
        );

        // Without jitter: every entry lives the whole TTL, and not longer.
        for k in &plain {
            let miss = k.miss.unwrap_or_default();
            assert!(
                miss + SLACK_MS >= TTL_MS,
                "{backend}: {} expired {miss} ms after it was filled, before its TTL",
                k.path
            );
            for hit in &k.hits {
                assert!(
                    *hit < TTL_MS + SLACK_MS,
                    "{backend}: {} still fresh {hit} ms after it was filled",
                    k.path
                );
            }
        }
        let fresh_late = plain
            .iter()
            .filter(|k| k.hits.iter().any(|h| *h > TTL_MS * 9 / 10))
            .count();
        assert!(
            fresh_late >= 1,
            "{backend}: only {fresh_late} unjittered entries were seen fresh after 90% of the TTL"
        );
        server.shutdown().expect("clean shutdown");
    }
}
