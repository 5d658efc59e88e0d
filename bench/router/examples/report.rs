//! Turns criterion's saved estimates (`target/criterion/GROUP/ROUTER/new/estimates.json`)
//! into a Markdown table: ns per lookup (the median time of one iteration divided by the
//! number of paths it looks up) and the ratio to matchit in the same group.
//!
//! ```text
//! cargo bench --bench router
//! cargo run --release --example report
//! ```

use std::path::Path;

/// The groups, with the number of paths one iteration looks up.
const GROUPS: [(&str, usize); 4] = [
    ("github", 130),
    ("wide", 378),
    ("deep-static", 130),
    ("many-static", 500),
];

const ROUTERS: [&str; 5] = [
    "ember",
    "ember-match",
    "ember-whole-path",
    "matchit",
    "path-tree",
];

/// The point estimate of `stat` (`"median"`, `"mean"`) in criterion's `estimates.json`.
fn estimate(json: &str, stat: &str) -> Option<f64> {
    let section = &json[json.find(&format!("\"{stat}\""))?..];
    let value = &section[section.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion");
    for (group, lookups) in GROUPS {
        let ns = |router: &str| -> Option<f64> {
            let file = root.join(group).join(router).join("new/estimates.json");
            let json = std::fs::read_to_string(file).ok()?;
            Some(estimate(&json, "median")? / lookups as f64)
        };
        let Some(matchit) = ns("matchit") else {
            continue;
        };
        println!("\n{group} ({lookups} paths per iteration)\n");
        println!("| router | ns/lookup | matchit ÷ router |");
        println!("| --- | ---: | ---: |");
        for router in ROUTERS {
            if let Some(t) = ns(router) {
                println!("| {router} | {t:.2} | {:.2}× |", matchit / t);
            }
        }
    }
}
