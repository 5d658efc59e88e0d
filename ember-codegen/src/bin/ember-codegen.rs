//! `ember-codegen`: check, expand and list the routes of an `ember.yaml`, scaffold a new
//! project, and print the spec's JSON Schema.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ember_codegen::plan::{AiRoute, LimitsPlan, Plan, RoutePlan};

const USAGE: &str = "\
usage: ember-codegen <command> [args]

commands:
  check [FILE]                 validate the spec (default ember.yaml); exit 1 with diagnostics
  expand [FILE]                print the generated Rust
  routes [FILE]                print the route table: method, path, handler, limits, spec line
  new NAME [--ember-path DIR]  scaffold a project that builds and serves on `cargo run`
  schema                       print the JSON Schema of ember.yaml (for yaml-language-server)
  openapi [FILE] [-o OUT]      print (or write to OUT) the spec's OpenAPI 3.1 document
  dev [--spec FILE] [--package P] [-- ARGS]
                               watch the spec and src/, rebuild and restart the server
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().map(String::as_str) else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    match cmd {
        "check" | "expand" | "routes" => spec_command(cmd, rest),
        "new" => new_project(rest),
        // openapi and dev (issue 16, api)
        "openapi" => openapi(rest),
        "dev" => dev(rest),
        "schema" => {
            match serde_json::to_string_pretty(&ember_codegen::schema::schema()) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("ember-codegen: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn spec_command(cmd: &str, rest: &[String]) -> ExitCode {
    let file = PathBuf::from(rest.first().map(String::as_str).unwrap_or("ember.yaml"));
    let color = std::io::stderr().is_terminal();
    let plan = match ember_codegen::load(&file) {
        Ok(p) => p,
        Err(d) => {
            eprint!("{}", d.render(color));
            return ExitCode::from(1);
        }
    };
    match cmd {
        "check" => eprintln!("{}: ok, {} routes", file.display(), plan.routes.len()),
        "expand" => print!(
            "{}",
            ember_codegen::emit(&plan, &ember_codegen::EmitOptions::from_env())
        ),
        _ => print_routes(&plan),
    }
    ExitCode::SUCCESS
}

fn print_routes(plan: &Plan) {
    let header = ["METHOD", "PATH", "HANDLER", "LIMITS", "SPEC"].map(str::to_owned);
    let rows: Vec<[String; 5]> = plan
        .routes
        .iter()
        .map(|r| {
            [
                r.method.keyword().to_owned(),
                r.path.clone(),
                handler_text(plan, r),
                limits_text(&r.limits),
                format!("{}:{}", r.file, r.line),
            ]
        })
        .collect();
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// The handler, or for an AI route what it calls (`gateway chat_completions`,
/// `summarize (model ember-chat)`).
fn handler_text(plan: &Plan, r: &RoutePlan) -> String {
    match r.ai {
        Some(AiRoute::Gateway(g)) => format!("gateway {}", g.name()),
        Some(AiRoute::Handler { model, .. }) => {
            let name = plan
                .ai
                .as_ref()
                .and_then(|a| a.models.get(model))
                .map_or("?", |m| m.name.as_str());
            format!("{} (model {name})", r.handler)
        }
        None => r.handler.clone(),
    }
}

fn limits_text(l: &LimitsPlan) -> String {
    let mut parts = Vec::new();
    if let Some(b) = l.max_body_size {
        parts.push(format!("body≤{}", human_size(b)));
    }
    match l.handler_timeout {
        Some(Some(d)) => parts.push(format!("timeout={}ms", d.as_millis())),
        Some(None) => parts.push("timeout=off".to_owned()),
        None => {}
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

fn human_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{}GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => format!("{n}B"),
    }
}

fn new_project(rest: &[String]) -> ExitCode {
    let Some(name) = rest.first() else {
        eprintln!("usage: ember-codegen new NAME [--ember-path DIR]");
        return ExitCode::from(2);
    };
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        eprintln!("ember-codegen: `{name}` is not a valid package name (letters, digits, - and _)");
        return ExitCode::from(2);
    }
    let ember_path = match rest.iter().position(|a| a == "--ember-path") {
        Some(i) => match rest.get(i + 1) {
            Some(p) => Some(PathBuf::from(p)),
            None => {
                eprintln!("ember-codegen: --ember-path needs a directory");
                return ExitCode::from(2);
            }
        },
        // Ember is not on crates.io yet: by default, point at the checkout this binary was
        // built from.
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf),
    };
    let dir = PathBuf::from(name);
    if dir.exists() {
        eprintln!("ember-codegen: `{}` already exists", dir.display());
        return ExitCode::FAILURE;
    }
    match scaffold(&dir, name, ember_path.as_deref()) {
        Ok(()) => {
            eprintln!(
                "created `{name}`: cd {name} && cargo run  (then curl 127.0.0.1:8080/hello/you)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ember-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scaffold(dir: &Path, name: &str, ember: Option<&Path>) -> std::io::Result<()> {
    let dep = |krate: &str| match ember {
        Some(p) => {
            let abs = std::fs::canonicalize(p.join(krate)).unwrap_or_else(|_| p.join(krate));
            format!("{krate} = {{ path = {:?} }}", abs.display().to_string())
        }
        None => format!("{krate} = \"0.1\""),
    };
    let crate_name = name.replace('-', "_");
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\n{}\n\n[build-dependencies]\n{}\n\n\
             # A project of its own, even when created inside another workspace.\n[workspace]\n",
            dep("ember-runtime"),
            dep("ember-codegen")
        ),
    )?;
    std::fs::write(
        dir.join("build.rs"),
        "fn main() {\n    ember_codegen::build(\"ember.yaml\");\n}\n",
    )?;
    std::fs::write(
        dir.join("ember.yaml"),
        format!(
            "# yaml-language-server: $schema=ember.schema.json\n\
             # Edit the routes, then `cargo run`. Reference: the Ember README.\n\
             app: {crate_name}\nhandlers: crate::handlers\n\n\
             server:\n  listen: 127.0.0.1:8080\n  workers: auto\n\n\
             routes:\n  GET /: index\n  GET /hello/{{name}}: hello\n"
        ),
    )?;
    let schema = serde_json::to_string_pretty(&ember_codegen::schema::schema())
        .map_err(std::io::Error::other)?;
    std::fs::write(dir.join("ember.schema.json"), schema + "\n")?;
    std::fs::write(
        dir.join("src/main.rs"),
        "mod handlers;\n\nember_runtime::include_app!();\n\n\
         fn main() -> std::io::Result<()> {\n    ember_runtime::run(App)\n}\n",
    )?;
    std::fs::write(
        dir.join("src/handlers.rs"),
        "//! Handlers for the routes in `ember.yaml`.\n\n\
         /// `GET /`\npub async fn index() -> &'static str {\n    \"It works!\\n\"\n}\n\n\
         /// `GET /hello/{name}`\npub async fn hello(name: &str) -> String {\n    format!(\"Hello, {name}!\\n\")\n}\n",
    )?;
    std::fs::write(dir.join(".gitignore"), "/target\n")?;
    Ok(())
}

// ---- openapi and dev (issue 16, api) ----

/// `openapi [FILE] [-o OUT]`.
fn openapi(rest: &[String]) -> ExitCode {
    let mut file = None;
    let mut out = None;
    let mut args = rest.iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-o" | "--output" => match args.next() {
                Some(o) => out = Some(PathBuf::from(o)),
                None => {
                    eprintln!("ember-codegen: -o needs a file");
                    return ExitCode::from(2);
                }
            },
            f if file.is_none() && !f.starts_with('-') => file = Some(PathBuf::from(f)),
            other => {
                eprintln!("ember-codegen: unexpected argument `{other}`\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let file = file.unwrap_or_else(|| PathBuf::from("ember.yaml"));
    let plan = match ember_codegen::load(&file) {
        Ok(p) => p,
        Err(d) => {
            eprint!("{}", d.render(std::io::stderr().is_terminal()));
            return ExitCode::from(1);
        }
    };
    let json = ember_codegen::openapi::document_json(&plan) + "\n";
    match out {
        Some(o) => match std::fs::write(&o, json) {
            Ok(()) => {
                eprintln!("wrote {}", o.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ember-codegen: cannot write `{}`: {e}", o.display());
                ExitCode::FAILURE
            }
        },
        None => {
            print!("{json}");
            ExitCode::SUCCESS
        }
    }
}

/// `dev [--spec FILE] [--package P] [-- ARGS]`.
fn dev(rest: &[String]) -> ExitCode {
    let opts = match ember_codegen::dev::Options::from_args(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ember-codegen dev: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let color = std::io::stderr().is_terminal();
    let check = move |spec: &Path| match ember_codegen::load(spec) {
        Ok(plan) => Ok(plan.files),
        Err(d) => Err(d.render(color)),
    };
    match ember_codegen::dev::run(&opts, &check) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ember-codegen dev: {e}");
            ExitCode::FAILURE
        }
    }
}
