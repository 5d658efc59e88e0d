//! The router helpers exist twice: in the generator (`src/emit/router/snippets/`, compiled
//! in to search the perfect-hash tables at build time) and in the runtime
//! (`ember-runtime/src/router_support.rs`, which generated code calls). A table is only
//! right if both hash alike, so the two copies must be the same functions: this test
//! compares them, `pub` aside.

use std::path::Path;

/// The snippet's items: the file without its leading `//` comment lines.
fn items(snippet: &str) -> String {
    snippet
        .lines()
        .skip_while(|l| l.is_empty() || (l.starts_with("//") && !l.starts_with("///")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The runtime file with `pub ` taken off its top-level functions.
fn private(runtime: &str) -> String {
    runtime
        .lines()
        .map(|l| {
            l.strip_prefix("pub fn ")
                .map_or(l.to_owned(), |r| format!("fn {r}"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_runtime_router_helpers_are_the_generators() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runtime_file = here.join("../ember-runtime/src/router_support.rs");
    let runtime = std::fs::read_to_string(&runtime_file)
        .unwrap_or_else(|e| panic!("{}: {e}", runtime_file.display()));
    let runtime = private(&runtime);
    for name in ["split_segment.rs", "hash.rs"] {
        let file = here.join("src/emit/router/snippets").join(name);
        let snippet =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let snippet = items(&snippet);
        assert!(
            !snippet.is_empty() && runtime.contains(&snippet),
            "{} and ember-runtime/src/router_support.rs differ: copy the functions over \
             (with `pub` on each `fn`)",
            file.display()
        );
    }
}

#[test]
fn a_changed_body_is_noticed() {
    // The comparison is not vacuous: one character changed is a difference.
    let snippet = items("// header\n\nfn f() -> u8 {\n    1\n}\n");
    assert!(private("pub fn f() -> u8 {\n    1\n}\n").contains(&snippet));
    assert!(!private("pub fn f() -> u8 {\n    2\n}\n").contains(&snippet));
}
