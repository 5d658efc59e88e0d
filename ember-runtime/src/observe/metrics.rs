//! Metrics: per-worker counters (plain cells each written by one thread only, so the hot
//! path has no contended atomics), merged when `/metrics` is scraped and encoded with
//! `prometheus-client` in the Prometheus text format.
//!
//! Every family's labels come from the spec ([`Families`]): the route templates, cache
//! names, rate limiters and models are known at build time, so a request picks its cell by
//! index, never by a string lookup.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The label values the spec fixes: the generated app's [`crate::Service::metric_families`].
#[derive(Debug)]
pub struct Families {
    /// Route templates by route id; id 0 is what no route matched.
    pub routes: &'static [&'static str],
    /// Cache names (`caches:`), by the cache's index.
    pub caches: &'static [&'static str],
    /// Rate limiters (`rate_limit` middleware declarations), by index.
    pub limiters: &'static [&'static str],
    /// Model names (`ai.models`), by index.
    pub models: &'static [&'static str],
}

/// The families of a hand-written service: one route.
pub(crate) static DEFAULT_FAMILIES: Families = Families {
    routes: &["(unmatched)"],
    caches: &[],
    limiters: &[],
    models: &[],
};

/// Methods as label values, by [`method_index`].
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];
/// Status classes as label values.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Latency bucket bounds in microseconds (the last bucket, `+Inf`, is implicit).
const BOUNDS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];
/// Buckets per route histogram (bounds and `+Inf`).
const BUCKETS: usize = BOUNDS_US.len() + 1;

/// The index of a method among [`METHODS`].
#[inline]
pub(crate) fn method_index(m: crate::Method<'_>) -> usize {
    use crate::Method::*;
    match m {
        Get => 0,
        Head => 1,
        Post => 2,
        Put => 3,
        Patch => 4,
        Delete => 5,
        Options => 6,
        _ => 7,
    }
}

/// Cache events counted per cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheEvent {
    /// Answered from the cache.
    Hit = 0,
    /// Not in the cache: the handler ran.
    Miss = 1,
    /// Answered stale (while revalidating, or because the store failed).
    Stale = 2,
    /// The cache's store failed.
    Error = 3,
}

/// AI events counted per model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AiEvent {
    /// Prompt tokens (the upstream's usage).
    TokensIn = 0,
    /// Completion tokens.
    TokensOut = 1,
    /// An upstream failed (error answer, timeout, connection error).
    UpstreamError = 2,
    /// The router moved on to a fallback upstream.
    Fallback = 3,
}

/// Offsets of each family in a worker's cell array.
#[derive(Debug, Clone, Copy)]
struct Layout {
    routes: usize,
    requests: usize,
    latency: usize,
    latency_sum: usize,
    bytes: usize,
    in_flight: usize,
    connections: usize,
    caches: usize,
    limiters: usize,
    remote: usize,
    models: usize,
    len: usize,
}

impl Layout {
    fn new(f: &Families) -> Layout {
        let routes = f.routes.len().max(1);
        let requests = 0;
        let latency = requests + routes * METHODS.len() * CLASSES.len();
        let latency_sum = latency + routes * BUCKETS;
        let bytes = latency_sum + routes;
        let in_flight = bytes + routes * 2;
        let connections = in_flight + 1;
        let caches = connections + 1;
        let limiters = caches + f.caches.len() * 4;
        let remote = limiters + f.limiters.len();
        let models = remote + 2;
        let len = models + f.models.len() * 4;
        Layout {
            routes,
            requests,
            latency,
            latency_sum,
            bytes,
            in_flight,
            connections,
            caches,
            limiters,
            remote,
            models,
            len,
        }
    }
}

/// One worker's counters. Only that worker writes them (a relaxed load and store, no
/// read-modify-write); a scrape reads them from another thread.
#[derive(Debug)]
pub(crate) struct Cells {
    v: Box<[AtomicU64]>,
    layout: Layout,
    families: &'static Families,
}

impl Cells {
    fn new(layout: Layout, families: &'static Families) -> Cells {
        Cells {
            v: (0..layout.len).map(|_| AtomicU64::new(0)).collect(),
            layout,
            families,
        }
    }

    /// Adds `n` to cell `i` (wrapping: gauges go down by adding the two's complement).
    #[inline]
    fn add(&self, i: usize, n: u64) {
        if let Some(c) = self.v.get(i) {
            c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
        }
    }

    #[inline]
    fn get(&self, i: usize) -> u64 {
        self.v.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A request starts: one more in flight.
    #[inline]
    pub(crate) fn begin(&self) {
        self.add(self.layout.in_flight, 1);
    }

    /// A request was answered.
    #[inline]
    pub(crate) fn finish(&self, r: &Finished) {
        let l = &self.layout;
        let route = r.route.min(l.routes - 1);
        let class = usize::from(r.status / 100).clamp(1, 5) - 1;
        self.add(
            l.requests + (route * METHODS.len() + r.method) * CLASSES.len() + class,
            1,
        );
        let us = r.micros;
        let bucket = BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BOUNDS_US.len());
        self.add(l.latency + route * BUCKETS + bucket, 1);
        self.add(l.latency_sum + route, us);
        self.add(l.bytes + route * 2, r.bytes_in);
        self.add(l.bytes + route * 2 + 1, r.bytes_out);
        self.add(l.in_flight, u64::MAX);
    }

    /// A connection opened (`1`) or closed (`u64::MAX`, i.e. −1).
    #[inline]
    pub(crate) fn connection(&self, delta: u64) {
        self.add(self.layout.connections, delta);
    }

    /// A cache event.
    #[inline]
    pub(crate) fn cache(&self, cache: usize, e: CacheEvent) {
        self.add(self.layout.caches + cache * 4 + e as usize, 1);
    }

    /// A rate-limit rejection.
    #[inline]
    pub(crate) fn limited(&self, limiter: usize) {
        self.add(self.layout.limiters + limiter, 1);
    }

    /// A remote store error (`fail_open`: and the request went on without it).
    #[inline]
    pub(crate) fn remote(&self, fail_open: bool) {
        self.add(self.layout.remote + usize::from(fail_open), 1);
    }

    /// An AI event of the model named `model`, `n` times (tokens).
    pub(crate) fn ai_named(&self, model: &str, e: AiEvent, n: u64) {
        if let Some(i) = self.families.models.iter().position(|m| *m == model) {
            self.add(self.layout.models + i * 4 + e as usize, n);
        }
    }
}

/// What the connection loop knows about an answered request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Finished {
    pub(crate) route: usize,
    pub(crate) method: usize,
    pub(crate) status: u16,
    pub(crate) micros: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

/// One server's metrics: every worker's cells, merged when scraped.
#[derive(Debug)]
pub(crate) struct Registry {
    families: &'static Families,
    layout: Layout,
    workers: Mutex<Vec<Arc<Cells>>>,
}

impl Registry {
    /// The registry of a server whose app declares `families`.
    pub(crate) fn new(families: &'static Families) -> Registry {
        Registry {
            families,
            layout: Layout::new(families),
            workers: Mutex::new(Vec::new()),
        }
    }

    /// A new worker's cells, registered for scrapes.
    pub(crate) fn worker(&self) -> Arc<Cells> {
        let cells = Arc::new(Cells::new(self.layout, self.families));
        if let Ok(mut w) = self.workers.lock() {
            w.push(cells.clone());
        }
        cells
    }

    /// Every worker's cell `i`, summed.
    fn sum(&self, workers: &[Arc<Cells>], i: usize) -> u64 {
        workers.iter().fold(0u64, |a, c| a.wrapping_add(c.get(i)))
    }

    /// The Prometheus text exposition (format 0.0.4) of every family.
    pub(crate) fn render(self: &Arc<Self>) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Scrape(self.clone())));
        let mut out = String::with_capacity(4096);
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# metrics could not be encoded");
        }
        out
    }
}

/// The collector a scrape registers: reads and merges the cells as it encodes.
#[derive(Debug)]
struct Scrape(Arc<Registry>);

impl prometheus_client::collector::Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = &self.0;
        let f = r.families;
        let l = &r.layout;
        let workers: Vec<Arc<Cells>> = r.workers.lock().map(|w| w.clone()).unwrap_or_default();
        let sum = |i: usize| r.sum(&workers, i);
        let route = |i: usize| f.routes.get(i).copied().unwrap_or("(unmatched)");

        let mut m = enc.encode_descriptor(
            "ember_http_requests",
            "Requests answered, by route template, method and status class.",
            None,
            MetricType::Counter,
        )?;
        for rt in 0..l.routes {
            for (mi, method) in METHODS.iter().enumerate() {
                for (ci, class) in CLASSES.iter().enumerate() {
                    let n = sum(l.requests + (rt * METHODS.len() + mi) * CLASSES.len() + ci);
                    if n == 0 {
                        continue;
                    }
                    let labels = [("route", route(rt)), ("method", method), ("status", class)];
                    ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
                }
            }
        }

        let mut m = enc.encode_descriptor(
            "ember_http_request_duration_seconds",
            "Time from a request's head being parsed to its answer being encoded, by route template.",
            None,
            MetricType::Histogram,
        )?;
        for rt in 0..l.routes {
            let counts: Vec<u64> = (0..BUCKETS)
                .map(|b| sum(l.latency + rt * BUCKETS + b))
                .collect();
            let count: u64 = counts.iter().sum();
            if count == 0 {
                continue;
            }
            // Per bucket, not cumulative: the encoder accumulates.
            let buckets: Vec<(f64, u64)> = counts
                .iter()
                .enumerate()
                .map(|(b, &n)| {
                    let bound = BOUNDS_US
                        .get(b)
                        .map_or(f64::INFINITY, |&us| us as f64 / 1e6);
                    (bound, n)
                })
                .collect();
            let secs = sum(l.latency_sum + rt) as f64 / 1e6;
            let labels = [("route", route(rt))];
            m.encode_family(&labels)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    secs, count, &buckets, None,
                )?;
        }

        for (dir, off, help) in [
            (
                "in",
                0,
                "Request bytes received (head and body), by route template.",
            ),
            (
                "out",
                1,
                "Response bytes sent (head and body as encoded; a streamed body's chunks not counted), by route template.",
            ),
        ] {
            let name = format!("ember_http_{dir}_bytes");
            let mut m = enc.encode_descriptor(&name, help, None, MetricType::Counter)?;
            for rt in 0..l.routes {
                let n = sum(l.bytes + rt * 2 + off);
                if n == 0 {
                    continue;
                }
                ConstCounter::new(n).encode(m.encode_family(&[("route", route(rt))])?)?;
            }
        }

        let m = enc.encode_descriptor(
            "ember_http_requests_in_flight",
            "Requests being handled now.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(sum(l.in_flight) as i64).encode(m)?;

        let mut m = enc.encode_descriptor(
            "ember_open_connections",
            "Open client connections, by worker.",
            None,
            MetricType::Gauge,
        )?;
        for (w, c) in workers.iter().enumerate() {
            let worker = w.to_string();
            let labels = [("worker", worker.as_str())];
            ConstGauge::new(c.get(l.connections) as i64).encode(m.encode_family(&labels)?)?;
        }

        if !f.caches.is_empty() {
            let mut m = enc.encode_descriptor(
                "ember_cache_events",
                "Response-cache lookups by outcome (hit, miss, stale, error), by cache.",
                None,
                MetricType::Counter,
            )?;
            for (ci, name) in f.caches.iter().enumerate() {
                for (e, what) in ["hit", "miss", "stale", "error"].iter().enumerate() {
                    let labels = [("cache", *name), ("event", what)];
                    ConstCounter::new(sum(l.caches + ci * 4 + e))
                        .encode(m.encode_family(&labels)?)?;
                }
            }
        }
        if !f.limiters.is_empty() {
            let mut m = enc.encode_descriptor(
                "ember_rate_limit_rejections",
                "Requests rejected by a rate limiter (429), by limiter.",
                None,
                MetricType::Counter,
            )?;
            for (li, name) in f.limiters.iter().enumerate() {
                if name.is_empty() {
                    continue;
                }
                ConstCounter::new(sum(l.limiters + li))
                    .encode(m.encode_family(&[("limiter", *name)])?)?;
            }
        }
        for (off, name, help) in [
            (
                0,
                "ember_remote_store_errors",
                "Operations on a remote store (Redis, Memcached) that failed.",
            ),
            (
                1,
                "ember_remote_store_fail_open",
                "Requests served without a remote store that failed (fail-open).",
            ),
        ] {
            let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(sum(l.remote + off)).encode(m)?;
        }
        if !f.models.is_empty() {
            for (e, name, help) in [
                (
                    0,
                    "ember_ai_prompt_tokens",
                    "Prompt tokens reported by upstreams, by model.",
                ),
                (
                    1,
                    "ember_ai_completion_tokens",
                    "Completion tokens reported by upstreams, by model.",
                ),
                (
                    2,
                    "ember_ai_upstream_errors",
                    "Upstream calls that failed, by model.",
                ),
                (
                    3,
                    "ember_ai_fallbacks",
                    "Calls moved on to a fallback upstream, by model.",
                ),
            ] {
                let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
                for (mi, model) in f.models.iter().enumerate() {
                    ConstCounter::new(sum(l.models + mi * 4 + e))
                        .encode(m.encode_family(&[("model", *model)])?)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static F: Families = Families {
        routes: &["(unmatched)", "/a/{id}"],
        caches: &["c"],
        limiters: &["api"],
        models: &[],
    };

    #[test]
    fn workers_are_merged_and_rendered() {
        let r = Arc::new(Registry::new(&F));
        let (a, b) = (r.worker(), r.worker());
        for (c, status) in [(&a, 200), (&b, 200), (&b, 404)] {
            c.begin();
            c.finish(&Finished {
                route: 1,
                method: 0,
                status,
                micros: 700,
                bytes_in: 10,
                bytes_out: 20,
            });
        }
        a.cache(0, CacheEvent::Hit);
        b.limited(0);
        let text = r.render();
        for want in [
            "ember_http_requests_total{route=\"/a/{id}\",method=\"GET\",status=\"2xx\"} 2",
            "ember_http_requests_total{route=\"/a/{id}\",method=\"GET\",status=\"4xx\"} 1",
            "ember_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"0.0005\"} 0",
            "ember_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"0.001\"} 3",
            "ember_http_request_duration_seconds_count{route=\"/a/{id}\"} 3",
            "ember_http_in_bytes_total{route=\"/a/{id}\"} 30",
            "ember_http_requests_in_flight 0",
            "ember_cache_events_total{cache=\"c\",event=\"hit\"} 1",
            "ember_rate_limit_rejections_total{limiter=\"api\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
    }
}
