//! # ember-codegen
//!
//! Turns `ember.yaml` into Rust. The core is three pure steps, each tested on its own:
//!
//! 1. parse: YAML → [`spec::Spec`], keeping every value's location;
//! 2. [`compile`]: spec (and the files it includes) → [`plan::Plan`], or [`Diagnostics`]
//!    that point at the YAML line and column;
//! 3. [`emit`]: plan → formatted Rust source.
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

mod code;
mod diag;
mod emit;
pub mod middleware;
pub mod path;
pub mod plan;
mod router;
pub mod schema;
pub mod spec;
pub mod units;
mod validate;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Label, SourceFile};
pub use emit::emit;

/// Checks spec source and plans the generated code. `file` names it in diagnostics and
/// anchors relative `include` paths; `read` loads included files and `env` answers
/// `${VAR}` interpolation, so this is pure given pure arguments.
pub fn compile(
    source: &str,
    file: &str,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<plan::Plan, Diagnostics> {
    validate::compile(file, source.to_owned(), read, env)
}

/// Checks spec source and generates its Rust, reading included files from disk and
/// `${VAR}` values from the process environment.
pub fn generate(source: &str, file: &str) -> Result<String, Diagnostics> {
    let plan = compile(source, file, &mut |p| std::fs::read_to_string(p), &|k| {
        std::env::var(k).ok()
    })?;
    Ok(emit(&plan))
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
    // A benchmark knob of the router generator (see `router.rs`).
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
    let code = emit(&plan);
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

/// Turns a serde-saphyr error into a located diagnostic with a suggestion where one fits.
pub(crate) fn yaml_error(e: &serde_saphyr::Error, source: &str) -> Diagnostic {
    let full = e.without_snippet().to_string();
    // serde-saphyr appends " at line L, column C"; the location goes in the snippet instead.
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    };
    let mut d = Diagnostic::new(message.clone());
    if let Some(loc) = e.location() {
        let (line, col) = (loc.line() as usize, loc.column() as usize);
        if line > 0 {
            let start = diag::offset_of(source, line, col);
            let end = source[start..]
                .find([':', '\n', ',', '}'])
                .map(|n| start + n.max(1))
                .unwrap_or(source.len());
            d = d.at(
                start..end.max(start + 1).min(source.len().max(start + 1)),
                "here",
            );
        }
    }
    if let Some((field, _)) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    {
        {
            let candidates: Vec<&str> = spec::TOP_KEYS
                .iter()
                .chain(spec::SERVER_KEYS)
                .chain(spec::ROUTE_KEYS)
                .chain(spec::GROUP_KEYS)
                .chain(spec::LIMIT_KEYS)
                .chain(spec::URING_KEYS)
                .chain(spec::CACHE_KEYS)
                .chain(spec::REMOTE_KEYS)
                .chain(spec::KEY_KEYS)
                .copied()
                .filter(|c| message.contains(c))
                .collect();
            if let Some(s) = diag::did_you_mean(field, &candidates) {
                d = d.help(format!("did you mean `{s}`?"));
            }
        }
    }
    d
}
