//! Times the generator's phases on a spec, best of several runs:
//! `cargo run --release -p ember-codegen --example timing -- FILE [RUNS]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().unwrap_or_else(|| "ember.yaml".to_owned());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let mut best = (std::time::Duration::MAX, std::time::Duration::MAX);
    let mut size = (0, 0);
    for _ in 0..runs.max(1) {
        let t0 = std::time::Instant::now();
        let plan = match ember_codegen::load(std::path::Path::new(&file)) {
            Ok(p) => p,
            Err(d) => {
                eprint!("{d}");
                std::process::exit(1);
            }
        };
        let t1 = std::time::Instant::now();
        let code = ember_codegen::emit(&plan, &ember_codegen::EmitOptions::default());
        let t2 = std::time::Instant::now();
        best = (best.0.min(t1 - t0), best.1.min(t2 - t1));
        size = (plan.routes.len(), code.len());
    }
    eprintln!(
        "{} routes, best of {runs}: load+validate {:?}, emit {:?} ({} bytes)",
        size.0, best.0, best.1, size.1
    );
}
