//! Generates the app from `ember.yaml` (see `ember_codegen::build`).

fn main() {
    ember_codegen::build("ember.yaml");
}
