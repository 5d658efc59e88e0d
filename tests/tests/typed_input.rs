//! Typed input (issue 15): `body:` (JSON and form) and `query:` decoded into the handler's
//! arguments, and every kind of bad input answered before the handler as RFC 9457
//! `application/problem+json`: `415` for the wrong content type, `400` for malformed JSON
//! and for a query that does not fit (naming the parameter), `422` with the JSON pointer
//! of the field for a body that does not fit and for failed validation; `413` still first.
//! Over real sockets, on both backends, each on a fresh server.

use std::net::SocketAddr;

use ember_runtime::Backend;
use ember_tests::{App, BACKENDS, Client, Reply, start};
use serde_json::{Value, json};

/// One request on a new connection: `content_type` `None` sends no `Content-Type`.
fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let mut c = Client::connect(addr);
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    c.send(head.as_bytes());
    c.read_reply(false).expect("a response")
}

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// Asserts `r` is a problem with `status` and returns its body.
fn problem(r: &Reply, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    let v = json_of(r);
    assert_eq!(v["status"], status, "{what}: {v}");
    assert_eq!(v["type"], "about:blank", "{what}: {v}");
    assert!(v["title"].is_string(), "{what}: {v}");
    v
}

fn each_backend(f: impl Fn(Backend, SocketAddr)) {
    for b in BACKENDS {
        let server = start(App, b, 1);
        f(b, server.local_addr());
    }
}

#[test]
fn json_bodies_reach_the_handler_typed() {
    each_backend(|b, a| {
        let body = r#"{"title":"caf\u00e9","tags":["a","b"],"parts":[{"count":2}]}"#;
        let r = send(a, "POST", "/in/json", JSON, body);
        assert_eq!(r.status, 200, "{b}: {}", r.text());
        assert_eq!(
            json_of(&r),
            json!({"title": "café", "tags": ["a", "b"], "parts": [{"count": 2}]}),
            "{b}"
        );
        // Parameters on the content type, and `+json` media types, are JSON too.
        for ct in [
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            let r = send(a, "POST", "/in/json", Some(ct), r#"{"title":"x"}"#);
            assert_eq!(r.status, 200, "{b} {ct}: {}", r.text());
        }
        // Path parameter, then body, then query; the raw body is still on the request.
        let raw = r#"{"title":"t"}"#;
        let r = send(a, "PUT", "/in/items/42?dry=true", JSON, raw);
        assert_eq!(r.status, 200, "{b}: {}", r.text());
        assert_eq!(
            json_of(&r),
            json!({"id": 42, "item": {"title": "t", "tags": [], "parts": []}, "opts": {"dry": true}, "raw": raw}),
            "{b}"
        );
    });
}

#[test]
fn form_bodies_and_queries_are_percent_decoded() {
    each_backend(|b, a| {
        let r = send(
            a,
            "POST",
            "/in/form",
            FORM,
            "user=J%C3%BCrgen+M%26M&remember=true",
        );
        assert_eq!(r.status, 200, "{b}: {}", r.text());
        assert_eq!(
            json_of(&r),
            json!({"user": "Jürgen M&M", "remember": true}),
            "{b}"
        );
        let r = send(
            a,
            "GET",
            "/in/search?q=caf%C3%A9+au+lait&tag=a&tag=b%2Fc&tag=&page=3&exact=false",
            None,
            "",
        );
        assert_eq!(r.status, 200, "{b}: {}", r.text());
        assert_eq!(
            json_of(&r),
            json!({"q": "café au lait", "tag": ["a", "b/c", ""], "page": 3, "exact": false}),
            "{b}"
        );
        let r = send(a, "GET", "/in/search?q=x", None, "");
        assert_eq!(
            json_of(&r),
            json!({"q": "x", "tag": [], "page": null, "exact": null}),
            "{b}"
        );
    });
}

#[test]
fn a_wrong_or_missing_content_type_is_415() {
    each_backend(|b, a| {
        let cases = [
            ("/in/json", None, r#"{"title":"x"}"#),
            ("/in/json", Some("text/plain"), r#"{"title":"x"}"#),
            ("/in/json", FORM, "title=x"),
            ("/in/form", JSON, r#"{"user":"x"}"#),
            ("/in/form", None, "user=x"),
        ];
        for (path, ct, body) in cases {
            let what = format!("{b} {path} {ct:?}");
            let v = problem(&send(a, "POST", path, ct, body), 415, &what);
            assert_eq!(v["title"], "Unsupported Media Type", "{what}");
            assert!(
                v["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("Content-Type")),
                "{what}: {v}"
            );
        }
    });
}

#[test]
fn malformed_json_is_400_with_line_and_column() {
    each_backend(|b, a| {
        for (body, at) in [
            (r#"{"title": "x""#, "line 1, column 13"),
            ("{\n  \"title\": x\n}", "line 2, column 12"),
            ("", "line 1, column 0"),
            (r#"{"title":"x"} trailing"#, "line 1, column 15"),
        ] {
            let what = format!("{b} {body:?}");
            let v = problem(&send(a, "POST", "/in/json", JSON, body), 400, &what);
            let detail = v["detail"].as_str().unwrap_or_default();
            assert!(
                detail.starts_with("the body is not valid JSON: ") && detail.ends_with(at),
                "{what}: {v}"
            );
        }
    });
}

#[test]
fn a_body_that_does_not_fit_is_422_with_the_pointer() {
    each_backend(|b, a| {
        let cases = [
            (
                r#"{"title": 5}"#,
                "/title",
                "invalid type: integer `5`, expected a string",
            ),
            (
                r#"{"title":"x","parts":[{"count":1},{"count":-1}]}"#,
                "/parts/1/count",
                "invalid value: integer `-1`, expected u32",
            ),
            (r#"{"tags":[]}"#, "", "missing field `title`"),
            (
                r#"{"title":"x","extra":1}"#,
                "/extra",
                "unknown field `extra`, expected one of `title`, `tags`, `parts`",
            ),
            (
                r#""5""#,
                "",
                "invalid type: string \"5\", expected struct NewItem",
            ),
        ];
        for (body, pointer, reason) in cases {
            let what = format!("{b} {body}");
            let v = problem(&send(a, "POST", "/in/json", JSON, body), 422, &what);
            assert_eq!(v["title"], "Unprocessable Content", "{what}");
            assert_eq!(
                v["errors"],
                json!([{"pointer": pointer, "detail": reason}]),
                "{what}: {v}"
            );
        }
        // A form field of the wrong type names the field too.
        let v = problem(
            &send(a, "POST", "/in/form", FORM, "user=x&remember=maybe"),
            422,
            &format!("{b} form"),
        );
        assert_eq!(v["errors"][0]["pointer"], "/remember", "{b}: {v}");
    });
}

#[test]
fn a_query_that_does_not_fit_is_400_naming_the_parameter() {
    each_backend(|b, a| {
        for (target, param, reason) in [
            (
                "/in/search?q=x&page=abc",
                "page",
                "invalid digit found in string",
            ),
            (
                "/in/search?q=x&page=-1",
                "page",
                "invalid digit found in string",
            ),
            ("/in/search?page=1", "q", "missing field `q`"),
            (
                "/in/search?q=x&exact=maybe",
                "exact",
                r#"invalid value: string "maybe", expected "true", "on" or "false""#,
            ),
            (
                "/in/items/1?dry=2",
                "dry",
                r#"invalid value: string "2", expected "true", "on" or "false""#,
            ),
        ] {
            let what = format!("{b} {target}");
            let method = if target.starts_with("/in/items") {
                "PUT"
            } else {
                "GET"
            };
            let r = send(a, method, target, JSON, r#"{"title":"t"}"#);
            let v = problem(&r, 400, &what);
            assert_eq!(
                v["errors"],
                json!([{"parameter": param, "detail": reason}]),
                "{what}: {v}"
            );
            assert_eq!(
                v["detail"],
                format!("query parameter `{param}`: {reason}"),
                "{what}"
            );
        }
    });
}

#[test]
fn the_body_limit_still_answers_413_first() {
    each_backend(|b, a| {
        // Over the route's 64 B limit, with a wrong content type and malformed JSON: the
        // limit is checked from the headers, before any of them.
        let big = format!(r#"{{"title": "{}""#, "x".repeat(100));
        for ct in [JSON, Some("text/plain"), None] {
            let r = send(a, "POST", "/in/small", ct, &big);
            assert_eq!(r.status, 413, "{b} {ct:?}: {}", r.text());
        }
        let r = send(a, "POST", "/in/small", JSON, r#"{"title":"fits"}"#);
        assert_eq!(r.status, 200, "{b}: {}", r.text());
    });
}

#[test]
fn validation_rules_fail_with_422_and_pointers() {
    each_backend(|b, a| {
        let ok = r#"{"name":"ann","age":30,"handle":"ann1"}"#;
        let r = send(a, "POST", "/in/valid", JSON, ok);
        assert_eq!(r.status, 200, "{b}: {}", r.text());
        assert_eq!(
            json_of(&r),
            json!({"name": "ann", "age": 30, "handle": "ann1"})
        );

        let bad = r#"{"name":"al","age":200,"handle":"Not Ok"}"#;
        let v = problem(
            &send(a, "POST", "/in/valid", JSON, bad),
            422,
            &format!("{b}"),
        );
        assert_eq!(v["detail"], "the body failed validation", "{b}: {v}");
        let mut pointers: Vec<&str> = v["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["pointer"].as_str())
            .collect();
        pointers.sort_unstable();
        assert_eq!(pointers, ["/age", "/handle", "/name"], "{b}: {v}");
        assert!(
            v["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .all(|e| e["detail"].as_str().is_some_and(|d| !d.is_empty())),
            "{b}: {v}"
        );
        // Decoding comes first: a body of the wrong shape is the 422 of decoding.
        let v = problem(
            &send(a, "POST", "/in/valid", JSON, r#"{"name":1}"#),
            422,
            &format!("{b}"),
        );
        assert_eq!(v["errors"][0]["pointer"], "/name", "{b}: {v}");

        // A validated query: decoding errors are 400, failed rules 422 naming the parameter.
        let r = send(a, "GET", "/in/pages?page=2&per_page=50", None, "");
        assert_eq!(json_of(&r), json!({"page": 2, "per_page": 50}), "{b}");
        let v = problem(
            &send(a, "GET", "/in/pages?page=0&per_page=500", None, ""),
            422,
            &format!("{b}"),
        );
        let mut params: Vec<&str> = v["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["parameter"].as_str())
            .collect();
        params.sort_unstable();
        assert_eq!(params, ["page", "per_page"], "{b}: {v}");
        let v = problem(
            &send(a, "GET", "/in/pages?page=x&per_page=5", None, ""),
            400,
            &format!("{b}"),
        );
        assert_eq!(v["errors"][0]["parameter"], "page", "{b}: {v}");
    });
}

#[test]
fn routes_without_declared_input_are_untouched() {
    each_backend(|b, a| {
        // `POST /body` declares no input: any content type, any bytes reach the handler.
        let r = send(a, "POST", "/body", Some("text/plain"), "{not json");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "len=9 body={not json"),
            "{b}"
        );
    });
}
