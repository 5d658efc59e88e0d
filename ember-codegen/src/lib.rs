//! # ember-codegen
//!
//! Turns `ember.yaml` into Rust in four stages, each a module folder with one submodule per
//! spec section (`routes`, `limits`, `caches`, `middleware`, `server`), each tested on its
//! own, and none using a later one (checked by `tests/architecture.rs`):
//!
//! 1. [`spec`] ([`parse`]): YAML → [`spec::Spec`], keeping every value's location;
//! 2. `validate`: the rules that check spec values, each failure a located [`Diagnostic`];
//! 3. [`plan`] ([`compile`] = parse + plan): walks the spec (and the files it includes),
//!    applies the rules, and records the resolved decisions in a [`plan::Plan`], or returns
//!    every [`Diagnostic`] found;
//! 4. `emit` ([`emit()`]): plan and [`EmitOptions`] → formatted Rust source, a pure
//!    function.
//!
//! Below them all: the text writer (`code`), diagnostics, [`units`], the route [`path`]
//! syntax and the shared context (`ctx`: files, diagnostics, environment, loader).
//!
//! [`build`] is the thin edge for `build.rs`: it reads the spec, writes
//! `$OUT_DIR/ember_app.rs` only when its bytes change, and prints cargo directives (one
//! `cargo::error=` line per rendered diagnostic line on failure). The `ember-codegen` binary
//! is another thin edge over the same core.
//!
//! ```no_run
//! // build.rs: `fn main() { … }` around this line
//! ember_codegen::build("ember.yaml");
//! ```

// Below every stage: the text writer, diagnostics, units, route path syntax, the context.
mod code;
mod ctx;
mod diag;
pub mod path;
pub mod units;

// The stages, in order; a stage uses only the stages before it (`tests/architecture.rs`).
mod emit;
pub mod plan;
pub mod spec;
mod validate;

pub mod schema;

// openapi (issue 16, api): the OpenAPI document of a plan, and the `dev` loop of the CLI.
pub mod dev;
pub mod openapi;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Label, SourceFile};
pub use emit::{EmitOptions, RouterStrategy, emit};

/// Checks spec source and plans the generated code. `file` names it in diagnostics and
/// anchors relative `include` paths; `read` loads included files and `env` answers
/// `${VAR}` interpolation, so this is pure given pure arguments.
pub fn compile(
    source: &str,
    file: &str,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<plan::Plan, Diagnostics> {
    let spec = parse(source, file)?;
    let cx = ctx::Ctx::new(file, source.to_owned(), read, env);
    plan::plan(cx, &spec)
}

/// Parses spec source (the first step of [`compile`]): YAML → [`spec::Spec`], or the
/// syntax error located in `file`.
pub fn parse(source: &str, file: &str) -> Result<spec::Spec, Diagnostics> {
    spec::parse_file(source, 0).map_err(|d| {
        Diagnostics::new(
            vec![SourceFile {
                name: file.to_owned(),
                source: source.to_owned(),
            }],
            vec![d],
        )
    })
}

impl EmitOptions {
    /// The options [`build`], [`generate`] and the CLI use: the defaults, except for the
    /// router strategy, which `EMBER_ROUTER_STRATEGY` (`auto`, `match`, `whole-path`) may
    /// force for the router benchmark (`bench/router/`; not a stable interface). This is
    /// the only place the generator reads it.
    pub fn from_env() -> EmitOptions {
        let router_strategy = std::env::var("EMBER_ROUTER_STRATEGY")
            .ok()
            .and_then(|s| RouterStrategy::from_name(&s))
            .unwrap_or_default();
        EmitOptions { router_strategy }
    }
}

/// Checks spec source and generates its Rust, reading included files from disk and
/// `${VAR}` values from the process environment.
pub fn generate(source: &str, file: &str) -> Result<String, Diagnostics> {
    let plan = compile(source, file, &mut |p| std::fs::read_to_string(p), &|k| {
        std::env::var(k).ok()
    })?;
    Ok(emit(&plan, &EmitOptions::from_env()))
}

/// Reads, checks and plans a spec file on disk.
pub fn load(path: &Path) -> Result<plan::Plan, Diagnostics> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::new(
            vec![SourceFile {
                name: file.clone(),
                source: String::new(),
            }],
            vec![Diagnostic::new(format!("cannot read `{file}`: {e}"))],
        )
    })?;
    compile(&source, &file, &mut |p| std::fs::read_to_string(p), &|k| {
        std::env::var(k).ok()
    })
}

/// Generates the app for `build.rs`: reads `spec` (relative to the package), writes
/// `$OUT_DIR/ember_app.rs` when its bytes change, and prints the cargo directives.
///
/// A bad spec fails the build with its diagnostics (`cargo::error=` lines, which point at
/// the YAML line and column).
pub fn build(spec: impl AsRef<Path>) {
    let spec = spec.as_ref();
    println!("cargo::rerun-if-changed={}", spec.display());
    // A benchmark knob of the router generator (see `emit/router/mod.rs`).
    println!("cargo::rerun-if-env-changed=EMBER_ROUTER_STRATEGY");
    match try_build(spec) {
        Ok(plan) => {
            for f in plan.files.iter().skip(1) {
                println!("cargo::rerun-if-changed={f}");
            }
            for v in &plan.env_vars {
                println!("cargo::rerun-if-env-changed={v}");
            }
        }
        Err(BuildError::Spec(d)) => {
            for line in d.render(false).lines() {
                println!("cargo::error={line}");
            }
        }
        Err(BuildError::Io(e)) => println!("cargo::error=ember-codegen: {e}"),
    }
}

/// Why [`try_build`] failed.
#[derive(Debug)]
pub enum BuildError {
    /// The spec has errors.
    Spec(Diagnostics),
    /// `OUT_DIR` is missing or could not be written.
    Io(std::io::Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Spec(d) => write!(f, "{d}"),
            BuildError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Like [`build`], but returns the error instead of printing it; on success returns the
/// plan (whose `files` and `env_vars` the generated code depends on).
pub fn try_build(spec: &Path) -> Result<plan::Plan, BuildError> {
    let out_dir = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| {
            BuildError::Io(std::io::Error::other(
                "OUT_DIR is not set: call this from build.rs",
            ))
        })?;
    let plan = load(spec).map_err(BuildError::Spec)?;
    let code = emit(&plan, &EmitOptions::from_env());
    let out = out_dir.join("ember_app.rs");
    write_if_changed(&out, code.as_bytes()).map_err(BuildError::Io)?;
    Ok(plan)
}

/// Writes `bytes` to `path` unless it already holds exactly them (so cargo and
/// rust-analyzer see no change when there is none).
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes)
}
