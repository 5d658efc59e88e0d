//! Every spec in `specs/` has a snapshot of its generated code, and every file in
//! `specs/invalid/` a snapshot of its rendered diagnostics.

use std::path::{Path, PathBuf};

fn specs(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no specs in {}", root.display());
    files
}

fn name(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("spec")
        .to_owned()
}

#[test]
fn generated_code() {
    for path in specs("specs") {
        let source = std::fs::read_to_string(&path).expect("read spec");
        let file = format!("specs/{}.yaml", name(&path));
        let code = match ember_codegen::generate(&source, &file) {
            Ok(c) => c,
            Err(d) => panic!("{file} should be valid:\n{d}"),
        };
        insta::assert_snapshot!(format!("generated__{}", name(&path)), code);
    }
}

#[test]
fn diagnostics() {
    for path in specs("specs/invalid") {
        let source = std::fs::read_to_string(&path).expect("read spec");
        let file = format!("specs/invalid/{}.yaml", name(&path));
        let d = match ember_codegen::generate(&source, &file) {
            Ok(_) => panic!("{file} should be rejected"),
            Err(d) => d,
        };
        // Every diagnostic points into the file.
        for loc in d.locations() {
            assert!(
                loc.starts_with(&format!("{file}:")),
                "{file}: unlocated diagnostic {loc}"
            );
        }
        insta::assert_snapshot!(format!("invalid__{}", name(&path)), d.render(false));
    }
}
