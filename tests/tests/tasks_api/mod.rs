//! The tasks API's contract, exercised over real sockets against whichever store the test
//! binary configured.

use ember_runtime::Backend;
use ember_tests::{Client, Reply, start};
use serde_json::{Value, json};

fn send(c: &mut Client, method: &str, path: &str, body: Option<&str>) -> Reply {
    let req = match body {
        Some(b) => format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ),
        None => format!("{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n"),
    };
    c.send(req.as_bytes());
    c.read_reply(method == "HEAD").expect("a response")
}

/// Asserts `r` is an `application/problem+json` with `status`; returns its body.
fn problem(r: &Reply, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    let p = json(r);
    assert_eq!(p["status"], status, "{what}: {p}");
    p
}

fn json(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// Runs the whole contract on every backend, each pass on a fresh server over a store
/// emptied first (the store is per process, so the previous pass's tasks are deleted).
pub(crate) fn on_each_backend() {
    for backend in ember_tests::BACKENDS {
        // Writes purge the cached reads, so the contract sees its own writes at once.
        tasks::set_purge_on_write(true);
        exercise(backend);
        freshness(backend);
    }
}

/// Deletes every task through the API (pages of 100 until none is left).
fn clear(backend: Backend) {
    let server = start(tasks::App, backend, 1);
    let mut c = Client::connect(server.local_addr());
    for _ in 0..1000 {
        let page = json(&send(&mut c, "GET", "/tasks?limit=100", None));
        let ids: Vec<i64> = page["tasks"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|t| t["id"].as_i64())
            .collect();
        if ids.is_empty() {
            assert_eq!(page["total"], 0, "{backend}: {page}");
            return;
        }
        for id in ids {
            let r = send(&mut c, "DELETE", &format!("/tasks/{id}"), None);
            assert_eq!(r.status, 204, "{backend}: delete {id}");
        }
    }
    panic!("{backend}: the store did not empty");
}

/// Every route, pagination edges and validation errors, from an empty store.
pub(crate) fn exercise(backend: Backend) {
    clear(backend);
    let server = start(tasks::App, backend, 2);
    let mut c = Client::connect(server.local_addr());

    let r = send(&mut c, "GET", "/tasks", None);
    assert_eq!(r.status, 200, "{backend}");
    assert_eq!(json(&r), json!({"tasks": [], "total": 0}));

    // Create 25.
    let mut ids = Vec::new();
    for i in 1..=25 {
        let r = send(
            &mut c,
            "POST",
            "/tasks",
            Some(&format!(r#"{{"title":"task {i}"}}"#)),
        );
        assert_eq!(r.status, 201, "{backend}: {}", r.text());
        let t = json(&r);
        assert_eq!(t["title"], format!("task {i}"));
        assert_eq!(t["done"], false);
        assert!(
            t["created_at"]
                .as_str()
                .is_some_and(|s| s.ends_with('Z') && s.len() == 27),
            "{t}"
        );
        let id = t["id"].as_i64().expect("id");
        assert_eq!(r.header("location"), Some(format!("/tasks/{id}").as_str()));
        ids.push(id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow");

    // Pages: newest first, 20 by default, the total on every page.
    let p1 = json(&send(&mut c, "GET", "/tasks", None));
    assert_eq!(p1["total"], 25);
    let titles: Vec<&str> = p1["tasks"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert_eq!(titles.len(), 20);
    assert_eq!(titles[0], "task 25");
    assert_eq!(titles[19], "task 6");
    let p2 = json(&send(&mut c, "GET", "/tasks?page=2", None));
    assert_eq!(p2["tasks"].as_array().map(Vec::len), Some(5));
    assert_eq!(p2["tasks"][4]["title"], "task 1");
    let p3 = json(&send(&mut c, "GET", "/tasks?page=3&limit=10", None));
    assert_eq!(p3["tasks"].as_array().map(Vec::len), Some(5));
    let beyond = json(&send(&mut c, "GET", "/tasks?page=99&limit=100", None));
    assert_eq!(
        (beyond["tasks"].as_array().map(Vec::len), &beyond["total"]),
        (Some(0), &json!(25))
    );
    for bad in [
        "/tasks?page=0",
        "/tasks?page=-1",
        "/tasks?limit=0",
        "/tasks?limit=101",
    ] {
        let r = send(&mut c, "GET", bad, None);
        assert_eq!(r.status, 400, "{backend} {bad}");
        assert!(json(&r)["error"].is_string());
    }
    // typed input (issue 15): a query that does not fit its type is a problem naming it.
    for (bad, param) in [
        ("/tasks?page=abc", "page"),
        ("/tasks?page=1&limit=x", "limit"),
    ] {
        let r = send(&mut c, "GET", bad, None);
        let p = problem(&r, 400, &format!("{backend} {bad}"));
        assert_eq!(p["errors"][0]["parameter"], param, "{backend} {bad}: {p}");
    }

    // One task.
    let first = ids[0];
    let r = send(&mut c, "GET", &format!("/tasks/{first}"), None);
    assert_eq!(
        (r.status, json(&r)["title"].as_str()),
        (200, Some("task 1"))
    );
    let r = send(&mut c, "GET", "/tasks/999999", None);
    assert_eq!(
        (r.status, json(&r)["error"].as_str()),
        (404, Some("no such task"))
    );
    for bad in ["/tasks/abc", "/tasks/0", "/tasks/-3", "/tasks/1.5"] {
        let r = send(&mut c, "GET", bad, None);
        assert_eq!(r.status, 400, "{backend} {bad}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }

    // Update.
    let r = send(
        &mut c,
        "PATCH",
        &format!("/tasks/{first}"),
        Some(r#"{"done":true}"#),
    );
    assert_eq!(
        (
            r.status,
            json(&r)["done"].as_bool(),
            json(&r)["title"].as_str()
        ),
        (200, Some(true), Some("task 1"))
    );
    let r = send(
        &mut c,
        "PATCH",
        &format!("/tasks/{first}"),
        Some(r#"{"title":"  renamed  "}"#),
    );
    assert_eq!(
        (json(&r)["title"].as_str(), json(&r)["done"].as_bool()),
        (Some("renamed"), Some(true))
    );
    assert_eq!(
        send(&mut c, "PATCH", "/tasks/999999", Some(r#"{"done":true}"#)).status,
        404
    );

    // Validation by the handler: `{"error": ...}`.
    for body in [r#"{"title":""}"#, r#"{"title":"   "}"#] {
        let r = send(&mut c, "POST", "/tasks", Some(body));
        assert_eq!(r.status, 422, "{backend} {body}");
        assert!(json(&r)["error"].is_string(), "{body}");
    }
    let long = format!(r#"{{"title":"{}"}}"#, "x".repeat(501));
    assert_eq!(send(&mut c, "POST", "/tasks", Some(&long)).status, 422);
    // typed input (issue 15): bodies that do not fit `NewTask` / `Change` never reach the
    // handler; the answer is a problem, naming the field where there is one.
    let cases: &[(&str, &str, u16, &str)] = &[
        ("POST", "/tasks", 422, r#"{"title":5}"#),
        ("POST", "/tasks", 422, r#"{"nope":"x"}"#),
        ("POST", "/tasks", 422, r#"{"title":"x","extra":1}"#),
        ("POST", "/tasks", 400, r#"{"title": "x""#),
        ("POST", "/tasks", 400, "not json"),
        ("POST", "/tasks", 400, ""),
        ("PATCH", "/tasks/1", 422, r#"{"done":"yes"}"#),
        ("PATCH", "/tasks/1", 400, r#"{"done":tru}"#),
    ];
    for (method, path, status, body) in cases {
        let r = send(&mut c, method, path, Some(body));
        problem(&r, *status, &format!("{backend} {method} {path} {body}"));
    }
    let p = problem(
        &send(&mut c, "POST", "/tasks", Some(r#"{"title":5}"#)),
        422,
        "title 5",
    );
    assert_eq!(
        p["errors"],
        json!([{"pointer": "/title", "detail": "invalid type: integer `5`, expected a string"}]),
        "{backend}"
    );
    let p = problem(
        &send(
            &mut c,
            "PATCH",
            &format!("/tasks/{first}"),
            Some(r#"{"done":"yes"}"#),
        ),
        422,
        "done yes",
    );
    assert_eq!(p["errors"][0]["pointer"], "/done", "{backend}: {p}");
    c.send(b"POST /tasks HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
    problem(&c.read_reply(false).expect("415"), 415, "text/plain");
    c.send(b"POST /tasks HTTP/1.1\r\nHost: t\r\nContent-Length: 13\r\n\r\n{\"title\":\"x\"}");
    problem(&c.read_reply(false).expect("415"), 415, "no content type");
    // Over the route's 16 KiB body limit: refused from the headers.
    let mut big = Client::connect(server.local_addr());
    big.send(b"POST /tasks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n");
    assert_eq!(big.read_reply(false).expect("413").status, 413);

    // Delete.
    let last = ids[24];
    assert_eq!(
        send(&mut c, "DELETE", &format!("/tasks/{last}"), None).status,
        204
    );
    assert_eq!(
        send(&mut c, "DELETE", &format!("/tasks/{last}"), None).status,
        404
    );
    assert_eq!(
        send(&mut c, "GET", &format!("/tasks/{last}"), None).status,
        404
    );
    assert_eq!(json(&send(&mut c, "GET", "/tasks", None))["total"], 24);

    // Another worker (a new connection may land on either) sees the same data.
    for _ in 0..4 {
        let mut other = Client::connect(server.local_addr());
        assert_eq!(
            json(&send(&mut other, "GET", "/tasks?limit=1", None))["total"],
            24
        );
    }
}

/// Reads are cached for 1 s: stale within the TTL when writes do not purge, fresh at once
/// when they do.
pub(crate) fn freshness(backend: Backend) {
    let server = start(tasks::App, backend, 1);
    let mut c = Client::connect(server.local_addr());
    let total = |r: &Reply| json(r)["total"].as_i64().expect("total");

    tasks::set_purge_on_write(false);
    let before = send(&mut c, "GET", "/tasks?limit=1", None);
    let n = total(&before);
    assert_eq!(
        send(&mut c, "POST", "/tasks", Some(r#"{"title":"fresh"}"#)).status,
        201
    );
    let cached = send(&mut c, "GET", "/tasks?limit=1", None);
    assert_eq!(
        (cached.header("x-cache"), total(&cached)),
        (Some("HIT"), n),
        "{backend}: within the TTL"
    );
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let later = send(&mut c, "GET", "/tasks?limit=1", None);
    assert_eq!(
        (later.header("x-cache"), total(&later)),
        (Some("MISS"), n + 1),
        "{backend}: after the TTL"
    );

    tasks::set_purge_on_write(true);
    let _ = send(&mut c, "GET", "/tasks?limit=1", None);
    assert_eq!(
        send(&mut c, "POST", "/tasks", Some(r#"{"title":"purged"}"#)).status,
        201
    );
    let fresh = send(&mut c, "GET", "/tasks?limit=1", None);
    assert_eq!(
        (fresh.header("x-cache"), total(&fresh)),
        (Some("MISS"), n + 2),
        "{backend}: after a purge"
    );
}
