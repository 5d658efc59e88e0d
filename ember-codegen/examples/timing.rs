//! Times each codegen phase on a spec: `cargo run --release -p ember-codegen --example timing -- FILE`.
fn main() {
    let file = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ember.yaml".to_owned());
    let t0 = std::time::Instant::now();
    let plan = match ember_codegen::load(std::path::Path::new(&file)) {
        Ok(p) => p,
        Err(d) => {
            eprint!("{d}");
            std::process::exit(1);
        }
    };
    let t1 = std::time::Instant::now();
    let tokens = ember_codegen::emit_tokens(&plan);
    let t2 = std::time::Instant::now();
    let raw = tokens.to_string();
    let t3 = std::time::Instant::now();
    let formatted = ember_codegen::emit(&plan);
    let t4 = std::time::Instant::now();
    eprintln!(
        "{} routes: load+validate {:?}, tokens {:?}, to_string {:?} ({} B), full emit with format {:?} ({} B)",
        plan.routes.len(),
        t1 - t0,
        t2 - t1,
        t3 - t2,
        raw.len(),
        t4 - t3,
        formatted.len()
    );
}
