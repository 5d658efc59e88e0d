//! Generates the app from `ember.yaml`, or from `BENCH_INPUT_SPEC` (the run script sets
//! `plain.yaml` to build the plaintext-only baseline against an older Ember).
fn main() {
    println!("cargo::rerun-if-env-changed=BENCH_INPUT_SPEC");
    let spec = std::env::var("BENCH_INPUT_SPEC").unwrap_or_else(|_| "ember.yaml".to_owned());
    ember_codegen::build(&spec);
}
