//! Strategies: in which order a model's upstreams are tried for one request. Upstreams
//! cooling down are left out; the rest are all fallbacks, in the strategy's order.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::spec::{ModelSpec, Strategy};
use super::upstream::Upstream;

/// The upstreams to try, best first (indices into the model's upstreams), or — when every
/// upstream is cooling down — how long until the first cooldown ends.
pub(crate) fn plan(
    spec: &ModelSpec,
    upstreams: &[Upstream],
    now: u64,
) -> Result<Vec<usize>, Duration> {
    let mut order: Vec<usize> = Vec::with_capacity(upstreams.len());
    let mut soonest: Option<Duration> = None;
    for (i, up) in upstreams.iter().enumerate() {
        match up.health.cooling(now) {
            Some(left) => soonest = Some(soonest.map_or(left, |s| s.min(left))),
            None => order.push(i),
        }
    }
    if order.is_empty() {
        return Err(soonest.unwrap_or(Duration::from_secs(1)));
    }
    match spec.strategy {
        Strategy::Fallback => {}
        Strategy::Cost => {
            // Stable: equal prices keep declared order.
            order.sort_by(|&a, &b| price(&upstreams[a]).total_cmp(&price(&upstreams[b])));
        }
        Strategy::Latency => {
            // Unmeasured first (so every upstream gets measured), then by mean TTFT.
            let window = spec.latency_window;
            order.sort_by_key(|&i| upstreams[i].health.ttft(window, now).unwrap_or_default());
        }
        Strategy::Weighted => weighted_shuffle(&mut order, |i| upstreams[i].spec.weight),
    }
    Ok(order)
}

/// Declared input + output price per 1M tokens.
fn price(up: &Upstream) -> f64 {
    up.spec.cost_input + up.spec.cost_output
}

/// Orders `items` by repeated draws weighted by `weight` (a weight of 0 counts as 1): the
/// first is chosen with probability weight / total, and so on for the rest.
fn weighted_shuffle(items: &mut [usize], weight: impl Fn(usize) -> u32) {
    for start in 0..items.len().saturating_sub(1) {
        let rest = &mut items[start..];
        let total: u64 = rest.iter().map(|&i| u64::from(weight(i).max(1))).sum();
        let mut pick = random() % total;
        let mut chosen = 0;
        for (k, &i) in rest.iter().enumerate() {
            let w = u64::from(weight(i).max(1));
            if pick < w {
                chosen = k;
                break;
            }
            pick -= w;
        }
        rest.swap(0, chosen);
    }
}

/// A per-thread xorshift generator, seeded from the OS's hash keys: enough for load spreading.
fn random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

#[cfg(test)]
mod tests {
    use super::super::spec::{Cooldown, Retries, UpstreamSpec};
    use super::*;

    const fn up(name: &'static str, cost: f64, weight: u32) -> UpstreamSpec {
        UpstreamSpec {
            name,
            base_url: Some("http://127.0.0.1:1/v1"),
            base_url_env: None,
            model: name,
            api_key_env: None,
            timeout: Duration::from_secs(1),
            cost_input: cost,
            cost_output: cost * 2.0,
            weight,
        }
    }

    static UPS: [UpstreamSpec; 3] = [up("a", 3.0, 1), up("b", 1.0, 3), up("c", 2.0, 6)];

    fn model(strategy: Strategy) -> ModelSpec {
        ModelSpec {
            name: "m",
            strategy,
            retries: Retries::DEFAULT,
            cooldown: Cooldown::DEFAULT,
            latency_window: Duration::from_secs(60),
            upstreams: &UPS,
        }
    }

    fn resolved() -> Vec<Upstream> {
        UPS.iter().map(Upstream::resolve).collect()
    }

    #[test]
    fn fallback_keeps_declared_order_and_skips_cooling() {
        let ups = resolved();
        let spec = model(Strategy::Fallback);
        assert_eq!(plan(&spec, &ups, 10), Ok(vec![0, 1, 2]));
        let cd = Cooldown {
            failures: 1,
            period: Duration::from_secs(5),
        };
        ups[0].health.record_failure(cd, 10);
        assert_eq!(plan(&spec, &ups, 10), Ok(vec![1, 2]));
        ups[1].health.record_failure(cd, 11);
        ups[2].health.record_failure(cd, 12);
        // All cooling: the wait is until the first one ends.
        assert_eq!(plan(&spec, &ups, 12), Err(Duration::from_millis(4998)));
        assert_eq!(plan(&spec, &ups, 5010), Ok(vec![0]));
    }

    #[test]
    fn cost_orders_by_declared_price() {
        let ups = resolved();
        assert_eq!(plan(&model(Strategy::Cost), &ups, 1), Ok(vec![1, 2, 0]));
    }

    #[test]
    fn latency_tries_unmeasured_first_then_the_fastest() {
        let ups = resolved();
        let spec = model(Strategy::Latency);
        ups[0]
            .health
            .record_success(Some(Duration::from_millis(50)), 100);
        ups[1]
            .health
            .record_success(Some(Duration::from_millis(5)), 100);
        assert_eq!(plan(&spec, &ups, 100), Ok(vec![2, 1, 0]));
        ups[2]
            .health
            .record_success(Some(Duration::from_millis(20)), 100);
        assert_eq!(plan(&spec, &ups, 100), Ok(vec![1, 2, 0]));
        // Samples out of the window no longer count: all unmeasured, declared order.
        assert_eq!(plan(&spec, &ups, 100_000), Ok(vec![0, 1, 2]));
    }

    #[test]
    fn weighted_picks_by_weight() {
        let ups = resolved();
        let spec = model(Strategy::Weighted);
        let mut first = [0u32; 3];
        for _ in 0..10_000 {
            let order = plan(&spec, &ups, 1).expect("healthy");
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2], "every upstream stays a fallback");
            first[order[0]] += 1;
        }
        // Expected 1000 / 3000 / 6000; wide margins, still failing for a uniform pick.
        assert!((700..1400).contains(&first[0]), "{first:?}");
        assert!((2500..3500).contains(&first[1]), "{first:?}");
        assert!((5400..6600).contains(&first[2]), "{first:?}");
    }
}
