//! Criterion: one iteration looks up every request path of a route set (all 130 of the
//! GitHub API set); throughput is in lookups, and `cargo run --release --example report`
//! turns criterion's estimates into ns per lookup and ratios to matchit.
//!
//! Groups: `github` (Ember's default, each forced strategy, matchit, path-tree), and
//! `wide`, `deep-static` and `many-static`, synthetic sets that show where the
//! perfect-hash tables win or lose against `match` (see `data/README.md`). Run one group
//! with `cargo bench --bench router -- github/`.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use ember_router_bench::{deep_static, github, many_static, to_path_tree, wide};

macro_rules! bench_ember {
    ($group:expr, $name:literal, $set:ident :: $m:ident, $paths:expr) => {{
        use $set::$m::__ember_router::{N, find};
        $group.bench_function($name, |b| {
            // The caller's parameter array is reused: `find` writes the matched route's
            // parameters, and `black_box(&p)` keeps every write observable.
            let mut p = [""; N];
            b.iter(|| {
                for path in black_box($paths) {
                    let e = find(path, &mut p);
                    black_box(&p);
                    black_box(e);
                }
            })
        });
    }};
}

/// matchit and path-tree on the same routes and paths.
fn peers(g: &mut BenchmarkGroup<'_, WallTime>, routes: &[&str], paths: &[&str]) {
    let mut mi = matchit::Router::new();
    let mut pt = path_tree::PathTree::new();
    for (i, r) in routes.iter().enumerate() {
        mi.insert(*r, i).expect("matchit insert");
        let _ = pt.insert(&to_path_tree(r), i);
    }
    g.bench_function("matchit", |b| {
        b.iter(|| {
            for path in black_box(paths) {
                black_box(mi.at(path).ok());
            }
        })
    });
    g.bench_function("path-tree", |b| {
        b.iter(|| {
            for path in black_box(paths) {
                black_box(pt.find(path));
            }
        })
    });
}

macro_rules! group {
    ($fn:ident, $name:literal, $set:ident) => {
        fn $fn(c: &mut Criterion) {
            let routes = $set::routes();
            let paths = $set::paths();
            let mut g = c.benchmark_group($name);
            g.throughput(Throughput::Elements(paths.len() as u64));
            bench_ember!(g, "ember", $set::auto, &paths);
            bench_ember!(g, "ember-match", $set::match_, &paths);
            bench_ember!(g, "ember-whole-path", $set::whole_path, &paths);
            peers(&mut g, &routes, &paths);
            g.finish();
        }
    };
}

group!(bench_github, "github", github);
group!(bench_wide, "wide", wide);
group!(bench_deep_static, "deep-static", deep_static);
group!(bench_many_static, "many-static", many_static);

criterion_group!(
    benches,
    bench_github,
    bench_wide,
    bench_deep_static,
    bench_many_static
);
criterion_main!(benches);
