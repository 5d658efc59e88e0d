//! The OpenAPI documents `ember-codegen openapi` generates (issue 16): every example and
//! test spec gives a document that an independent validator (`openapi-spec-validator`
//! from PyPI, pinned in `tests/python/requirements.txt`) accepts as OpenAPI 3.1, listing
//! every route of its spec.
//!
//! Needs `EMBER_PYTHON` (a venv with the requirements): skipped without it locally, a
//! failure under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The specs whose documents are checked: the examples, the e2e app and `specs/*.yaml`.
fn specs() -> Vec<PathBuf> {
    let root = root();
    let mut out = vec![
        root.join("examples/tasks/ember.yaml"),
        root.join("examples/chat/ember.yaml"),
        root.join("tests/ember.yaml"),
    ];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root.join("specs"))
        .expect("specs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    more.sort();
    out.extend(more);
    out
}

/// Plans a spec; `${CARGO_MANIFEST_DIR}` is its package's directory (as in its build).
fn plan(spec: &Path) -> ember_codegen::plan::Plan {
    let source = std::fs::read_to_string(spec).expect("spec");
    let dir = spec.parent().expect("dir").display().to_string();
    ember_codegen::compile(
        &source,
        &spec.display().to_string(),
        &mut |p| std::fs::read_to_string(p),
        &|k| (k == "CARGO_MANIFEST_DIR").then(|| dir.clone()),
    )
    .unwrap_or_else(|d| panic!("{}: {d}", spec.display()))
}

/// The Python with the validator, or `None` (skip) outside CI.
fn python() -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let py = std::env::var("EMBER_PYTHON").ok();
    let ok = py.as_ref().is_some_and(|py| {
        Command::new(py)
            .args(["-c", "import openapi_spec_validator"])
            .status()
            .is_ok_and(|s| s.success())
    });
    if ok {
        return py;
    }
    assert!(
        !ci,
        "EMBER_PYTHON with openapi-spec-validator is required under CI=true"
    );
    eprintln!("skipped: set EMBER_PYTHON to a venv with tests/python/requirements.txt");
    None
}

const VALIDATE: &str = r#"
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator
bad = 0
for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    try:
        validate(doc, cls=OpenAPIV31SpecValidator)
        print("ok", path)
    except Exception as e:
        bad += 1
        print("INVALID", path, e)
sys.exit(1 if bad else 0)
"#;

#[test]
fn every_spec_gives_a_valid_openapi_3_1_document_with_all_its_routes() {
    let dir = std::env::temp_dir().join(format!("ember-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut files = Vec::new();
    for (i, spec) in specs().iter().enumerate() {
        let plan = plan(spec);
        let doc = ember_codegen::openapi::document(&plan);
        assert_eq!(doc["openapi"], "3.1.0");
        // Every route of the spec is an operation of the document.
        for r in &plan.routes {
            // The document's own routes and the operational ones (metrics, probes) are not
            // the app's API.
            if ["openapi_json", "openapi_docs", "openapi_docs_js"].contains(&r.handler.as_str())
                || r.handler.starts_with("::ember_runtime::__private::")
            {
                continue;
            }
            let path = ember_codegen::openapi::openapi_path(&r.path);
            let method = match r.method.keyword() {
                "ANY" => "get".to_owned(),
                m => m.to_lowercase(),
            };
            assert!(
                doc["paths"][&path][&method].is_object(),
                "{}: `{} {}` is not in the document",
                spec.display(),
                r.method.keyword(),
                r.path
            );
        }
        let file = dir.join(format!("{i}.json"));
        std::fs::write(&file, ember_codegen::openapi::document_json(&plan)).expect("write");
        files.push(file);
    }
    let Some(py) = python() else {
        return;
    };
    let out = Command::new(py)
        .arg("-c")
        .arg(VALIDATE)
        .args(&files)
        .output()
        .expect("python");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        files.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The validator itself rejects a broken document (so the test above can fail).
#[test]
fn the_validator_rejects_a_document_without_responses() {
    let Some(py) = python() else {
        return;
    };
    let file = std::env::temp_dir().join(format!("ember-openapi-bad-{}.json", std::process::id()));
    std::fs::write(
        &file,
        r#"{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a/{id}":{"get":{"responses":{"200":{}}}}}}"#,
    )
    .expect("write");
    let out = Command::new(py)
        .arg("-c")
        .arg(VALIDATE)
        .arg(&file)
        .output()
        .expect("python");
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = std::fs::remove_file(&file);
}

/// The CLI prints the document of `examples/tasks` (issue 16's independent check).
#[test]
fn the_cli_prints_the_tasks_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_ember-codegen"))
        .arg("openapi")
        .arg(root().join("examples/tasks/ember.yaml"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops: Vec<String> = paths
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .expect("item")
                .keys()
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            "DELETE /tasks/{id}",
            "GET /tasks",
            "GET /tasks/{id}",
            "PATCH /tasks/{id}",
            "POST /tasks",
        ]
    );
}
