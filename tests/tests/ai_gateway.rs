//! The AI gateway (issue 13) through the official `openai` Python SDK (the upstream test
//! server itself first, `tests/python/test_upstream.py`): for each backend,
//! from a clean start, two `ai_upstream` processes (A, B) and the `examples/chat` server
//! (`chat_server`) as subprocesses, then `tests/python/test_gateway.py` against them.
//! Every process this test starts is stopped by a drop guard (also when it panics), and
//! only those.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ember_tests::{BACKENDS, Client};

/// Serializes the suite runs of this binary's tests.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A child process, killed and reaped when dropped.
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    /// What the process wrote on stderr (after it was stopped).
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.name, self.child.id())
    }
}

/// Starts one `ai_upstream` on an ephemeral port; returns it and its address.
fn upstream(name: &str) -> (Proc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ai_upstream"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ai_upstream");
    let stdout = child.stdout.take().expect("piped stdout");
    let proc = Proc {
        name: format!("ai_upstream {name}"),
        child,
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("ai_upstream {name} printed {line:?}"));
    (proc, addr)
}

/// A port that was free a moment ago (the chat server takes an explicit `EMBER_LISTEN`).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

/// Waits until `addr` answers `GET /v1/models` with 200 (the child still running).
fn wait_ready(proc: &mut Proc, addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("{proc:?} exited early: {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            let mut c = Client::connect(addr);
            if c.get("/v1/models").status == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{proc:?} never answered on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `chat_server` binary (`examples/chat`), when this build has it.
fn chat_server_bin() -> Option<&'static str> {
    let bin = option_env!("CARGO_BIN_EXE_chat_server");
    if bin.is_none() {
        ember_runtime::test_util::require_or_skip(
            "ai_gateway",
            "no chat_server binary in this build (examples/chat not merged)",
        );
    }
    bin
}

/// Runs `tests/python/<file>` with pytest and `env`; panics with its output on failure.
fn pytest(python: &Path, file: &str, env: &[(&str, String)], label: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(python);
    cmd.current_dir(dir)
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
        .arg(dir.join("python").join(file));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("--- {file} on {label} ---\n{text}");
    assert!(out.status.success(), "{file} failed on {label}:\n{text}");
}

/// Which server a suite run starts.
#[derive(Debug, Clone, Copy)]
enum Gateway {
    /// `examples/chat` (`chat_server`): the contract of issue 13, point 5.
    ChatExample(&'static str),
    /// The e2e app (`tests/ember.yaml`'s `ai:` section, `ai_app_server`): the same
    /// `ember-chat`, plus a `latency` model and a user AI route with `Sse::tokens`.
    E2eApp,
}

/// One suite run on `backend` from a clean start: fresh upstreams, a fresh server process.
fn run_suite(python: &Path, gateway: Gateway, backend: ember_runtime::Backend) {
    // One suite at a time: the timing checks (cooldown, disconnect within 1 s) need the
    // machine's cores for themselves.
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (a, a_addr) = upstream("A");
    let (b, b_addr) = upstream("B");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (bin, label) = match gateway {
        Gateway::ChatExample(bin) => (bin, format!("chat_server on {backend}")),
        Gateway::E2eApp => (
            env!("CARGO_BIN_EXE_ai_app_server"),
            format!("ai_app_server on {backend}"),
        ),
    };
    let mut cmd = Command::new(bin);
    cmd.env("EMBER_LISTEN", addr.to_string())
        .env("EMBER_BACKEND", backend.to_string())
        .env("EMBER_WORKERS", "2")
        .env("CHAT_UPSTREAM_A", format!("http://{a_addr}/v1"))
        .env("CHAT_UPSTREAM_B", format!("http://{b_addr}/v1"))
        .env_remove("CHAT_API_KEY")
        // ai state (issue 14): a budget this suite's many requests from one IP never reach.
        .env("CHAT_TPM", "1000000000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut env = vec![
        ("GATEWAY_URL", format!("http://{addr}/v1")),
        ("GATEWAY_KIND", "ember".to_owned()),
        ("UPSTREAM_A", format!("http://{a_addr}")),
        ("UPSTREAM_B", format!("http://{b_addr}")),
    ];
    let mut extra = Vec::new();
    if let Gateway::E2eApp = gateway {
        let (slow, slow_addr) = upstream("slow");
        let (fast, fast_addr) = upstream("fast");
        cmd.env("EMBER_TEST_AI_SLOW", format!("http://{slow_addr}/v1"))
            .env("EMBER_TEST_AI_FAST", format!("http://{fast_addr}/v1"));
        env.extend([
            ("LATENCY_URL", format!("http://{addr}/v1")),
            ("LATENCY_MODEL", "ember-latency".to_owned()),
            ("LATENCY_SLOW", format!("http://{slow_addr}")),
            ("LATENCY_FAST", format!("http://{fast_addr}")),
            ("SSE_URL", format!("http://{addr}/ai/tokens")),
        ]);
        extra.extend([slow, fast]);
    } else {
        // The chat example's user AI route answers with `Sse::tokens` too.
        env.push(("SSE_URL", format!("http://{addr}/v1/summarize")));
    }
    let child = cmd.spawn().expect("spawn the gateway server");
    let mut server = Proc {
        name: label.clone(),
        child,
    };
    wait_ready(&mut server, addr);
    let result = std::panic::catch_unwind(|| {
        pytest(python, "test_gateway.py", &env, &label);
    });
    let stderr = server.stop();
    drop((a, b, extra));
    if let Err(e) = result {
        eprintln!("--- {label} stderr ---\n{stderr}");
        std::panic::resume_unwind(e);
    }
}

#[test]
fn openai_sdk_against_the_chat_example_on_both_backends() {
    let Some(python) = ember_tests::python("ai_gateway") else {
        return;
    };
    let Some(chat) = chat_server_bin() else {
        return;
    };
    for backend in BACKENDS {
        run_suite(&python, Gateway::ChatExample(chat), backend);
    }
}

#[test]
fn openai_sdk_against_the_e2e_app_gateway_on_both_backends() {
    let Some(python) = ember_tests::python("ai_gateway") else {
        return;
    };
    for backend in BACKENDS {
        run_suite(&python, Gateway::E2eApp, backend);
    }
}

#[test]
fn ai_upstream_answers_as_openai_does_for_the_sdk() {
    let Some(python) = ember_tests::python("ai_gateway") else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (up, addr) = upstream("direct");
    pytest(
        &python,
        "test_upstream.py",
        &[("UPSTREAM", format!("http://{addr}"))],
        "ai_upstream",
    );
    drop(up);
}
