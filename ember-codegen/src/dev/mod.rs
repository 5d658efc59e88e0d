//! `ember-codegen dev` (issue 16): watches the spec (and the files it includes), `src/`,
//! `build.rs` and `Cargo.toml`; on a change checks the spec in-process (a spec error is
//! printed at once with its located diagnostic, without running cargo), then runs
//! `cargo build`, and on success stops the running server (`SIGTERM` by PID, then waits
//! for it to exit, so the port is free) and starts the new one with the same arguments,
//! so it listens on the same port. A failed check or build leaves the old server serving.
//!
//! The loop's decisions are in [`Loop`] (no I/O); [`run`] drives them with the file
//! watcher (`watch`) and the processes (`process`).

mod process;
mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// `dev`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The spec (`--spec`, default `ember.yaml`).
    pub spec: PathBuf,
    /// The package to build and run (`--package`/`-p`), for workspaces.
    pub package: Option<String>,
    /// The arguments after `--`, passed to the server.
    pub args: Vec<String>,
    /// How long the files must stay quiet before a rebuild.
    pub debounce: Duration,
}

impl Options {
    /// Parses `dev`'s arguments: `[--spec FILE] [--package P] [-- ARGS]`.
    pub fn from_args(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            spec: PathBuf::from("ember.yaml"),
            package: None,
            args: Vec::new(),
            debounce: Duration::from_millis(200),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--spec" => o.spec = it.next().ok_or("--spec needs a file")?.into(),
                "--package" | "-p" => {
                    o.package = Some(it.next().ok_or("--package needs a name")?.clone())
                }
                "--" => {
                    o.args = it.cloned().collect();
                    break;
                }
                other => return Err(format!("unexpected argument `{other}`")),
            }
        }
        Ok(o)
    }
}

/// Checks a spec: the files it read (itself first, then its includes), or its rendered
/// diagnostics. The CLI passes `ember_codegen::load`.
pub type Check<'a> = &'a dyn Fn(&Path) -> Result<Vec<String>, String>;

/// What the loop does next after a step (the decisions of [`run`], kept apart from I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The spec has errors: print them, keep the old server.
    SpecError,
    /// The build failed: keep the old server.
    BuildFailed,
    /// The build succeeded: replace the server.
    Restart,
}

/// The loop's state: whether a server runs, and the outcome of each round.
#[derive(Debug, Default)]
pub struct Loop {
    /// Rounds finished, by outcome (indexed by `Step as usize`).
    pub counts: [usize; 3],
}

impl Loop {
    /// The step after one round: the spec check, then (if it passed) the build.
    pub fn decide(&mut self, spec_ok: bool, build_ok: Option<bool>) -> Step {
        let step = match (spec_ok, build_ok) {
            (false, _) => Step::SpecError,
            (true, Some(true)) => Step::Restart,
            (true, _) => Step::BuildFailed,
        };
        self.counts[step as usize] += 1;
        step
    }
}

/// Runs the loop until `SIGINT` or `SIGTERM` (then stops the server and returns).
pub fn run(opts: &Options, check: Check<'_>) -> std::io::Result<()> {
    let root = opts
        .spec
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    process::on_stop_signals();
    let mut watcher = watch::Watcher::new()?;
    let mut server: Option<process::Server> = None;
    let mut state = Loop::default();
    loop {
        eprintln!("[ember dev] checking {}", opts.spec.display());
        let spec = check(&opts.spec);
        let mut watched: Vec<PathBuf> = vec![
            root.join("src"),
            root.join("build.rs"),
            root.join("Cargo.toml"),
            opts.spec.clone(),
        ];
        let build = match &spec {
            Ok(files) => {
                watched.extend(files.iter().map(PathBuf::from));
                Some(process::build(&root, opts.package.as_deref()))
            }
            Err(_) => None,
        };
        let step = state.decide(spec.is_ok(), build.as_ref().map(Result::is_ok));
        match (step, spec, build) {
            (Step::SpecError, Err(d), _) => {
                eprint!("{d}");
                eprintln!("[ember dev] spec error: the running server is kept");
            }
            (Step::Restart, _, Some(Ok(exe))) => {
                if let Some(old) = server.take() {
                    old.stop();
                }
                match process::Server::start(&exe, &opts.args, &root) {
                    Ok(s) => {
                        eprintln!("[ember dev] serving (pid {})", s.pid());
                        server = Some(s);
                    }
                    Err(e) => eprintln!("[ember dev] cannot start {}: {e}", exe.display()),
                }
            }
            (_, _, Some(Err(e))) => {
                eprintln!("[ember dev] build failed ({e}): the running server is kept");
            }
            _ => {}
        }
        watcher.watch(&watched);
        eprintln!("[ember dev] watching for changes");
        if !watcher.wait(opts.debounce, process::stop_requested) {
            break;
        }
    }
    eprintln!("[ember dev] stopping");
    if let Some(s) = server.take() {
        s.stop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_spec_package_and_server_arguments() {
        let args: Vec<String> = ["--spec", "app/ember.yaml", "-p", "tasks", "--", "--x", "1"]
            .map(String::from)
            .to_vec();
        let o = Options::from_args(&args).expect("valid");
        assert_eq!(o.spec, PathBuf::from("app/ember.yaml"));
        assert_eq!(o.package.as_deref(), Some("tasks"));
        assert_eq!(o.args, ["--x", "1"]);
        assert!(Options::from_args(&["--spec".into()]).is_err());
        assert!(Options::from_args(&["--what".into()]).is_err());
    }

    #[test]
    fn only_a_good_spec_and_a_good_build_replace_the_server() {
        let mut l = Loop::default();
        assert_eq!(l.decide(false, None), Step::SpecError);
        assert_eq!(l.decide(true, Some(false)), Step::BuildFailed);
        assert_eq!(l.decide(true, Some(true)), Step::Restart);
        assert_eq!(l.counts, [1, 1, 1]);
    }
}
