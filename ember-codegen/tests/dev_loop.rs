//! `ember-codegen dev` end to end (issue 16): a new app (from `ember-codegen new`, its
//! path dependencies on this workspace's crates) in a temporary directory, served by the
//! dev loop; editing a handler serves the new answer on the same port; a bad spec prints
//! its located diagnostic while the old server keeps answering; fixing it reloads.
//!
//! Part of the whole suite (`cargo test --workspace`): it builds an app, about 3 to 6
//! minutes on a 2-core machine the first time, under a minute per rebuild after, as its
//! target directory under this workspace's `target/` is kept. Alone:
//! `cargo test -p ember-codegen --test dev_loop`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// `target/` of this workspace (the test binary lives in `target/debug/deps/`).
fn target_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    let exe = std::env::current_exe().expect("exe");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace().join("target"))
}

/// A port free right now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `GET path` on a new connection: `(status, body)`, or `None` if nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Polls until `f` holds, or panics after `limit` with `what` and the dev output.
fn wait_for(limit: Duration, what: &str, log: &Arc<Mutex<String>>, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            eprintln!(
                "[test] {what}: after {:.1} s",
                start.elapsed().as_secs_f64()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{what}: not within {limit:?}\n--- dev output ---\n{}",
        log.lock().expect("log")
    );
}

/// Stops the dev loop (by its PID) when the test ends, even on a panic.
struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dev_rebuilds_restarts_on_the_same_port_and_keeps_serving_through_errors() {
    let base = target_dir().join("ember-dev-test");
    let app = base.join(format!("app-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&app);
    std::fs::create_dir_all(&base).expect("dir");
    let bin = env!("CARGO_BIN_EXE_ember-codegen");
    let made = Command::new(bin)
        .current_dir(&base)
        .args([
            "new",
            app.file_name().and_then(|n| n.to_str()).expect("name"),
        ])
        .arg("--ember-path")
        .arg(workspace())
        .output()
        .expect("new");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // Without the runtime's default features (the AI client and TLS): a shorter first build.
    let manifest = app.join("Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).expect("Cargo.toml");
    let lean = toml.replacen(
        "ember-runtime = { path",
        "ember-runtime = { default-features = false, path",
        1,
    );
    assert_ne!(lean, toml, "{toml}");
    std::fs::write(&manifest, lean).expect("Cargo.toml");
    // The workspace's lock: the same dependency versions, so rebuilds reuse artifacts.
    std::fs::copy(workspace().join("Cargo.lock"), app.join("Cargo.lock")).expect("lock");
    let port = free_port();
    let spec = app.join("ember.yaml");
    let yaml = std::fs::read_to_string(&spec)
        .expect("spec")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("workers: auto", "workers: 1");
    std::fs::write(&spec, &yaml).expect("spec");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");

    let mut child = Command::new(bin)
        .current_dir(&app)
        .arg("dev")
        .env("CARGO_TARGET_DIR", base.join("target"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dev");
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr");
    let dev = Dev(child);
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut l = sink.lock().expect("log");
            l.push_str(&line);
            l.push('\n');
        }
    });
    let answers = |want: &str| get(addr, "/").is_some_and(|(s, b)| s == 200 && b == want);

    // 1. The first build and start.
    wait_for(Duration::from_secs(900), "first answer", &log, || {
        answers("It works!\n")
    });

    // 2. A handler edit: rebuilt and restarted on the same port.
    let handlers = app.join("src/handlers.rs");
    let src = std::fs::read_to_string(&handlers).expect("handlers");
    std::fs::write(&handlers, src.replace("It works!", "Edited!")).expect("edit");
    wait_for(Duration::from_secs(300), "the edited answer", &log, || {
        answers("Edited!\n")
    });

    // 3. A bad spec: its diagnostic (with line:column) at once, the old server still up.
    let bad = yaml.replace("GET /hello/{name}: hello", "GET /hello/{name:nope}: hello");
    assert_ne!(bad, yaml);
    std::fs::write(&spec, &bad).expect("bad spec");
    wait_for(Duration::from_secs(60), "the spec diagnostic", &log, || {
        log.lock().expect("log").contains("ember.yaml:")
            && log.lock().expect("log").contains("spec error")
    });
    {
        let l = log.lock().expect("log");
        let at = l.rfind("ember.yaml:").expect("location");
        let loc: String = l[at + "ember.yaml:".len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        assert!(
            loc.split(':').filter(|p| !p.is_empty()).count() >= 2,
            "no line:column in {l}"
        );
    }
    assert!(
        answers("Edited!\n"),
        "the old server stopped on a spec error"
    );

    // 4. The fix, with a new route: reloaded.
    let fixed = yaml.replace(
        "GET /hello/{name}: hello",
        "GET /hello/{name}: hello\n  GET /again: index",
    );
    std::fs::write(&spec, fixed).expect("fixed spec");
    wait_for(Duration::from_secs(300), "the new route", &log, || {
        get(addr, "/again").is_some_and(|(s, b)| s == 200 && b == "Edited!\n")
    });

    // 5. Stopping the loop stops the server (the port is free again).
    drop(dev);
    wait_for(Duration::from_secs(20), "the server gone", &log, || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
    });
    let _ = std::fs::remove_dir_all(&app);
}
