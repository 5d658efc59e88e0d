//! Instruction counts and quick timings, outside criterion.
//!
//! `count ROUTER [ITERS [FILTER]]` looks up the paths `ITERS` times with one router,
//! inside a non-inlined `run_*` function, so that callgrind can count just that:
//!
//! ```text
//! cargo build --release --example count
//! valgrind --tool=callgrind --toggle-collect='count::run_*' \
//!     target/release/examples/count ember 200
//! ```
//!
//! Instructions per lookup = the `Ir` total / the lookups it prints; `scripts/count.sh`
//! does this for every router. `ROUTER` is `ember`, `ember-match`,
//! `ember-whole-path`, `matchit` or `path-tree`, optionally followed
//! by `@wide`, `@deep-static` or `@many-static` for another route set. `FILTER` keeps only some paths:
//! `static` (those of fully static routes), `param` (the others), `=PATH` (that one), or
//! any other text (the paths that contain it).
//!
//! `count time ROUTER,ROUTER,… [ROUNDS]` prints the best of ROUNDS interleaved rounds of
//! 2000 iterations for each: a quick, noise-resistant timing (criterion gives the
//! published numbers).

use std::hint::black_box;

use ember_router_bench::{deep_static, github, many_static, to_path_tree, wide};

macro_rules! run_ember {
    ($fn:ident, $set:ident :: $m:ident) => {
        #[inline(never)]
        fn $fn(paths: &[&str], iters: usize) -> usize {
            use $set::$m::__ember_router::{N, find};
            let mut hits = 0;
            let mut p = [""; N];
            for _ in 0..iters {
                for path in black_box(paths) {
                    let e = find(path, &mut p);
                    black_box(&p);
                    hits += black_box(e).is_some() as usize;
                }
            }
            hits
        }
    };
}

run_ember!(run_github_auto, github::auto);
run_ember!(run_github_match, github::match_);
run_ember!(run_github_whole_path, github::whole_path);
run_ember!(run_wide_auto, wide::auto);
run_ember!(run_wide_match, wide::match_);
run_ember!(run_wide_whole_path, wide::whole_path);
run_ember!(run_deep_auto, deep_static::auto);
run_ember!(run_deep_match, deep_static::match_);
run_ember!(run_deep_whole_path, deep_static::whole_path);
run_ember!(run_many_auto, many_static::auto);
run_ember!(run_many_match, many_static::match_);
run_ember!(run_many_whole_path, many_static::whole_path);

#[inline(never)]
fn run_matchit(r: &matchit::Router<usize>, paths: &[&str], iters: usize) -> usize {
    let mut hits = 0;
    for _ in 0..iters {
        for path in black_box(paths) {
            hits += black_box(r.at(path).ok()).is_some() as usize;
        }
    }
    hits
}

#[inline(never)]
fn run_path_tree(r: &path_tree::PathTree<usize>, paths: &[&str], iters: usize) -> usize {
    let mut hits = 0;
    for _ in 0..iters {
        for path in black_box(paths) {
            hits += black_box(r.find(path)).is_some() as usize;
        }
    }
    hits
}

/// One route set: its routes, (filtered) paths and the peers' routers, built once.
struct Set {
    name: &'static str,
    routes: Vec<&'static str>,
    paths: Vec<&'static str>,
    matchit: matchit::Router<usize>,
    path_tree: path_tree::PathTree<usize>,
}

impl Set {
    fn new(name: &str, filter: &str) -> Set {
        let (name, routes, mut paths) = match name {
            "github" => ("github", github::routes(), github::paths()),
            "wide" => ("wide", wide::routes(), wide::paths()),
            "deep-static" => ("deep-static", deep_static::routes(), deep_static::paths()),
            "many-static" => ("many-static", many_static::routes(), many_static::paths()),
            other => panic!("unknown route set `{other}`"),
        };
        if !filter.is_empty() {
            let keep: Vec<bool> = routes
                .iter()
                .zip(&paths)
                .map(|(route, path)| match filter {
                    "static" => !route.contains('{'),
                    "param" => route.contains('{'),
                    f => match f.strip_prefix('=') {
                        Some(exact) => *path == exact,
                        None => path.contains(f),
                    },
                })
                .collect();
            let mut k = keep.iter();
            paths.retain(|_| *k.next().expect("same length"));
        }
        let mut matchit = matchit::Router::new();
        let mut path_tree = path_tree::PathTree::new();
        for (i, route) in routes.iter().enumerate() {
            matchit.insert(*route, i).expect("insert");
            let _ = path_tree.insert(&to_path_tree(route), i);
        }
        Set {
            name,
            routes,
            paths,
            matchit,
            path_tree,
        }
    }

    /// Runs one router `iters` times over the paths; returns the hits.
    fn run(&self, router: &str, iters: usize) -> usize {
        let paths = &self.paths;
        match (self.name, router) {
            (_, "matchit") => run_matchit(&self.matchit, paths, iters),
            (_, "path-tree") => run_path_tree(&self.path_tree, paths, iters),
            ("github", "ember") => run_github_auto(paths, iters),
            ("github", "ember-match") => run_github_match(paths, iters),
            ("github", "ember-whole-path") => run_github_whole_path(paths, iters),
            ("wide", "ember") => run_wide_auto(paths, iters),
            ("wide", "ember-match") => run_wide_match(paths, iters),
            ("wide", "ember-whole-path") => run_wide_whole_path(paths, iters),
            ("deep-static", "ember") => run_deep_auto(paths, iters),
            ("deep-static", "ember-match") => run_deep_match(paths, iters),
            ("deep-static", "ember-whole-path") => run_deep_whole_path(paths, iters),
            ("many-static", "ember") => run_many_auto(paths, iters),
            ("many-static", "ember-match") => run_many_match(paths, iters),
            ("many-static", "ember-whole-path") => run_many_whole_path(paths, iters),
            (_, other) => panic!("unknown router `{other}`"),
        }
    }
}

/// `ROUTER[@SET]` → (router, set).
fn parse(which: &str) -> (&str, &str) {
    which.split_once('@').unwrap_or((which, "github"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "ember".into());
    if which == "time" {
        let names = args.next().unwrap_or_else(|| "ember,matchit".into());
        let rounds: usize = args.next().map_or(15, |s| s.parse().expect("ROUNDS"));
        let targets: Vec<(&str, Set)> = names
            .split(',')
            .map(|n| {
                let (router, set) = parse(n);
                (router, Set::new(set, ""))
            })
            .collect();
        let mut best = vec![f64::INFINITY; targets.len()];
        for _ in 0..rounds {
            for (k, (router, set)) in targets.iter().enumerate() {
                let start = std::time::Instant::now();
                set.run(router, 2000);
                let ns = start.elapsed().as_nanos() as f64 / (2000 * set.paths.len()) as f64;
                best[k] = best[k].min(ns);
            }
        }
        for (name, ns) in names.split(',').zip(&best) {
            println!("{name:<28} {ns:6.2} ns/lookup (best of {rounds})");
        }
        return;
    }
    let iters: usize = args.next().map_or(1000, |s| s.parse().expect("ITERS"));
    let filter = args.next().unwrap_or_default();
    let (router, set) = parse(&which);
    let set = Set::new(set, &filter);
    let hits = set.run(router, iters);
    assert_eq!(
        hits,
        iters * set.paths.len(),
        "{which}: every path must match"
    );
    let _ = &set.routes;
    println!("{which}: {hits} lookups");
}
