//! The processes of the dev loop: `cargo build` (its binary found from cargo's JSON
//! messages, its diagnostics rendered to stderr as usual), the server (started with
//! inherited stdio, stopped by PID with `SIGTERM`), and the loop's own stop signals.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a stopped server may take to exit before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(15);

/// Runs `cargo build` in `root` (for `package`, if given): the built binary's path, or why
/// there is none (cargo has printed the diagnostics).
pub(super) fn build(root: &Path, package: Option<&str>) -> Result<PathBuf, String> {
    eprintln!("[ember dev] cargo build");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(p) = package {
        cmd.args(["--package", p]);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut exe: Option<PathBuf> = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(e) = executable(&line, package) {
                exe = Some(e);
            }
        }
    }
    let status = child.wait().map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build: {status}"));
    }
    exe.ok_or_else(|| "cargo built no binary (use --package in a workspace)".to_owned())
}

/// The executable a `compiler-artifact` message names (of `package`, when given).
fn executable(line: &str, package: Option<&str>) -> Option<PathBuf> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["reason"] != "compiler-artifact" {
        return None;
    }
    let kinds = v["target"]["kind"].as_array()?;
    if !kinds.iter().any(|k| k == "bin") {
        return None;
    }
    if let Some(p) = package {
        let name = v["target"]["name"].as_str().unwrap_or_default();
        let id = v["package_id"].as_str().unwrap_or_default();
        if name != p && !id.contains(&format!("#{p}@")) && !id.contains(&format!("/{p}#")) {
            return None;
        }
    }
    v["executable"].as_str().map(PathBuf::from)
}

/// A running server.
#[derive(Debug)]
pub(super) struct Server {
    child: Child,
}

impl Server {
    /// Starts `exe` with `args` in `dir`, its output on the loop's.
    pub(super) fn start(exe: &Path, args: &[String], dir: &Path) -> std::io::Result<Server> {
        let child = Command::new(exe).args(args).current_dir(dir).spawn()?;
        Ok(Server { child })
    }

    /// The server's process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `SIGTERM` and waits for the exit (so its port is free); kills it after
    /// [`STOP_WAIT`].
    pub(super) fn stop(mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            return;
        };
        // SAFETY: `kill` has no memory-safety preconditions; the PID is our own child's,
        // not yet reaped (so not reused).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!("[ember dev] stopped pid {pid} ({status})");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("[ember dev] pid {pid} did not stop in time: killed");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Set by `SIGINT`/`SIGTERM`.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes `SIGINT` and `SIGTERM` request a stop (see [`stop_requested`]) instead of ending
/// the loop at once, so the server is stopped too.
pub(super) fn on_stop_signals() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether a stop signal arrived.
pub(super) fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_comes_from_the_packages_bin_artifact() {
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///x/app#0.1.0","target":{"kind":["bin"],"name":"app"},"executable":"/t/debug/app"}"#;
        let lib = r#"{"reason":"compiler-artifact","package_id":"registry+x#serde@1.0.0","target":{"kind":["lib"],"name":"serde"},"executable":null}"#;
        assert_eq!(executable(bin, None), Some(PathBuf::from("/t/debug/app")));
        assert_eq!(
            executable(bin, Some("app")),
            Some(PathBuf::from("/t/debug/app"))
        );
        assert_eq!(executable(bin, Some("other")), None);
        assert_eq!(executable(lib, None), None);
        assert_eq!(executable("not json", None), None);
    }
}
