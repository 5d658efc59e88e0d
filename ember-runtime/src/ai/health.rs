//! Per-upstream health, shared by every worker: consecutive failures, the end of a cooldown,
//! and recent time-to-first-token samples. Plain atomics, no lock on the request path.
//!
//! Times are milliseconds since the process's first use of this module ([`now_ms`]), so
//! they fit an `AtomicU64` and `0` can mean "never".

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::spec::Cooldown;

/// How many TTFT samples an upstream keeps (the newest replace the oldest).
const SAMPLES: usize = 32;
/// Bits of a sample that hold the TTFT in microseconds (the rest: when, in ms).
const TTFT_BITS: u32 = 24;
const TTFT_MAX_US: u64 = (1 << TTFT_BITS) - 1;

/// Milliseconds since this process first asked (≥ 1, so `0` can mean "never").
pub(crate) fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_millis() as u64 + 1
}

/// The health of one upstream.
#[derive(Debug)]
pub(crate) struct Health {
    /// Failures since the last success (or since the last cooldown began).
    failures: AtomicU32,
    /// When the current cooldown ends (`now_ms` scale); 0 or past: not cooling.
    cooling_until: AtomicU64,
    /// TTFT samples: `at_ms << 24 | ttft_us`; 0 = empty.
    samples: [AtomicU64; SAMPLES],
    /// Where the next sample goes.
    next: AtomicUsize,
    /// When a failure was last logged at warn (rate limit for logs).
    last_warn: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            failures: AtomicU32::new(0),
            cooling_until: AtomicU64::new(0),
            samples: std::array::from_fn(|_| AtomicU64::new(0)),
            next: AtomicUsize::new(0),
            last_warn: AtomicU64::new(0),
        }
    }
}

impl Health {
    /// How long the upstream stays skipped, if it is cooling down at `now`.
    pub(crate) fn cooling(&self, now: u64) -> Option<Duration> {
        let until = self.cooling_until.load(Relaxed);
        (until > now).then(|| Duration::from_millis(until - now))
    }

    /// Counts a failure; returns whether it started a cooldown.
    pub(crate) fn record_failure(&self, cooldown: Cooldown, now: u64) -> bool {
        let n = self.failures.fetch_add(1, Relaxed).saturating_add(1);
        if cooldown.failures == 0 || n < cooldown.failures {
            return false;
        }
        // Only the worker that reset the count starts the cooldown: one log line per trip.
        if self
            .failures
            .compare_exchange(n, 0, Relaxed, Relaxed)
            .is_err()
        {
            return false;
        }
        let until = now.saturating_add(cooldown.period.as_millis() as u64);
        self.cooling_until.fetch_max(until, Relaxed);
        true
    }

    /// Counts a success: the failure count starts over, and `ttft` (if measured) becomes a
    /// sample for the latency strategy.
    pub(crate) fn record_success(&self, ttft: Option<Duration>, now: u64) {
        if self.failures.load(Relaxed) != 0 {
            self.failures.store(0, Relaxed);
        }
        if let Some(ttft) = ttft {
            let us = (ttft.as_micros() as u64).clamp(1, TTFT_MAX_US);
            let slot = self.next.fetch_add(1, Relaxed) % SAMPLES;
            self.samples[slot].store(now << TTFT_BITS | us, Relaxed);
        }
    }

    /// The mean TTFT of the samples taken within `window` before `now`, if any.
    pub(crate) fn ttft(&self, window: Duration, now: u64) -> Option<Duration> {
        let oldest = now.saturating_sub(window.as_millis() as u64);
        let (mut sum, mut n) = (0u64, 0u64);
        for s in &self.samples {
            let s = s.load(Relaxed);
            if s != 0 && s >> TTFT_BITS >= oldest {
                sum += s & TTFT_MAX_US;
                n += 1;
            }
        }
        (n > 0).then(|| Duration::from_micros(sum / n))
    }

    /// Whether to log a failure of this upstream at warn now: at most once per `every`.
    pub(crate) fn should_warn(&self, every: Duration, now: u64) -> bool {
        let last = self.last_warn.load(Relaxed);
        if last != 0 && now < last.saturating_add(every.as_millis() as u64) {
            return false;
        }
        self.last_warn
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CD: Cooldown = Cooldown {
        failures: 2,
        period: Duration::from_secs(5),
    };

    #[test]
    fn cooldown_after_n_consecutive_failures_for_its_period() {
        let h = Health::default();
        assert!(!h.record_failure(CD, 1000));
        assert_eq!(h.cooling(1000), None);
        assert!(h.record_failure(CD, 1000));
        assert_eq!(h.cooling(1000), Some(Duration::from_secs(5)));
        assert_eq!(h.cooling(5999), Some(Duration::from_millis(1)));
        assert_eq!(h.cooling(6000), None);
        // The count started over: one more failure does not cool it again.
        assert!(!h.record_failure(CD, 6001));
        assert_eq!(h.cooling(6001), None);
    }

    #[test]
    fn a_success_resets_the_count() {
        let h = Health::default();
        h.record_failure(CD, 10);
        h.record_success(None, 11);
        assert!(!h.record_failure(CD, 12));
        assert_eq!(h.cooling(12), None);
        let never = Cooldown { failures: 0, ..CD };
        for _ in 0..10 {
            assert!(!h.record_failure(never, 13));
        }
    }

    #[test]
    fn ttft_is_the_mean_within_the_window() {
        let h = Health::default();
        assert_eq!(h.ttft(Duration::from_secs(60), 100), None);
        h.record_success(Some(Duration::from_millis(10)), 1_000);
        h.record_success(Some(Duration::from_millis(30)), 50_000);
        let w = Duration::from_secs(60);
        assert_eq!(h.ttft(w, 50_000), Some(Duration::from_millis(20)));
        // The first sample leaves the window.
        assert_eq!(h.ttft(w, 61_001 + 1), Some(Duration::from_millis(30)));
        assert_eq!(h.ttft(w, 200_000), None);
        // Huge TTFTs are clamped, not wrapped into the timestamp.
        h.record_success(Some(Duration::from_secs(3600)), 200_000);
        assert!(h.ttft(w, 200_000).expect("sample") >= Duration::from_secs(16));
    }

    #[test]
    fn the_ring_keeps_the_newest_samples() {
        let h = Health::default();
        for i in 0..SAMPLES as u64 {
            h.record_success(Some(Duration::from_millis(100)), 1 + i);
        }
        for i in 0..SAMPLES as u64 {
            h.record_success(Some(Duration::from_millis(1)), 100 + i);
        }
        let mean = h.ttft(Duration::from_secs(60), 200).expect("samples");
        assert_eq!(mean, Duration::from_millis(1));
    }

    #[test]
    fn warnings_are_rate_limited() {
        let h = Health::default();
        let every = Duration::from_secs(1);
        assert!(h.should_warn(every, 5));
        assert!(!h.should_warn(every, 500));
        assert!(h.should_warn(every, 1005));
    }
}
