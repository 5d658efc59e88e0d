//! AI state (issue 14): conversation context and token limits through the official
//! `openai` Python SDK (`tests/python/test_state.py`), on both backends, each from a clean
//! start (fresh upstreams, fresh server processes, unique conversation ids and client
//! addresses, and — for Redis — a key prefix of its own):
//!
//! * memory stores: the `examples/chat` contract (`chat_server`, `CHAT_TPM`,
//!   `CHAT_MAX_PROMPT_TOKENS`);
//! * Redis stores: the e2e app (`ai_app_server`, `tests/ember.yaml`'s `ai.context` and
//!   `ai.limits` in Redis), two instances sharing one Redis, and a conversation that
//!   survives a restart.
//!
//! Every process this test starts is stopped by a drop guard (also when it panics).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ember_tests::{BACKENDS, Client};

/// One suite at a time (the burst test wants the cores).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
static RUNS: AtomicU32 = AtomicU32::new(0);

/// The per-IP budget and prompt cap the servers run with.
const TPM: &str = "2000";
const MAX_PROMPT: &str = "300";

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

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
}

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

/// Starts `bin` on a fresh address with `env`; waits until it answers.
fn server(
    bin: &str,
    label: &str,
    backend: ember_runtime::Backend,
    ups: (SocketAddr, SocketAddr),
    env: &[(&str, String)],
) -> (Proc, SocketAddr) {
    let addr = free_addr();
    let mut cmd = Command::new(bin);
    cmd.env("EMBER_LISTEN", addr.to_string())
        .env("EMBER_BACKEND", backend.to_string())
        .env("EMBER_WORKERS", "2")
        .env("CHAT_UPSTREAM_A", format!("http://{}/v1", ups.0))
        .env("CHAT_UPSTREAM_B", format!("http://{}/v1", ups.1))
        .env_remove("CHAT_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut p = Proc {
        name: format!("{label} on {backend}"),
        child: cmd.spawn().expect("spawn the gateway server"),
    };
    wait_ready(&mut p, addr);
    (p, addr)
}

/// Runs `tests/python/test_state.py` with `env`; panics with its output on failure.
fn pytest(python: &Path, env: &[(&str, String)], label: &str, servers: Vec<Proc>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(python);
    cmd.current_dir(dir)
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
        .arg(dir.join("python").join("test_state.py"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("--- test_state.py on {label} ---\n{text}");
    if !out.status.success() {
        for s in servers {
            let name = s.name.clone();
            eprintln!("--- {name} stderr ---\n{}", s.stop());
        }
        panic!("test_state.py failed on {label}:\n{text}");
    }
}

/// A run id unique to this process and run (hex: the Python side derives addresses from it).
fn run_id() -> String {
    format!(
        "{:x}{:02x}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

fn base_env(addr: SocketAddr, a: SocketAddr, run: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GATEWAY_URL", format!("http://{addr}/v1")),
        ("UPSTREAM_A", format!("http://{a}")),
        ("TPM", TPM.to_owned()),
        ("MAX_PROMPT", MAX_PROMPT.to_owned()),
        ("RUN_ID", run.to_owned()),
    ]
}

#[test]
fn context_and_token_limits_in_memory_on_the_chat_example() {
    let Some(python) = ember_tests::python("ai_state") else {
        return;
    };
    let Some(bin) = option_env!("CARGO_BIN_EXE_chat_server") else {
        return;
    };
    for backend in BACKENDS {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let (a, a_addr) = upstream("A");
        let (b, b_addr) = upstream("B");
        let env = [
            ("CHAT_TPM", TPM.to_owned()),
            ("CHAT_MAX_PROMPT_TOKENS", MAX_PROMPT.to_owned()),
        ];
        let (s, addr) = server(bin, "chat_server", backend, (a_addr, b_addr), &env);
        let run = run_id();
        let label = format!("chat_server (memory) on {backend}");
        pytest(&python, &base_env(addr, a_addr, &run), &label, vec![s]);
        drop((a, b));
    }
}

#[test]
fn context_and_token_limits_in_redis_shared_by_two_instances_and_across_a_restart() {
    let Some(python) = ember_tests::python("ai_state") else {
        return;
    };
    let Some(_) = ember_tests::require_service("ai_state", "REDIS_URL", "redis://127.0.0.1:6379")
    else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_ai_app_server");
    for backend in BACKENDS {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let (a, a_addr) = upstream("A");
        let (b, b_addr) = upstream("B");
        let ups = (a_addr, b_addr);
        let run = run_id();
        let env = [
            ("EMBER_TEST_AI_TPM", TPM.to_owned()),
            ("EMBER_TEST_AI_MAX_PROMPT", MAX_PROMPT.to_owned()),
            ("EMBER_TEST_AI_PREFIX", format!("ember:test:aistate:{run}:")),
            // The app's AI stores use its top-level `redis:`.
            (
                "EMBER_SCALE_REDIS",
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            ),
        ];
        let (s1, addr1) = server(bin, "ai_app_server 1", backend, ups, &env);
        let (s2, addr2) = server(bin, "ai_app_server 2", backend, ups, &env);
        let label = format!("two ai_app_servers (redis) on {backend}");
        let mut penv = base_env(addr1, a_addr, &run);
        penv.push(("GATEWAY_URL_2", format!("http://{addr2}/v1")));
        penv.push(("REMEMBER_URL", format!("http://{addr1}/ai/remember")));
        pytest(&python, &penv, &label, vec![s1, s2]);

        // A conversation stored by one process is there for the next one.
        let conv = format!("restart-{run}");
        let state = std::env::temp_dir().join(format!("ember-ai-state-{run}.txt"));
        let (s1, addr1) = server(bin, "ai_app_server before", backend, ups, &env);
        let mut penv = base_env(addr1, a_addr, &run);
        penv.extend([
            ("PHASE", "before_restart".to_owned()),
            ("CONV_ID", conv.clone()),
            ("STATE_FILE", state.display().to_string()),
        ]);
        pytest(
            &python,
            &penv,
            &format!("before a restart on {backend}"),
            vec![],
        );
        drop(s1.stop());
        let (s2, addr2) = server(bin, "ai_app_server after", backend, ups, &env);
        let mut penv = base_env(addr2, a_addr, &run);
        penv.extend([
            ("PHASE", "after_restart".to_owned()),
            ("CONV_ID", conv),
            ("STATE_FILE", state.display().to_string()),
        ]);
        pytest(
            &python,
            &penv,
            &format!("after a restart on {backend}"),
            vec![s2],
        );
        let _ = std::fs::remove_file(state);
        drop((a, b));
    }
}
