//! The `ember-codegen` binary: `check` on every invalid spec, `routes`, `schema`, and `new`
//! scaffolding a project that builds, serves, and reports a wrong handler signature with
//! its route and spec line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ember-codegen"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn check_fails_with_the_location_for_every_invalid_spec() {
    let dir = root().join("specs/invalid");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("specs/invalid") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let rel = format!(
            "specs/invalid/{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("")
        );
        let out = bin()
            .arg("check")
            .arg(&rel)
            .current_dir(root())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{rel}");
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        // `error: FILE:LINE:COL: message`, FILE being this spec or a file it includes.
        let loc = first.strip_prefix("error: ").unwrap_or_default();
        let mut parts = loc.splitn(4, ':');
        let (file, line, col) = (parts.next(), parts.next(), parts.next());
        assert!(file.is_some_and(|f| f.ends_with(".yaml")), "{rel}: {first}");
        assert!(
            line.is_some_and(|l| l.parse::<u32>().is_ok_and(|l| l > 0)),
            "{rel}: {first}"
        );
        assert!(
            col.is_some_and(|c| c.parse::<u32>().is_ok_and(|c| c > 0)),
            "{rel}: {first}"
        );
        n += 1;
    }
    assert!(n >= 10, "only {n} invalid specs");
}

#[test]
fn check_routes_and_schema_succeed_on_valid_specs() {
    let out = bin()
        .args(["check", "examples/hello/ember.yaml"])
        .current_dir(root())
        .output()
        .expect("run");
    assert!(out.status.success());
    let out = bin()
        .args(["routes", "specs/groups.yaml"])
        .current_dir(root())
        .output()
        .expect("run");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("METHOD  PATH")),
        "{table}"
    );
    assert!(table.contains("POST    /upload"), "{table}");
    assert!(table.contains("body≤50MiB timeout=off"), "{table}");
    assert!(table.contains("specs/include/admin.yaml:5"), "{table}");
    // ai (issue 13): AI routes say what they call.
    let out = bin()
        .args(["routes", "specs/ai.yaml"])
        .current_dir(root())
        .output()
        .expect("run");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("gateway chat_completions"), "{table}");
    assert!(
        table.contains("crate::handlers::ai::summarize (model ember-chat)"),
        "{table}"
    );
    let out = bin().arg("schema").output().expect("run");
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    assert_eq!(schema["title"], "ember.yaml");
}

/// Builds a scaffolded project with the workspace's lock file (same versions, no network)
/// in a target directory of its own.
fn cargo_build(dir: &Path) -> std::process::Output {
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy lock");
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        // Verbose: cargo then prints each build-script run.
        .args(["build", "--offline", "--verbose"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", root().join("target/scaffold"))
        .output()
        .expect("cargo runs")
}

#[test]
fn new_scaffolds_a_project_that_serves_and_names_bad_handlers() {
    let base = root().join("target/scaffold-src");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("mkdir");
    let out = bin()
        .args(["new", "demo"])
        .current_dir(&base)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = base.join("demo");

    let built = cargo_build(&dir);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let exe = root().join("target/scaffold/debug/demo");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
        l.local_addr().expect("addr").port()
    };
    let mut child = Command::new(&exe)
        .env("EMBER_LISTEN", format!("127.0.0.1:{port}"))
        .env("EMBER_WORKERS", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo");
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /hello/ember HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .expect("write");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            break out;
        }
        assert!(Instant::now() < deadline, "demo did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.ends_with("Hello, ember!\n"), "{body}");

    // A handler whose signature does not fit its route: rustc names the route and line.
    let handlers = dir.join("src/handlers.rs");
    let text = std::fs::read_to_string(&handlers).expect("read");
    std::fs::write(
        &handlers,
        text.replace("hello(name: &str)", "hello(name: u64)"),
    )
    .expect("write");
    let built = cargo_build(&dir);
    assert!(!built.status.success(), "a wrong signature must not build");
    let err = String::from_utf8_lossy(&built.stderr);
    assert!(
        err.contains("cannot handle route_GET_hello_name__at_ember_yaml_line_12"),
        "{err}"
    );
    // Editing a handler does not rerun the generator; editing the spec does.
    assert!(
        !ran_codegen(&err),
        "a handler edit reran the build script:\n{err}"
    );
    std::fs::write(&handlers, &text).expect("write");
    let spec = dir.join("ember.yaml");
    let yaml = std::fs::read_to_string(&spec).expect("read");
    std::fs::write(&spec, format!("{yaml}# edited\n")).expect("write");
    let built = cargo_build(&dir);
    let err = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{err}");
    assert!(
        ran_codegen(&err),
        "a spec edit did not rerun the build script:\n{err}"
    );

    // A broken spec fails `cargo build` with the spec's file, line and column.
    std::fs::write(&spec, yaml.replace("/hello/{name}", "/hello/{name:u46}")).expect("write");
    let built = cargo_build(&dir);
    let err = String::from_utf8_lossy(&built.stderr);
    assert!(!built.status.success(), "a broken spec must not build");
    assert!(
        err.contains("error: ember.yaml:12:14: invalid route path: unknown parameter type `u46`"),
        "{err}"
    );
    assert!(err.contains("12 |   GET /hello/{name:u46}: hello"), "{err}");

    // An included file is a rerun trigger too, and its routes are served.
    std::fs::write(&spec, format!("{yaml}include: extra.yaml\n")).expect("write");
    let extra = dir.join("extra.yaml");
    std::fs::write(&extra, "routes:\n  GET /extra: index\n").expect("write");
    let built = cargo_build(&dir);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::write(&extra, "routes:\n  GET /extra/{n:u8}: index\n").expect("write");
    let built = cargo_build(&dir);
    let err = String::from_utf8_lossy(&built.stderr);
    // `index` takes no parameter: the edit reached the generated code.
    assert!(!built.status.success(), "{err}");
    assert!(
        err.contains("cannot handle route_GET_extra_n_u8__at_extra_yaml_line_2"),
        "{err}"
    );
    assert!(
        ran_codegen(&err),
        "an include edit did not rerun the build script:\n{err}"
    );
}

/// Whether cargo's verbose output shows the scaffold's build script running.
fn ran_codegen(cargo_stderr: &str) -> bool {
    cargo_stderr.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("Running `")
            && l.contains("/build/demo-")
            && l.contains("build-script-build`")
    })
}
