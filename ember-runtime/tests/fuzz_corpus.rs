//! The fuzz targets' seed corpora (`fuzz/corpus/<target>/`) as ordinary tests.

use std::path::Path;

fn run(target: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        let result = std::panic::catch_unwind(|| f(&data));
        assert!(result.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "empty corpus for {target}");
}

#[test]
fn head_corpus() {
    run("head", ember_runtime::__private::fuzzing::head);
}

#[test]
fn chunked_corpus() {
    run("chunked", ember_runtime::__private::fuzzing::chunked);
}

#[test]
fn connection_corpus() {
    run("connection", ember_runtime::__private::fuzzing::connection);
}
