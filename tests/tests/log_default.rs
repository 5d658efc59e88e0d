//! The default `tracing` subscriber of `ember_runtime::run`, seen from outside: the
//! `ember_log_probe` binary serves the e2e app, a request to `/c/flaky/…` (a Redis cache
//! pointed at the refused port 127.0.0.1:1) makes the runtime warn, one to `/mw/qkey/…`
//! (API keys from `EMBER_TEST_API_KEYS`, left unset) makes it log an error, and the
//! binary's stderr shows whether they got out, under `EMBER_LOG`, `RUST_LOG`, neither,
//! and with a subscriber the app installed itself.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ember_tests::Client;

/// What the probe wrote to stderr.
struct Run {
    lines: Vec<String>,
}

impl Run {
    /// Lines of the cache warning (`WARN` and the cache's name).
    fn warnings(&self) -> Vec<&String> {
        self.lines
            .iter()
            .filter(|l| l.contains("WARN") && l.contains("flaky"))
            .collect()
    }

    /// Lines of the error about the unset secret variable.
    fn errors(&self) -> Vec<&String> {
        self.lines
            .iter()
            .filter(|l| l.contains("ERROR") && l.contains("EMBER_TEST_API_KEYS"))
            .collect()
    }
}

/// Whether `line` is one of the two log lines the probe's requests cause.
fn expected(line: &str) -> (bool, bool) {
    (
        line.contains("WARN") && line.contains("flaky"),
        line.contains("ERROR") && line.contains("EMBER_TEST_API_KEYS"),
    )
}

/// Starts the probe with `env`, makes the flaky cache warn and the API-key middleware
/// report its unset variable, waits up to `wait` for both lines, stops the probe
/// (SIGTERM, by PID) and returns its stderr.
fn probe(env: &[(&str, &str)], wait: Duration) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ember_log_probe"));
    for var in [
        "EMBER_LOG",
        "RUST_LOG",
        "EMBER_PROBE_OWN_SUBSCRIBER",
        "EMBER_TEST_FLAKY_REDIS",
        "EMBER_TEST_API_KEYS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("EMBER_LISTEN", "127.0.0.1:0")
        .env("EMBER_WORKERS", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the probe starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr: SocketAddr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("the probe did not say where it listens: {lines:?}");
        };
        let found = line
            .strip_prefix("ember: listening on http://")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|a| a.parse().ok());
        lines.push(line);
        if let Some(a) = found {
            break a;
        }
    };
    let r = Client::connect(addr).get(&format!("/c/flaky/log-{}", std::process::id()));
    assert_eq!(r.status, 200, "the cache fails open: {}", r.text());
    let r = Client::connect(addr).get("/mw/qkey/whoami?api_key=k");
    assert_eq!(r.status, 401, "no key is accepted: {}", r.text());
    // The warning may come from a task that runs after the answer: wait for both lines
    // (or for `wait`, when one must not come).
    let (mut warned, mut errored) = lines.iter().fold((false, false), |(w, e), l| {
        let (lw, le) = expected(l);
        (w || lw, e || le)
    });
    let until = Instant::now() + wait;
    while !(warned && errored) {
        let Ok(line) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) else {
            break;
        };
        let (w, e) = expected(&line);
        warned |= w;
        errored |= e;
        lines.push(line);
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "SIGTERM to the probe");
    let _ = child.wait();
    let _ = reader.join();
    lines.extend(rx.try_iter());
    Run { lines }
}

const WARNING_WAIT: Duration = Duration::from_secs(10);
const SILENCE_WAIT: Duration = Duration::from_millis(1500);

#[test]
fn warnings_are_seen_by_default() {
    let run = probe(&[], WARNING_WAIT);
    let warnings = run.warnings();
    assert_eq!(warnings.len(), 1, "{:?}", run.lines);
    assert!(warnings[0].contains("failing open"), "{warnings:?}");
    assert!(!warnings[0].starts_with("app-subscriber|"));
    // An unset secret variable is reported too.
    assert_eq!(run.errors().len(), 1, "{:?}", run.lines);
}

#[test]
fn ember_log_error_silences_warnings() {
    let run = probe(&[("EMBER_LOG", "error")], SILENCE_WAIT);
    assert!(run.warnings().is_empty(), "{:?}", run.lines);
    // Errors still get out: the filter is a level, not silence.
    assert_eq!(run.errors().len(), 1, "{:?}", run.lines);
}

#[test]
fn rust_log_is_the_fallback_and_ember_log_wins() {
    let run = probe(&[("RUST_LOG", "error")], SILENCE_WAIT);
    assert!(run.warnings().is_empty(), "RUST_LOG=error: {:?}", run.lines);
    assert_eq!(run.errors().len(), 1, "RUST_LOG=error: {:?}", run.lines);
    let run = probe(&[("RUST_LOG", "off")], SILENCE_WAIT);
    assert!(
        run.warnings().is_empty() && run.errors().is_empty(),
        "RUST_LOG=off: {:?}",
        run.lines
    );
    let run = probe(
        &[("RUST_LOG", "error"), ("EMBER_LOG", "warn")],
        WARNING_WAIT,
    );
    assert_eq!(
        run.warnings().len(),
        1,
        "EMBER_LOG=warn over RUST_LOG=error: {:?}",
        run.lines
    );
}

#[test]
fn a_bad_filter_is_reported_and_warn_is_used() {
    let run = probe(&[("EMBER_LOG", "warn,=[")], WARNING_WAIT);
    assert!(
        run.lines
            .iter()
            .any(|l| l.contains("EMBER_LOG=`warn,=[`") && l.contains("not a log filter")),
        "{:?}",
        run.lines
    );
    assert_eq!(run.warnings().len(), 1, "{:?}", run.lines);
}

#[test]
fn an_app_subscriber_is_kept() {
    // EMBER_LOG=error would silence the default subscriber: the app's own (at INFO) is the
    // one that must get the warning, and nothing is printed twice.
    let run = probe(
        &[("EMBER_PROBE_OWN_SUBSCRIBER", "1"), ("EMBER_LOG", "error")],
        WARNING_WAIT,
    );
    let warnings = run.warnings();
    assert_eq!(warnings.len(), 1, "{:?}", run.lines);
    assert!(warnings[0].starts_with("app-subscriber| "), "{warnings:?}");
}
