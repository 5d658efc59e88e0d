//! Observability (issue 16, points 1 and 2) over real sockets, on both backends, each run
//! on a fresh server: `/metrics` parsed by Prometheus's own Python parser after a known
//! sequence of requests, the access log (JSON and CLF, to a file) and request ids.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use ember_runtime::{AccessLog, AccessLogFormat, AccessLogTarget, Backend, RequestIdConfig};
use ember_tests::{App, BACKENDS, Client, Reply, python, start_with};

/// A name unique to this process and call (caches are process-wide).
fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "obs-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One request on a fresh connection, with extra header lines.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &str) -> Reply {
    let mut c = Client::connect(addr);
    c.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes());
    c.read_reply(method == "HEAD")
        .unwrap_or_else(|| panic!("no answer to {method} {path}"))
}

/// Parsed samples: (sample name, sorted labels) → value.
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

/// The samples of a Prometheus exposition, parsed by `prometheus_client.parser`:
/// (sample name, labels) → value.
fn parse_metrics(py: &PathBuf, text: &str) -> Samples {
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        print(json.dumps([s.name, sorted(s.labels.items()), s.value]))
"#;
    let mut child = Command::new(py)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("python output");
    assert!(out.status.success(), "the parser refused:\n{text}");
    let mut samples = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let labels = v[1]
            .as_array()
            .expect("labels")
            .iter()
            .map(|kv| {
                (
                    kv[0].as_str().expect("k").to_owned(),
                    kv[1].as_str().expect("v").to_owned(),
                )
            })
            .collect();
        samples.insert(
            (v[0].as_str().expect("name").to_owned(), labels),
            v[2].as_f64().expect("value"),
        );
    }
    samples
}

/// The value of a sample (0 when absent).
fn sample(s: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    s.get(&(name.to_owned(), l)).copied().unwrap_or(0.0)
}

#[test]
fn metrics_count_a_known_sequence_of_requests() {
    let Some(py) = python("metrics parsed by prometheus_client") else {
        return;
    };
    for backend in BACKENDS {
        // Two workers: the counts of both are merged at scrape.
        let server = start_with(App, backend, 2, |c| c.metrics(true));
        let addr = server.local_addr();
        for _ in 0..3 {
            assert_eq!(request(addr, "GET", "/plaintext", "").status, 200);
        }
        for _ in 0..2 {
            assert_eq!(request(addr, "GET", "/users/7", "").status, 200);
        }
        assert_eq!(request(addr, "GET", "/no/such/route", "").status, 404);
        assert_eq!(request(addr, "DELETE", "/plaintext", "").status, 405);
        let tag = unique(backend.as_str());
        let first = request(addr, "GET", &format!("/c/hot/{tag}"), "");
        let second = request(addr, "GET", &format!("/c/hot/{tag}"), "");
        assert_eq!(first.header("x-cache"), Some("MISS"), "{backend}");
        assert_eq!(second.header("x-cache"), Some("HIT"), "{backend}");

        let scrape = request(addr, "GET", "/metrics", "");
        assert_eq!(scrape.status, 200);
        assert!(
            scrape
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
            "{:?}",
            scrape.header("content-type")
        );
        let s = parse_metrics(&py, &scrape.text());
        let req = |route, method, status| {
            sample(
                &s,
                "ember_http_requests_total",
                &[("route", route), ("method", method), ("status", status)],
            )
        };
        assert_eq!(req("/plaintext", "GET", "2xx"), 3.0, "{backend}");
        assert_eq!(req("/plaintext", "DELETE", "4xx"), 1.0, "{backend}");
        assert_eq!(req("/users/{id:u64}", "GET", "2xx"), 2.0, "{backend}");
        assert_eq!(req("(unmatched)", "GET", "4xx"), 1.0, "{backend}");
        assert_eq!(req("/c/hot/{tag}", "GET", "2xx"), 2.0, "{backend}");
        // The scrape itself is in flight while it renders, and not counted yet.
        assert_eq!(req("/metrics", "GET", "2xx"), 0.0, "{backend}");
        assert_eq!(sample(&s, "ember_http_requests_in_flight", &[]), 1.0);
        let count = sample(
            &s,
            "ember_http_request_duration_seconds_count",
            &[("route", "/plaintext")],
        );
        assert_eq!(count, 4.0, "{backend}");
        let inf = sample(
            &s,
            "ember_http_request_duration_seconds_bucket",
            &[("route", "/plaintext"), ("le", "+Inf")],
        );
        assert_eq!(inf, 4.0, "{backend}");
        // Three 200 answers of `Hello, World!` and one 405: at least the bodies.
        let out = sample(&s, "ember_http_out_bytes_total", &[("route", "/plaintext")]);
        assert!(out > 3.0 * 13.0, "{backend}: {out}");
        let cache = |event| {
            sample(
                &s,
                "ember_cache_events_total",
                &[("cache", "hot"), ("event", event)],
            )
        };
        assert_eq!((cache("miss"), cache("hit")), (1.0, 1.0), "{backend}");
        let open: f64 = (0..2)
            .map(|w| {
                let w = w.to_string();
                sample(&s, "ember_open_connections", &[("worker", w.as_str())])
            })
            .sum();
        assert!(open >= 1.0, "{backend}: the scrape's connection is open");

        // A second scrape counts the first.
        let s = parse_metrics(&py, &request(addr, "GET", "/metrics", "").text());
        assert_eq!(
            sample(
                &s,
                "ember_http_requests_total",
                &[("route", "/metrics"), ("method", "GET"), ("status", "2xx")]
            ),
            1.0,
            "{backend}"
        );
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn metrics_off_answers_404_and_keeps_nothing() {
    for backend in BACKENDS {
        let server = start_with(App, backend, 1, |c| c.metrics(false));
        let addr = server.local_addr();
        assert_eq!(request(addr, "GET", "/plaintext", "").status, 200);
        assert_eq!(request(addr, "GET", "/metrics", "").status, 404);
        server.shutdown().expect("shutdown");
    }
}

/// A fresh log file for one run.
fn log_file(what: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("{}.log", unique(what)));
    let _ = std::fs::remove_file(&p);
    p
}

/// Starts a server with a `format` access log to `path` and request ids (`accept`).
fn logged(
    backend: Backend,
    format: AccessLogFormat,
    path: &std::path::Path,
    accept: bool,
) -> ember_runtime::ServerHandle {
    let target = AccessLogTarget::File(path.to_owned());
    start_with(App, backend, 1, move |c| {
        c.access_log(AccessLog::new(format, target))
            .request_id(Some(RequestIdConfig {
                header: "X-Request-Id".to_owned(),
                accept,
            }))
    })
}

#[test]
fn json_access_log_with_request_ids() {
    for backend in BACKENDS {
        let path = log_file("json");
        let server = logged(backend, AccessLogFormat::Json, &path, true);
        let addr = server.local_addr();
        let good = request(
            addr,
            "GET",
            "/plaintext?x=1",
            "X-Request-Id: client-id-42\r\n",
        );
        assert_eq!(good.header("x-request-id"), Some("client-id-42"));
        let bad = request(addr, "GET", "/users/9", "X-Request-Id: bad id \"x\"\r\n");
        let generated = bad.header("x-request-id").expect("an id").to_owned();
        assert_ne!(generated, "bad id \"x\"");
        assert_eq!(generated.len(), 26, "{generated}");
        let seen = request(addr, "GET", "/obs/request-id", "");
        let seen_id = seen.header("x-request-id").expect("an id").to_owned();
        // The handler sees the id the response echoes.
        assert_eq!(seen.text(), seen_id);
        assert_ne!(seen_id, generated, "generated ids differ");
        let long = "a".repeat(129);
        let too_long = request(
            addr,
            "GET",
            "/plaintext",
            &format!("X-Request-Id: {long}\r\n"),
        );
        assert_ne!(too_long.header("x-request-id"), Some(long.as_str()));
        // Stopping the worker writes what it buffered.
        server.shutdown().expect("shutdown");
        let text = std::fs::read_to_string(&path).expect("the log file");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 4, "{backend}: {text}");
        let l = &lines[0];
        assert_eq!(l["method"], "GET");
        assert_eq!(l["route"], "/plaintext");
        assert_eq!(l["path"], "/plaintext");
        assert_eq!(l["query"], "x=1");
        assert_eq!(l["status"], 200);
        assert_eq!(l["request_id"], "client-id-42");
        assert_eq!(l["peer"], "127.0.0.1");
        assert!(l["bytes"].as_u64().is_some_and(|b| b > 13), "{l}");
        assert!(l["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{l}");
        assert_eq!(lines[1]["route"], "/users/{id:u64}");
        assert_eq!(lines[1]["request_id"], generated.as_str());
        assert_eq!(lines[2]["request_id"], seen_id.as_str());
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn common_log_lines_and_ids_never_accepted_when_told() {
    for backend in BACKENDS {
        let path = log_file("clf");
        let server = logged(backend, AccessLogFormat::Common, &path, false);
        let addr = server.local_addr();
        let r = request(addr, "GET", "/users/5", "X-Request-Id: client-id-1\r\n");
        let id = r.header("x-request-id").expect("an id").to_owned();
        assert_ne!(id, "client-id-1", "accept: false generates");
        assert_eq!(request(addr, "GET", "/nowhere", "").status, 404);
        server.shutdown().expect("shutdown");
        let text = std::fs::read_to_string(&path).expect("the log file");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{backend}: {text}");
        let first = lines[0];
        assert!(first.starts_with("127.0.0.1 - - ["), "{first}");
        assert!(
            first.contains("] \"GET /users/5 HTTP/1.1\" 200 "),
            "{first}"
        );
        assert!(
            first.contains(&format!("\"/users/{{id:u64}}\" {id} ")),
            "{first}"
        );
        assert!(
            lines[1].contains("\"GET /nowhere HTTP/1.1\" 404 ")
                && lines[1].contains("\"(unmatched)\""),
            "{}",
            lines[1]
        );
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn without_request_ids_nothing_is_echoed() {
    for backend in BACKENDS {
        let server = start_with(App, backend, 1, |c| c);
        let addr = server.local_addr();
        let r = request(addr, "GET", "/obs/request-id", "X-Request-Id: abc\r\n");
        assert_eq!(r.header("x-request-id"), None);
        assert_eq!(r.text(), "-");
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn metrics_count_rate_limit_rejections_and_failing_open() {
    let Some(py) = python("metrics parsed by prometheus_client") else {
        return;
    };
    for backend in BACKENDS {
        let server = start_with(App, backend, 1, |c| c.metrics(true));
        let addr = server.local_addr();
        // A bucket of 3 of our own (limiters are process-wide; the key is unique).
        let me = unique("client");
        let statuses: Vec<u16> = (0..4)
            .map(|_| request(addr, "GET", "/mw/rl/header", &format!("X-Client: {me}\r\n")).status)
            .collect();
        assert_eq!(statuses, [200, 200, 200, 429], "{backend}");
        // A Redis limiter whose Redis is unreachable lets requests through.
        assert_eq!(request(addr, "GET", "/mw/rl/redis-down", "").status, 200);
        assert_eq!(request(addr, "GET", "/mw/rl/redis-down", "").status, 200);
        let s = parse_metrics(&py, &request(addr, "GET", "/metrics", "").text());
        let rejected: f64 = s
            .iter()
            .filter(|((name, _), _)| name == "ember_rate_limit_rejections_total")
            .map(|(_, v)| v)
            .sum();
        assert_eq!(rejected, 1.0, "{backend}");
        assert_eq!(
            sample(&s, "ember_remote_store_fail_open_total", &[]),
            2.0,
            "{backend}"
        );
        let limited = sample(
            &s,
            "ember_http_requests_total",
            &[
                ("route", "/mw/rl/header"),
                ("method", "GET"),
                ("status", "4xx"),
            ],
        );
        assert_eq!(limited, 1.0, "{backend}");
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn the_tasks_example_serves_metrics_and_probes_by_default() {
    for backend in BACKENDS {
        // The spec's settings as they are (metrics on), on a port of our own.
        let server = ember_tests::start(tasks::App, backend, 1);
        let addr = server.local_addr();
        let _ = request(addr, "GET", "/tasks/not-a-number", "");
        let r = request(addr, "GET", "/metrics", "");
        assert_eq!(r.status, 200, "{backend}");
        let text = r.text();
        assert!(
            text.contains("# TYPE ember_http_requests_total counter")
                && text.contains("route=\"/tasks/{id}\""),
            "{backend}:\n{text}"
        );
        // ... and its probes (issue 16, point 6).
        for probe in ["/livez", "/readyz"] {
            let r = request(addr, "GET", probe, "");
            assert_eq!(r.status, 200, "{backend} {probe}: {}", r.text());
        }
        server.shutdown().expect("shutdown");
    }
}
