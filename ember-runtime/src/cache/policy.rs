//! [`Policy`]: how one route's responses are cached (a constant the generator writes per
//! route), and the TTL jitter it applies.

use std::time::Duration;

use super::entry::now_ms;

/// How a route's responses are cached: compiled in by the generator from the spec
/// (`caches.NAME` and the route's `cache:`), a constant per route.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub(super) cache: usize,
    ttl_ms: u64,
    swr_ms: u64,
    jitter: Jitter,
    pub(super) query: Query,
    pub(super) vary: &'static [&'static str],
    pub(super) statuses: &'static [u16],
    pub(super) header: Option<&'static str>,
    /// scale (issue 18): how long a Redis miss's single-flight lease lasts, which is also
    /// the longest another instance waits for its answer.
    pub(super) lease_ms: u64,
}

/// The default single-flight lease (below the default handler timeout).
pub(super) const LEASE_MS: u64 = 5000;

#[derive(Debug, Clone, Copy)]
enum Jitter {
    None,
    Millis(u64),
    Percent(u8),
}

/// Which query parameters enter a key.
#[derive(Debug, Clone, Copy)]
pub(super) enum Query {
    All,
    None,
    Only(&'static [&'static str]),
}

impl Policy {
    /// Caching in cache number `cache` of the app's [`Caches`], with the defaults: a one
    /// second TTL, the whole query in the key, only `200` cached, `X-Cache` on.
    pub const fn new(cache: usize) -> Self {
        Policy {
            cache,
            ttl_ms: 1000,
            swr_ms: 0,
            jitter: Jitter::None,
            query: Query::All,
            vary: &[],
            statuses: &[200],
            header: Some("X-Cache"),
            lease_ms: LEASE_MS,
        }
    }

    /// How long an entry is fresh.
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl_ms = ttl.as_millis() as u64;
        self
    }

    /// Entries never expire (the spec's `static: true`).
    pub const fn no_expiry(mut self) -> Self {
        self.ttl_ms = u64::MAX;
        self
    }

    /// How long past its TTL an entry is still answered while one refresh runs.
    pub const fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.swr_ms = window.as_millis() as u64;
        self
    }

    /// Shortens each entry's TTL by a random amount up to `jitter`.
    pub const fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Jitter::Millis(jitter.as_millis() as u64);
        self
    }

    /// Shortens each entry's TTL by a random amount up to `percent` % of it.
    pub const fn jitter_percent(mut self, percent: u8) -> Self {
        self.jitter = Jitter::Percent(percent);
        self
    }

    /// Leaves the query out of the key.
    pub const fn query_none(mut self) -> Self {
        self.query = Query::None;
        self
    }

    /// Keeps only these query parameters in the key (in this order).
    pub const fn query_only(mut self, names: &'static [&'static str]) -> Self {
        self.query = Query::Only(names);
        self
    }

    /// Adds these request headers (lower-case names) to the key.
    pub const fn vary(mut self, headers: &'static [&'static str]) -> Self {
        self.vary = headers;
        self
    }

    /// The statuses that are cached (default: `200` only).
    pub const fn statuses(mut self, statuses: &'static [u16]) -> Self {
        self.statuses = statuses;
        self
    }

    /// The name of the header that says `HIT`, `MISS`, `STALE` or `BYPASS`; `None` for none.
    pub const fn header(mut self, name: Option<&'static str>) -> Self {
        self.header = name;
        self
    }

    /// How long a Redis miss's cross-instance single-flight lease lasts, and so the
    /// longest another instance waits for the answer before running the handler itself
    /// (default 5 s; the generator sets it to the route's handler timeout when shorter).
    pub const fn lease(mut self, lease: Duration) -> Self {
        self.lease_ms = lease.as_millis() as u64;
        self
    }

    pub(super) fn varies_on(&self, header: &str) -> bool {
        self.vary.iter().any(|v| v.eq_ignore_ascii_case(header))
    }

    /// Fresh-until and stale-until for an entry made now.
    pub(super) fn deadlines(&self, now: u64) -> (u64, u64) {
        if self.ttl_ms == u64::MAX {
            return (u64::MAX, u64::MAX);
        }
        let cut = match self.jitter {
            Jitter::None => 0,
            Jitter::Millis(j) => random_below(j.min(self.ttl_ms.saturating_sub(1)) + 1),
            Jitter::Percent(p) => random_below(self.ttl_ms * u64::from(p.min(99)) / 100 + 1),
        };
        let fresh = now.saturating_add(self.ttl_ms - cut);
        (fresh, fresh.saturating_add(self.swr_ms))
    }
}

/// A cheap per-thread random number below `n` (for TTL jitter).
fn random_below(n: u64) -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let local = 0u8;
            now_ms() ^ (std::ptr::from_ref(&local) as u64).rotate_left(32) | 1
        });
    }
    if n <= 1 {
        return 0;
    }
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    })
}
