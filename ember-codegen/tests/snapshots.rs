//! Every example's spec (`examples/*/ember.yaml`) and every reference spec in `specs/` has a
//! snapshot of its generated code, and every file in `specs/invalid/` a snapshot of its
//! rendered diagnostics.
//!
//! Specs are compiled with names relative to the repository root (so snapshots carry no
//! machine paths), included files are read from the repository, and the environment is
//! empty (so `${VAR:-default}` takes its default).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn specs(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter_map(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .map(|n| format!("{dir}/{n}"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no specs in {dir}");
    files
}

fn compile(file: &str) -> Result<ember_codegen::plan::Plan, ember_codegen::Diagnostics> {
    let source = std::fs::read_to_string(root().join(file)).expect("read spec");
    ember_codegen::compile(
        &source,
        file,
        &mut |p| std::fs::read_to_string(root().join(p)),
        &|_| None,
    )
}

fn stem(file: &str) -> &str {
    file.rsplit('/')
        .next()
        .and_then(|n| n.strip_suffix(".yaml"))
        .unwrap_or(file)
}

/// The examples' specs, `examples/NAME/ember.yaml`, snapshotted as `example_NAME`.
fn examples() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("ember.yaml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .map(|name| {
            (
                format!("examples/{name}/ember.yaml"),
                format!("example_{name}"),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "expected the hello, echo and tasks examples"
    );
    out
}

#[test]
fn generated_code() {
    let reference = specs("specs").into_iter().map(|f| {
        let name = stem(&f).to_owned();
        (f, name)
    });
    for (file, name) in examples().into_iter().chain(reference) {
        let plan = match compile(&file) {
            Ok(p) => p,
            Err(d) => panic!("{file} should be valid:\n{d}"),
        };
        let code = ember_codegen::emit(&plan, &ember_codegen::EmitOptions::default());
        if let Err(e) = syn::parse_file(&code) {
            panic!("{file}: the generated code does not parse: {e}\n{code}");
        }
        insta::assert_snapshot!(format!("generated__{name}"), code);
    }
}

/// A spec with 300 routes, every kind of middleware and cache, and typed parameters
/// generates code that parses (the snapshots cover the small specs line by line).
#[test]
fn large_specs_generate_valid_code() {
    let mut yaml = String::from(
        "app: big\n\
         caches:\n  hot: { ttl: 1s, stale_while_revalidate: 5s, key: { query: [page], vary: [accept] } }\n\
         \x20 forever: { static: true }\n\
         middleware:\n  - cors: { allow_origins: [https://a.example, \"*.b.example\"] }\n\
         routes:\n",
    );
    for i in 0..150 {
        let extra = match i % 5 {
            0 => ", cache: hot",
            1 => ", limits: { max_body_size: 1MiB }",
            _ => "",
        };
        yaml.push_str(&format!(
            "  GET /r{i}/{{id:u64}}/x/{{name}}: {{ handler: h{i}{extra} }}\n  POST /r{i}: p{i}\n"
        ));
    }
    yaml.push_str(
        "groups:\n  - prefix: /v2/{org}\n    middleware:\n\
         \x20     - bearer: { tokens_env: T }\n\
         \x20     - rate_limit: { rate: 10/s, key: client_ip, trusted_proxies: [10.0.0.1, \"::1\"] }\n\
         \x20     - hook: { before: b, extend: e, after: a }\n    routes:\n",
    );
    for i in 0..150 {
        yaml.push_str(&format!(
            "      GET /s{i}/{{*rest}}: {{ handler: g{i}, cache: forever }}\n"
        ));
    }
    let plan = ember_codegen::compile(&yaml, "big.yaml", &mut |_| unreachable!(), &|_| None)
        .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(plan.routes.len(), 450);
    let code = ember_codegen::emit(&plan, &ember_codegen::EmitOptions::default());
    if let Err(e) = syn::parse_file(&code) {
        panic!("the generated code does not parse: {e}");
    }
}

#[test]
fn diagnostics() {
    for file in specs("specs/invalid") {
        let d = match compile(&file) {
            Ok(_) => panic!("{file} should be rejected"),
            Err(d) => d,
        };
        for loc in d.locations() {
            assert!(loc.contains(".yaml:"), "{file}: unlocated diagnostic {loc}");
        }
        insta::assert_snapshot!(format!("invalid__{}", stem(&file)), d.render(false));
    }
}

#[test]
fn groups_nest_prefixes_and_fold_limits() {
    let plan = compile("specs/groups.yaml").expect("valid");
    let paths: Vec<(&str, &str)> = plan
        .routes
        .iter()
        .map(|r| (r.method.keyword(), r.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET", "/health"),
            ("POST", "/upload"),
            ("GET", "/api/v1"),
            ("GET", "/api/v1/users/{id:u64}"),
            ("GET", "/api/v1/orgs/{org}/repos"),
            ("GET", "/api/v1/orgs/{org}/repos/{repo}"),
            ("GET", "/admin/users"),
            ("DELETE", "/admin/users/{id:u64}"),
        ]
    );
    let upload = &plan.routes[1];
    assert_eq!(upload.limits.max_body_size, Some(50 << 20));
    assert_eq!(upload.limits.handler_timeout, Some(None));
    let repo = &plan.routes[5];
    assert_eq!(
        repo.limits.handler_timeout,
        Some(Some(std::time::Duration::from_secs(2)))
    );
    assert_eq!(plan.routes[6].file, "specs/include/admin.yaml");
    assert_eq!(
        plan.files,
        ["specs/groups.yaml", "specs/include/admin.yaml"]
    );
    assert_eq!(plan.env_vars, ["EMBER_SPEC_TEST_LISTEN"]);
    assert_eq!(plan.server.listen.as_deref(), Some("127.0.0.1:8090"));
    assert_eq!(plan.server.limits.max_body_size, Some(256 << 10));
}
