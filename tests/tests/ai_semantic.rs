//! The gateway's semantic cache (issue 14, points 3 and 5) through the official `openai`
//! Python SDK (`tests/python/test_semantic.py`), for each backend from a clean start:
//!
//! * `examples/chat` (`chat_server`, memory store): lexical paraphrases hit, unrelated
//!   prompts miss, a streamed hit is a valid OpenAI stream, another system prompt, model or
//!   sampling parameter misses, only `temperature: 0` is cached, a cut answer is not;
//! * the e2e app (`ai_app_server`, `store: redis` with a prefix of this run's own): an entry
//!   one instance stored hits on another; an instance whose Redis is down caches locally.
//!
//! Fresh `ai_upstream` processes and servers per run; every process this test starts is
//! stopped by a drop guard, and only those.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ember_tests::{BACKENDS, Client};

/// One run at a time (they share the machine's two cores with the SDK).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A child process, killed and reaped when dropped.
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
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

/// One `ai_upstream` on an ephemeral port, and its address.
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

/// Starts `bin` on `backend` in front of upstreams `a` and `b`, with `env`; waits until it
/// answers.
fn server(
    bin: &str,
    label: &str,
    backend: ember_runtime::Backend,
    (a, b): (SocketAddr, SocketAddr),
    env: &[(&str, String)],
) -> (Proc, SocketAddr) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut cmd = Command::new(bin);
    cmd.env("EMBER_LISTEN", addr.to_string())
        .env("EMBER_BACKEND", backend.to_string())
        .env("EMBER_WORKERS", "2")
        .env("CHAT_UPSTREAM_A", format!("http://{a}/v1"))
        .env("CHAT_UPSTREAM_B", format!("http://{b}/v1"))
        .env_remove("CHAT_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut proc = Proc {
        name: format!("{label} on {backend}"),
        child: cmd.spawn().expect("spawn the gateway server"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("{proc:?} exited early: {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            && Client::connect(addr).get("/v1/models").status == 200
        {
            return (proc, addr);
        }
        assert!(Instant::now() < deadline, "{proc:?} never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `tests/python/test_semantic.py` with `env`; panics with its output on failure.
fn pytest(python: &Path, env: &[(&str, String)], label: &str, want: &str, servers: Vec<Proc>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(python);
    cmd.current_dir(dir)
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
        .arg(dir.join("python").join("test_semantic.py"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("--- test_semantic.py on {label} ---\n{text}");
    if !out.status.success() {
        for s in servers {
            let name = s.name.clone();
            eprintln!("--- {name} stderr ---\n{}", s.stop());
        }
        panic!("test_semantic.py failed on {label}:\n{text}");
    }
    // Each mode runs all of its own tests (none skipped by mistake).
    assert!(text.contains(want), "{label}: want {want}: {text}");
}

#[test]
fn semantic_cache_of_the_chat_example_on_both_backends() {
    let Some(python) = ember_tests::python("ai_semantic") else {
        return;
    };
    let Some(chat) = option_env!("CARGO_BIN_EXE_chat_server") else {
        ember_runtime::test_util::require_or_skip("ai_semantic", "no chat_server binary");
        return;
    };
    for backend in BACKENDS {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let (a, a_addr) = upstream("A");
        let (b, b_addr) = upstream("B");
        let (gw, addr) = server(chat, "chat_server", backend, (a_addr, b_addr), &[]);
        let env = [
            ("SEMANTIC_MODE", "example".to_owned()),
            ("GATEWAY_URL", format!("http://{addr}/v1")),
            ("UPSTREAM_A", format!("http://{a_addr}")),
            ("UPSTREAM_B", format!("http://{b_addr}")),
        ];
        pytest(
            &python,
            &env,
            &format!("chat_server on {backend}"),
            "8 passed, 2 skipped",
            vec![gw],
        );
        drop((a, b));
    }
}

#[test]
fn semantic_cache_shared_through_redis_on_both_backends() {
    let Some(python) = ember_tests::python("ai_semantic") else {
        return;
    };
    let Some(redis) =
        ember_tests::require_service("ai_semantic", "REDIS_URL", "redis://127.0.0.1:6379")
    else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_ai_app_server");
    for backend in BACKENDS {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        // A prefix of this run's own: no entry of another run or test is seen.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let prefix = format!("ember-test-sem:{}:{nanos}:{backend}:", std::process::id());
        let (a, a_addr) = upstream("A");
        let (b, b_addr) = upstream("B");
        let ups = (a_addr, b_addr);
        // The app's semantic cache uses its top-level `redis:` (EMBER_SCALE_REDIS).
        let shared = [
            ("EMBER_SCALE_REDIS", format!("redis://{redis}")),
            ("EMBER_TEST_SEM_PREFIX", prefix.clone()),
        ];
        let (one, addr1) = server(bin, "ai_app_server #1", backend, ups, &shared);
        let (two, addr2) = server(bin, "ai_app_server #2", backend, ups, &shared);
        // Redis unreachable (a port nothing listens on): the cache must work locally.
        let closed = format!("redis://127.0.0.1:{}", free_port());
        let down_env = [
            ("EMBER_SCALE_REDIS", closed),
            ("EMBER_TEST_SEM_PREFIX", prefix.clone()),
        ];
        let (down, addr3) = server(bin, "ai_app_server (Redis down)", backend, ups, &down_env);
        let env = [
            ("SEMANTIC_MODE", "shared".to_owned()),
            ("GATEWAY_URL", format!("http://{addr1}/v1")),
            ("GATEWAY_URL_2", format!("http://{addr2}/v1")),
            ("GATEWAY_URL_DOWN", format!("http://{addr3}/v1")),
            ("UPSTREAM_A", format!("http://{a_addr}")),
            ("UPSTREAM_B", format!("http://{b_addr}")),
        ];
        pytest(
            &python,
            &env,
            &format!("ai_app_server x3 on {backend}"),
            "2 passed, 8 skipped",
            vec![one, two, down],
        );
        drop((a, b));
    }
}
