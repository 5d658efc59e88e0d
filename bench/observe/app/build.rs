//! Generates the app from `ember.yaml`.
fn main() {
    ember_codegen::build("ember.yaml");
}
