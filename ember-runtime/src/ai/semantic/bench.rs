//! The lookup-latency benchmark (issue 14, point 6), run by `bench/ai/semantic.sh`:
//!
//! ```text
//! cargo test -p ember-runtime --release --lib ai::semantic::bench -- --ignored --nocapture
//! ```
//! Fills one scope with N entries (embedded-embedder vectors of distinct synthetic
//! prompts), then times lookups — the embedding of the prompt and the scan — for prompts
//! that hit and prompts that miss, one after the other on one thread (as a worker runs
//! them). Prints one JSON line per N.

use std::sync::Arc;
use std::time::Instant;

use super::Stored;
use super::embed::{DIMS, Hashed};
use super::index::Index;

const WORDS: &[&str] = &[
    "rust", "python", "capital", "france", "hash", "map", "tree", "bread", "coffee", "river",
    "engine", "battery", "planet", "orbit", "tax", "invoice", "garden", "tomato", "violin",
    "chess", "opening", "kernel", "thread", "mutex", "cloud", "storage", "recipe", "soup",
    "history", "empire", "market", "bond", "yield", "vector", "matrix", "protein", "enzyme",
    "weather", "storm", "mountain", "trail", "camera", "lens", "poem", "sonnet", "train", "ticket",
    "museum", "painting", "bicycle",
];

/// A distinct synthetic prompt for `i` (six words picked from `i`'s digits in base 50).
fn prompt(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i;
    let mut words = vec!["explain"];
    for _ in 0..6 {
        words.push(WORDS[(x % WORDS.len() as u64) as usize]);
        x /= WORDS.len() as u64;
    }
    format!("{} #{i}", words.join(" "))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn lookup_latency() {
    let sizes: Vec<usize> = std::env::var("SEM_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    for n in sizes {
        let ix = Index::new(DIMS, u64::MAX / 4, n);
        let t = Instant::now();
        for i in 0..n as u64 {
            let v = Hashed.vector(&prompt(i));
            let answer = Arc::new(Stored {
                content: format!("answer {i}"),
                ..Stored::default()
            });
            ix.insert(1, i, 1, &v, answer, 1);
        }
        let fill_s = t.elapsed().as_secs_f64();
        let mut hit_us = Vec::new();
        let mut miss_us = Vec::new();
        let mut embed_us = Vec::new();
        let (mut hits, mut misses) = (0, 0);
        for q in 0..1000u64 {
            // Even: a stored prompt, lowercased (a hit); odd: one never stored (a miss).
            let text = if q % 2 == 0 {
                prompt(q * 7 % n as u64).to_uppercase()
            } else {
                prompt(n as u64 + q)
            };
            let t = Instant::now();
            let v = Hashed.vector(&text);
            let e = t.elapsed();
            let found = rt.block_on(ix.search(1, &v, 0.92, 2));
            let us = t.elapsed().as_secs_f64() * 1e6;
            embed_us.push(e.as_secs_f64() * 1e6);
            if q % 2 == 0 {
                hits += usize::from(found.is_some());
                hit_us.push(us);
            } else {
                misses += usize::from(found.is_none());
                miss_us.push(us);
            }
        }
        for v in [&mut hit_us, &mut miss_us, &mut embed_us] {
            v.sort_by(f64::total_cmp);
        }
        println!(
            "{{\"bench\":\"semantic_lookup\",\"entries\":{n},\"dims\":{DIMS},\"fill_s\":{fill_s:.2},\
             \"hit_p50_us\":{:.0},\"hit_p99_us\":{:.0},\"miss_p50_us\":{:.0},\"miss_p99_us\":{:.0},\
             \"embed_p50_us\":{:.1},\"hits\":\"{hits}/500\",\"true_misses\":\"{misses}/500\"}}",
            pct(&hit_us, 0.5),
            pct(&hit_us, 0.99),
            pct(&miss_us, 0.5),
            pct(&miss_us, 0.99),
            pct(&embed_us, 0.5),
        );
    }
}
