//! # ember-codegen
//!
//! Turns `ember.yaml` into Rust. The core is three pure steps, each tested on its own:
//!
//! 1. [`parse`]: YAML → [`spec::Spec`], keeping every value's location;
//! 2. [`validate()`]: spec → [`plan::Plan`], or [`Diagnostics`] that point at the YAML line
//!    and column;
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

mod diag;
mod emit;
pub mod path;
pub mod plan;
mod router;
pub mod spec;
mod validate;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, Label};
pub use emit::emit;

/// Parses spec source. `file` names it in diagnostics.
pub fn parse(source: &str, file: &str) -> Result<spec::Spec, Diagnostics> {
    // Repeated keys reach the spec's own visitors, which report both locations.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options::<spec::Spec>(source, options).map_err(|e| {
        let d = yaml_error(&e, source);
        Diagnostics::new(file, source, vec![d])
    })
}

/// Checks a parsed spec and plans the generated code.
pub fn validate(spec: &spec::Spec, source: &str, file: &str) -> Result<plan::Plan, Diagnostics> {
    validate::validate(spec, source, file).map_err(|items| Diagnostics::new(file, source, items))
}

/// Parses, validates and emits in one step.
pub fn generate(source: &str, file: &str) -> Result<String, Diagnostics> {
    let spec = parse(source, file)?;
    let plan = validate(&spec, source, file)?;
    Ok(emit(&plan))
}

/// Parses and validates a spec file on disk, returning its plan.
pub fn load(path: &Path) -> Result<plan::Plan, Diagnostics> {
    let file = path.display().to_string();
    let source = read_spec(path, &file)?;
    let spec = parse(&source, &file)?;
    validate(&spec, &source, &file)
}

/// Reads a spec file; a read failure is a diagnostic like any other.
fn read_spec(path: &Path, file: &str) -> Result<String, Diagnostics> {
    std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::new(
            file,
            "",
            vec![Diagnostic::new(format!("cannot read `{file}`: {e}"))],
        )
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
    match try_build(spec) {
        Ok(_) => {}
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
/// path of the generated file.
pub fn try_build(spec: &Path) -> Result<PathBuf, BuildError> {
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
    Ok(out)
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
fn yaml_error(e: &serde_saphyr::Error, source: &str) -> Diagnostic {
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
