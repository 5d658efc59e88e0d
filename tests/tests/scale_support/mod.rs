//! scale (issue 18): a real topology on 127.0.0.1 — instances of the e2e app as processes
//! (`scale_instance`), HAProxy in front with a generated config, and Redis Clusters of the
//! test's own when it needs to break one.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ember_runtime::Backend;
use ember_runtime::test_util::{free_port, require_or_skip};
use ember_tests::{Reply, parse_reply};

/// Serializes the topology tests of one test binary: each starts several processes, and
/// the machine has two cores.
pub(crate) static TOPOLOGY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A name unique to this run (process id and clock), for keys, tags and clients.
pub(crate) fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{what}-{}-{nanos}", std::process::id())
}

/// The shared cluster's target (`cluster:redis://…,…`) from `REDIS_CLUSTER_NODES`, if its
/// first node answers; else skips (fails under CI).
pub(crate) fn shared_cluster() -> Option<String> {
    let raw = std::env::var("REDIS_CLUSTER_NODES").unwrap_or_default();
    let first = raw.split(',').next().unwrap_or_default().trim();
    let addr = first.trim_start_matches("redis://").trim_end_matches('/');
    let up = !addr.is_empty()
        && addr
            .parse::<SocketAddr>()
            .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    if up {
        return Some(format!("cluster:{raw}"));
    }
    require_or_skip(
        "a Redis Cluster (REDIS_CLUSTER_NODES)",
        "no node answers; .ci/run starts one",
    );
    None
}

/// The HAProxy binary (`EMBER_HAPROXY`, else `/usr/sbin/haproxy`), if present.
pub(crate) fn haproxy_bin() -> Option<PathBuf> {
    let p = std::env::var_os("EMBER_HAPROXY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"));
    if p.exists() {
        return Some(p);
    }
    require_or_skip("HAProxy", "not installed; .ci/run installs it");
    None
}

/// Whether `redis-server` and `redis-cli` run.
pub(crate) fn redis_tools() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("redis-cli")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        require_or_skip("redis-server and redis-cli", "not installed");
    }
    ok
}

/// One Ember instance (a `scale_instance` process).
pub(crate) struct Instance {
    pub(crate) port: u16,
    child: Option<Child>,
    backend: Backend,
    redis: String,
    drain_ms: u64,
    /// More environment variables of the process.
    env: Vec<(String, String)>,
}

impl Instance {
    /// Starts an instance on a free port and waits until `/livez` answers.
    pub(crate) fn start(backend: Backend, redis: &str, drain_ms: u64) -> Instance {
        Instance::start_with(backend, redis, drain_ms, &[])
    }

    /// [`Instance::start`] with more environment variables.
    pub(crate) fn start_with(
        backend: Backend,
        redis: &str,
        drain_ms: u64,
        env: &[(&str, String)],
    ) -> Instance {
        let port = free_port().expect("a free port");
        let mut i = Instance {
            port,
            child: None,
            backend,
            redis: redis.to_owned(),
            drain_ms,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        i.spawn();
        i
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_scale_instance"))
            .env("EMBER_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("EMBER_WORKERS", "1")
            .env("EMBER_BACKEND", self.backend.as_str())
            .env("EMBER_DRAIN_MS", self.drain_ms.to_string())
            .env("EMBER_SCALE_REDIS", &self.redis)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scale_instance");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if get(self.addr(), "/livez", &[]).is_some_and(|r| r.status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("instance on port {} did not start", self.port);
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub(crate) fn term(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }

    /// Waits for the process to exit (at most `limit`); whether it did.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Starts the instance again on the same port (after it exited).
    pub(crate) fn restart(&mut self) {
        self.spawn();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HAProxy process in front of `servers`: round robin, health checks on `check`.
pub(crate) struct Haproxy {
    pub(crate) port: u16,
    child: Child,
    dir: PathBuf,
}

impl Haproxy {
    /// Starts HAProxy and waits until every server is up (a request through it answers).
    pub(crate) fn start(bin: &PathBuf, servers: &[u16], check: &str) -> Haproxy {
        let port = free_port().expect("a free port");
        let dir = std::env::temp_dir().join(unique("ember-haproxy"));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let mut cfg = format!(
            "global\n  maxconn 4096\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  \
             timeout http-keep-alive 30s\n  retries 3\n  option redispatch 1\n  \
             retry-on conn-failure empty-response response-timeout\n  option http-server-close\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\
             backend be\n  balance roundrobin\n  option httpchk GET {check}\n  http-check expect status 200\n  \
             default-server inter 200ms fall 2 rise 2\n"
        );
        for (i, p) in servers.iter().enumerate() {
            cfg.push_str(&format!("  server s{i} 127.0.0.1:{p} check\n"));
        }
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, cfg).expect("write haproxy.cfg");
        let child = Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let h = Haproxy { port, child, dir };
        // Servers start down until `rise` checks pass: wait for each to answer through it.
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut ok = 0;
        while Instant::now() < deadline && ok < 3 * servers.len() {
            match get(h.addr(), "/livez", &[]) {
                Some(r) if r.status == 200 => ok += 1,
                _ => ok = 0,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Every server has passed `rise` checks by now (they started together).
        std::thread::sleep(Duration::from_millis(600));
        h
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One request on a fresh connection (`Connection: close`); `None` if it failed.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    parse_reply(&buf, false).map(|(r, _)| r)
}

/// A JSON POST on a fresh connection (`Connection: close`); `None` if it failed.
pub(crate) fn post_json(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    parse_reply(&buf, false).map(|(r, _)| r)
}

/// The OpenAI-compatible test upstream (`ai_upstream`) on a free port, killed when dropped.
pub(crate) struct AiUpstream {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl AiUpstream {
    pub(crate) fn start() -> AiUpstream {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ai_upstream"))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ai_upstream");
        let mut out = child.stdout.take().expect("piped stdout");
        // The first line is `listening on ADDR`.
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).is_ok_and(|n| n == 1) && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("ai_upstream printed {line:?}"));
        AiUpstream { child, addr }
    }

    /// Its `/control/stats` (requests, `last_request`, …).
    pub(crate) fn stats(&self) -> serde_json::Value {
        let r = get(self.addr, "/control/stats", &[]).expect("stats");
        serde_json::from_slice(&r.body).expect("stats JSON")
    }
}

impl Drop for AiUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET on a fresh connection.
pub(crate) fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Option<Reply> {
    request(addr, "GET", path, headers)
}

/// A Redis Cluster of the test's own: `masters` masters with one replica each (failover
/// after `cluster-node-timeout` 1000 ms), on free ports, stopped when dropped.
pub(crate) struct OwnCluster {
    pub(crate) ports: Vec<u16>,
    pids: Vec<u32>,
    dir: PathBuf,
}

impl OwnCluster {
    pub(crate) fn start(masters: usize) -> OwnCluster {
        let dir = std::env::temp_dir().join(unique("ember-cluster"));
        let mut ports = Vec::new();
        let mut pids = Vec::new();
        for _ in 0..masters * 2 {
            let port = free_port().expect("a free port");
            let d = dir.join(port.to_string());
            std::fs::create_dir_all(&d).expect("dir");
            let pidfile = d.join("pid");
            let st = Command::new("redis-server")
                .current_dir(&d)
                .args([
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "yes",
                    "--pidfile",
                ])
                .arg(&pidfile)
                .stdout(Stdio::null())
                .status()
                .expect("redis-server");
            assert!(st.success());
            ports.push(port);
            let deadline = Instant::now() + Duration::from_secs(5);
            let pid = loop {
                if let Ok(t) = std::fs::read_to_string(&pidfile)
                    && let Ok(p) = t.trim().parse::<u32>()
                {
                    break p;
                }
                assert!(
                    Instant::now() < deadline,
                    "redis-server {port} did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            pids.push(pid);
        }
        let cluster = OwnCluster { ports, pids, dir };
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(cluster.wait_ok(Duration::from_secs(20)), "cluster not ok");
        // A replica only takes over once it has synced with its master.
        let deadline = Instant::now() + Duration::from_secs(30);
        for p in &cluster.ports {
            loop {
                let info = Self::cli(*p, &["info", "replication"]);
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                assert!(Instant::now() < deadline, "replica {p} never synced");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        cluster
    }

    /// `cluster:redis://…` for every node.
    pub(crate) fn target(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        format!("cluster:{}", nodes.join(","))
    }

    fn cli(port: u16, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Waits until every live node says `cluster_state:ok`.
    pub(crate) fn wait_ok(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let all = self
                .ports
                .iter()
                .zip(&self.pids)
                .filter(|(_, pid)| **pid != 0)
                .all(|(p, _)| Self::cli(*p, &["cluster", "info"]).contains("cluster_state:ok"));
            if all {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Kills (SIGKILL) the first node that is a master; its port.
    pub(crate) fn kill_a_master(&mut self) -> u16 {
        for i in 0..self.ports.len() {
            let port = self.ports[i];
            if Self::cli(port, &["role"]).starts_with("master") {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pids[i].to_string()])
                    .status();
                self.pids[i] = 0;
                return port;
            }
        }
        panic!("no master found");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        for pid in &self.pids {
            if *pid != 0 {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
