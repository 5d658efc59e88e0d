//! Sessions (issue 15) over real sockets, on both backends, in every store (`cookie`,
//! `memory`, `redis`): the login flow (`regenerate`: a new id, data kept, the old id dead),
//! logout (`destroy`), an id the client made up is never adopted, idle and absolute
//! expiry, Redis sessions shared by two server processes (and memory ones not), and a
//! Redis that is down (refused, or a black hole): an empty session and a request that
//! succeeds, or `503` when the session fails closed.
//!
//! Every session a test makes has a fresh random id, so tests and backends never see each
//! other's sessions; the two-process test gives its servers a Redis key prefix of its own.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ember_tests::{BACKENDS, Client, Reply, start};

/// Sends `method path` with an optional `Cookie` header.
fn send(addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>) -> Reply {
    let mut c = Client::connect(addr);
    let header = cookie.map_or(String::new(), |v| format!("Cookie: {v}\r\n"));
    c.send(
        format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{header}Content-Length: 0\r\n\r\n")
            .as_bytes(),
    );
    c.read_reply(false).expect("a reply")
}

/// The `Set-Cookie` line for `name`, if the reply has one.
fn set_cookie(r: &Reply, name: &str) -> Option<String> {
    r.headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with(&format!("{name}=")))
        .map(|(_, v)| v.clone())
}

/// The value of the `Set-Cookie` for `name`.
fn cookie_value(line: &str) -> String {
    line.split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

fn json(r: &Reply) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {} {}", r.status, r.text()))
}

/// A browser for one session store's routes: keeps the session cookie as a jar would.
struct Browser {
    addr: SocketAddr,
    prefix: String,
    name: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(addr: SocketAddr, store: &str) -> Browser {
        Browser {
            addr,
            prefix: format!("/s/{store}"),
            name: format!("t_{store}_session"),
            cookie: None,
        }
    }

    /// Sends a request with the current cookie; takes a new one (or its removal) from the
    /// reply. Returns the reply and its `Set-Cookie` for the session, if any.
    fn go(&mut self, method: &str, path: &str) -> (Reply, Option<String>) {
        let cookie = self.cookie.as_ref().map(|v| format!("{}={v}", self.name));
        let r = send(
            self.addr,
            method,
            &format!("{}{path}", self.prefix),
            cookie.as_deref(),
        );
        let set = set_cookie(&r, &self.name);
        if let Some(line) = &set {
            let v = cookie_value(line);
            self.cookie = (!v.is_empty()).then_some(v);
        }
        (r, set)
    }

    fn show(&mut self) -> serde_json::Value {
        let (r, _) = self.go("GET", "/show");
        assert_eq!(r.status, 200, "{}", r.text());
        json(&r)
    }
}

/// Whether the Redis the tests share answers (else the test is skipped, or fails in CI).
fn redis() -> bool {
    ember_tests::require_service("Redis", "REDIS_URL", "redis://127.0.0.1:6379").is_some()
}

#[test]
fn login_regenerates_the_id_keeps_the_data_and_logout_destroys_in_every_store() {
    let with_redis = redis();
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 2);
        let addr = server.local_addr();
        for store in ["cookie", "memory", "redis"] {
            if store == "redis" && !with_redis {
                continue;
            }
            let at = format!("{backend}/{store}");
            let server_side = store != "cookie";
            let mut b = Browser::new(addr, store);
            let v = b.show();
            assert!(v["id"].is_null() && v["n"].is_null(), "{at}: {v}");
            assert!(b.cookie.is_none(), "{at}: no cookie for an unused session");

            // A new session with data: the cookie, with the configured attributes.
            let (r, set) = b.go("POST", "/incr");
            assert_eq!(json(&r)["n"], 1, "{at}");
            let line = set.unwrap_or_else(|| panic!("{at}: no Set-Cookie"));
            for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
                assert!(
                    line.split("; ").any(|a| a == attr),
                    "{at}: {attr} in {line}"
                );
            }
            let max_age = line
                .split("; ")
                .find_map(|a| a.strip_prefix("Max-Age="))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            assert!(
                (590..=600).contains(&max_age),
                "{at}: Max-Age is what the absolute TTL (10m) leaves: {line}"
            );
            assert!(!line.contains("Secure"), "{at}: secure: false: {line}");
            let first = b.cookie.clone().expect("a session cookie");

            // Changed data: the id stays; only the cookie store re-sends its cookie.
            let (r, set) = b.go("POST", "/incr");
            assert_eq!(json(&r)["n"], 2, "{at}");
            assert_eq!(set.is_some(), !server_side, "{at}: {:?}", r.headers);
            let v = b.show();
            assert_eq!(v["n"], 2, "{at}: {v}");
            let id_before = v["id"].clone();
            assert!(id_before.is_string(), "{at}: {v}");
            if server_side {
                assert_eq!(id_before, first, "{at}: the cookie is the id");
            }

            // Login: a new id, the data kept.
            let before_login = b.cookie.clone().expect("cookie");
            let (r, set) = b.go("POST", "/login/ann");
            let v = json(&r);
            assert!(set.is_some(), "{at}: login sets the new id");
            assert_eq!(
                (v["user"].as_str(), v["n"].as_u64()),
                (Some("ann"), Some(2)),
                "{at}: {v}"
            );
            assert_ne!(v["id"], id_before, "{at}: the id changed");
            assert_ne!(b.cookie.as_deref(), Some(before_login.as_str()), "{at}");
            let v = b.show();
            assert_eq!(v["user"], "ann", "{at}: {v}");
            if server_side {
                // The id from before the login is dead.
                let mut old = Browser::new(addr, store);
                old.cookie = Some(before_login);
                let v = old.show();
                assert!(
                    v["user"].is_null() && v["n"].is_null(),
                    "{at}: old id alive: {v}"
                );
            }

            // Logout: the cookie is removed, and (server side) the session is gone.
            let logged_in = b.cookie.clone().expect("cookie");
            let (r, set) = b.go("POST", "/logout");
            assert_eq!(r.text(), "bye");
            let line = set.unwrap_or_else(|| panic!("{at}: logout must remove the cookie"));
            assert!(line.starts_with(&format!("t_{store}_session=;")), "{line}");
            assert!(line.contains("Max-Age=0"), "{at}: {line}");
            assert!(b.cookie.is_none());
            if server_side {
                let mut old = Browser::new(addr, store);
                old.cookie = Some(logged_in);
                let v = old.show();
                assert!(v["user"].is_null(), "{at}: destroyed session alive: {v}");
            }
        }
        // A route of the group that opts out: no session, no cookie.
        let r = send(addr, "GET", "/s/cookie/plain", None);
        assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
        assert!(set_cookie(&r, "t_cookie_session").is_none());
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn an_id_the_client_made_up_is_never_adopted() {
    let with_redis = redis();
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 1);
        for store in ["memory", "redis"] {
            if store == "redis" && !with_redis {
                continue;
            }
            let planted = format!("{:0>43}", format!("planted{}", std::process::id()));
            let mut b = Browser::new(server.local_addr(), store);
            b.cookie = Some(planted.clone());
            assert!(
                b.show()["id"].is_null(),
                "{backend}/{store}: unknown id loaded"
            );
            let (_, set) = b.go("POST", "/login/mallory");
            assert!(set.is_some(), "{backend}/{store}");
            assert_ne!(
                b.cookie.as_deref(),
                Some(planted.as_str()),
                "{backend}/{store}"
            );
            // Junk in the cookie: ignored, no error.
            b.cookie = Some("%%%;;;".to_owned());
            assert!(b.show()["id"].is_null());
        }
        let mut b = Browser::new(server.local_addr(), "cookie");
        b.cookie = Some("not-encrypted".to_owned());
        assert!(b.show()["id"].is_null(), "{backend}/cookie: junk decrypted");
        server.shutdown().expect("shutdown");
    }
}

/// Keeps using a session every `step` for `for_`; whether it was alive each time.
fn keep_using(b: &mut Browser, step: Duration, for_: Duration) -> Vec<bool> {
    let until = Instant::now() + for_;
    let mut alive = Vec::new();
    while Instant::now() < until {
        std::thread::sleep(step);
        alive.push(b.show()["user"] == "ann");
    }
    alive
}

#[test]
fn idle_sessions_expire_and_use_keeps_them_alive() {
    let with_redis = redis();
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 2);
        let addr = server.local_addr();
        let stores: Vec<&str> = ["cookie", "memory", "redis"]
            .into_iter()
            .filter(|s| *s != "redis" || with_redis)
            .collect();
        // The stores run side by side (each sleeps).
        let runs: Vec<_> = stores
            .iter()
            .map(|store| {
                let store = format!("idle_{store}");
                std::thread::spawn(move || {
                    let mut b = Browser::new(addr, &store);
                    let (r, _) = b.go("POST", "/login/ann");
                    assert_eq!(r.status, 200);
                    // idle_ttl is 2s: used every 400ms for 3.2s, it stays alive …
                    let alive = keep_using(
                        &mut b,
                        Duration::from_millis(400),
                        Duration::from_millis(3200),
                    );
                    assert!(
                        alive.iter().all(|a| *a),
                        "{store}: expired while used: {alive:?}"
                    );
                    // … and 3.5s without use ends it.
                    std::thread::sleep(Duration::from_millis(3500));
                    let v = b.show();
                    assert!(v["user"].is_null(), "{store}: alive after 3.5s idle: {v}");
                })
            })
            .collect();
        for r in runs {
            r.join()
                .unwrap_or_else(|_| panic!("{backend}: an idle run failed"));
        }
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn absolute_ttl_ends_a_session_however_it_is_used() {
    let with_redis = redis();
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 2);
        let addr = server.local_addr();
        let runs: Vec<_> = ["cookie", "memory", "redis"]
            .into_iter()
            .filter(|s| *s != "redis" || with_redis)
            .map(|store| {
                let store = format!("abs_{store}");
                std::thread::spawn(move || {
                    let mut b = Browser::new(addr, &store);
                    let start = Instant::now();
                    let (r, set) = b.go("POST", "/login/ann");
                    assert_eq!(r.status, 200);
                    let line = set.expect("a cookie");
                    assert!(line.contains("Max-Age=3"), "{store}: {line}");
                    // absolute_ttl is 3s: alive at first, dead from 3s on, used or not.
                    assert_eq!(b.show()["user"], "ann", "{store}");
                    let alive = keep_using(
                        &mut b,
                        Duration::from_millis(400),
                        Duration::from_millis(4000),
                    );
                    let last = alive.last().copied();
                    assert_eq!(last, Some(false), "{store}: alive after 4s: {alive:?}");
                    assert!(start.elapsed() >= Duration::from_secs(3));
                    assert!(alive[0], "{store}: dead at once: {alive:?}");
                })
            })
            .collect();
        for r in runs {
            r.join()
                .unwrap_or_else(|_| panic!("{backend}: an absolute-TTL run failed"));
        }
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn a_redis_that_is_down_gives_an_empty_session_or_503_when_failing_closed() {
    // `t_redis_down` and `t_redis_closed` point at 127.0.0.1:29316, where nothing listens.
    let id = format!("{:0>43}", std::process::id());
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 1);
        let addr = server.local_addr();
        for _ in 0..3 {
            let r = send(
                addr,
                "GET",
                "/s/redis_down/show",
                Some(&format!("t_redis_down_session={id}")),
            );
            assert_eq!(r.status, 200, "{backend}: fails open: {}", r.text());
            assert!(json(&r)["user"].is_null(), "{backend}");
            let r = send(addr, "POST", "/s/redis_down/login/ann", None);
            assert_eq!(
                r.status,
                200,
                "{backend}: the handler answers: {}",
                r.text()
            );
            assert_eq!(json(&r)["user"], "ann");
            assert!(
                set_cookie(&r, "t_redis_down_session").is_none(),
                "{backend}: no cookie for a session that was not saved"
            );
        }
        let r = send(
            addr,
            "GET",
            "/s/redis_closed/show",
            Some(&format!("t_redis_closed_session={id}")),
        );
        assert_eq!(r.status, 503, "{backend}: fails closed: {}", r.text());
        let r = send(addr, "POST", "/s/redis_closed/login/ann", None);
        assert_eq!(r.status, 503, "{backend}: not saved: fails closed");
        let r = send(addr, "GET", "/s/redis_closed/show", None);
        assert_eq!(
            r.status, 200,
            "{backend}: no session to load, nothing to save"
        );
        server.shutdown().expect("shutdown");
    }
}

/// A server process (the e2e app, `ember_log_probe`) with `env`, and its address.
fn spawn(env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember_log_probe"))
        .env("EMBER_LISTEN", "127.0.0.1:0")
        .env("EMBER_WORKERS", "2")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("the server did not say where it listens");
        };
        if let Some(a) = line
            .strip_prefix("ember: listening on http://")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|a| a.parse().ok())
        {
            break a;
        }
    };
    // Keep reading (and dropping) its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// Stops a server process started by [`spawn`] (by its PID).
fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn redis_sessions_are_shared_by_two_server_processes_and_memory_ones_are_not() {
    if !redis() {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let prefix = format!("ember-e2e-sess-{}-{nanos}:", std::process::id());
    let env = [("EMBER_TEST_SESSION_PREFIX", prefix.as_str())];
    let (a, addr_a) = spawn(&env);
    let (b, addr_b) = spawn(&env);
    let mut on_a = Browser::new(addr_a, "redis");
    on_a.go("POST", "/login/ann");
    let cookie = on_a.cookie.clone().expect("a session cookie");
    let mut on_b = Browser::new(addr_b, "redis");
    on_b.cookie = Some(cookie);
    let v = on_b.show();
    assert_eq!(v["user"], "ann", "B sees A's session: {v}");
    let (r, _) = on_b.go("POST", "/incr");
    assert_eq!(json(&r)["n"], 1);
    assert_eq!(on_a.show()["n"], 1, "A sees B's change");
    // Regenerated on B: the id A knew is dead on A too.
    let old = on_a.cookie.clone();
    on_b.go("POST", "/login/bob");
    let mut stale = Browser::new(addr_a, "redis");
    stale.cookie = old;
    assert!(
        stale.show()["user"].is_null(),
        "the old id is dead everywhere"
    );
    on_a.cookie = on_b.cookie.clone();
    assert_eq!(on_a.show()["user"], "bob");
    on_a.go("POST", "/logout");
    assert!(on_b.show()["user"].is_null(), "destroyed on A, gone on B");

    // Memory sessions live in one process.
    let mut mem_a = Browser::new(addr_a, "memory");
    mem_a.go("POST", "/login/ann");
    let mut mem_b = Browser::new(addr_b, "memory");
    mem_b.cookie = mem_a.cookie.clone();
    assert_eq!(mem_a.show()["user"], "ann");
    assert!(
        mem_b.show()["user"].is_null(),
        "a memory session is per process"
    );
    stop(a);
    stop(b);
}

#[test]
fn a_black_hole_redis_costs_one_timeout_and_the_request_succeeds() {
    let hole = ember_runtime::test_util::black_hole("127.0.0.1:0").expect("a black hole");
    let url = format!("redis://{hole}");
    let (server, addr) = spawn(&[("EMBER_TEST_SESSION_DOWN_URL", url.as_str())]);
    let id = format!("{:0>43}", std::process::id());
    let cookie = format!("t_redis_down_session={id}");
    let mut took = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = send(addr, "GET", "/s/redis_down/show", Some(&cookie));
        took.push(t.elapsed());
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(json(&r)["user"].is_null());
    }
    // The timeout is 100ms; then the endpoint is skipped for a second.
    assert!(took[0] >= Duration::from_millis(90), "{took:?}");
    assert!(took.iter().all(|t| *t < Duration::from_secs(2)), "{took:?}");
    let r = send(
        addr,
        "GET",
        "/s/redis_closed/show",
        Some(&cookie.replace("down", "closed")),
    );
    assert_eq!(r.status, 503);
    stop(server);
}

/// The Python client: a login flow through `requests.Session`'s cookie jar on `store`'s
/// routes; prints what it saw, as JSON.
const JAR_LOGIN: &str = r#"
import json, sys, requests
base, store = sys.argv[1], sys.argv[2]
name = "t_%s_session" % store
s = requests.Session()
s.post(base + "/s/%s/incr" % store).raise_for_status()
before = s.cookies.get(name)
login = s.post(base + "/s/%s/login/ann" % store).json()
after = s.cookies.get(name)
shown = s.get(base + "/s/%s/show" % store).json()
old = requests.get(base + "/s/%s/show" % store, cookies={name: before}).json()
s.post(base + "/s/%s/logout" % store).raise_for_status()
out = s.get(base + "/s/%s/show" % store).json()
print(json.dumps({"before": before, "after": after, "login": login, "shown": shown,
                  "old": old, "out": out, "jar": [c.name for c in s.cookies]}))
"#;

#[test]
fn a_real_clients_cookie_jar_logs_in_and_out() {
    let Some(py) = ember_tests::python("session login through a cookie jar") else {
        return;
    };
    let with_redis = redis();
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 2);
        let base = format!("http://{}", server.local_addr());
        for store in ["cookie", "memory", "redis"] {
            if store == "redis" && !with_redis {
                continue;
            }
            let at = format!("{backend}/{store}");
            let out = Command::new(&py)
                .args(["-c", JAR_LOGIN, &base, store])
                .output()
                .expect("python runs");
            assert!(
                out.status.success(),
                "{at}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            assert!(
                v["before"].is_string() && v["after"].is_string(),
                "{at}: {v}"
            );
            assert_ne!(v["before"], v["after"], "{at}: login changed the cookie");
            assert_eq!(v["login"]["user"], "ann", "{at}: {v}");
            assert_eq!(v["login"]["n"], 1, "{at}: data kept over the login: {v}");
            assert_eq!(v["shown"]["user"], "ann", "{at}: {v}");
            if store != "cookie" {
                assert!(
                    v["old"]["user"].is_null() && v["old"]["n"].is_null(),
                    "{at}: {v}"
                );
            }
            assert!(v["out"]["user"].is_null(), "{at}: logged out: {v}");
            assert_eq!(
                v["jar"],
                serde_json::json!([]),
                "{at}: the jar dropped it: {v}"
            );
        }
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn a_cookie_session_under_an_old_key_is_read_and_re_issued_under_the_current_one() {
    use base64::Engine as _;
    let keys: Vec<cookie::Key> = include_str!("../fixtures/cookie_keys.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(l.trim())
                .expect("base64");
            cookie::Key::from(&b)
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let record = format!(
        r#"{{"i":"{:0>43}","c":{now},"s":{now},"d":{{"user":"old-key"}}}}"#,
        std::process::id()
    );
    let encrypt = |key: &cookie::Key| {
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(key)
            .add(cookie::Cookie::new("t_cookie_session", record.clone()));
        jar.get("t_cookie_session")
            .expect("added")
            .value()
            .to_owned()
    };
    let unknown = cookie::Key::from(&[7u8; 64]);
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 1);
        let mut b = Browser::new(server.local_addr(), "cookie");
        b.cookie = Some(encrypt(&keys[1]));
        let (r, set) = b.go("GET", "/show");
        assert_eq!(
            json(&r)["user"],
            "old-key",
            "{backend}: the old key decrypts it"
        );
        assert!(set.is_some(), "{backend}: re-issued under the current key");
        let (r, set) = b.go("GET", "/show");
        assert_eq!(json(&r)["user"], "old-key", "{backend}");
        assert!(set.is_none(), "{backend}: current now, nothing to re-issue");
        b.cookie = Some(encrypt(&unknown));
        assert!(
            b.show()["user"].is_null(),
            "{backend}: an unknown key's cookie"
        );
        server.shutdown().expect("shutdown");
    }
}
