//! The example apps' contracts, served in-process over real sockets on both backends.

use ember_tests::{BACKENDS, Client, start};

#[test]
fn hello_serves_the_techempower_shapes() {
    for b in BACKENDS {
        let server = start(hello::App, b, 2);
        let mut c = Client::connect(server.local_addr());
        let r = c.get("/plaintext");
        assert_eq!(r.status, 200, "{b}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.text(), "Hello, World!");
        let r = c.get("/json");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.text(), r#"{"message":"Hello, World!"}"#);
        let r = c.get("/hello/Ember");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.text(), "Hello, Ember!");
        assert_eq!(c.get("/hello/%E2%9C%93").text(), "Hello, ✓!");
    }
}

#[test]
fn echo_reports_what_was_parsed() {
    for b in BACKENDS {
        let server = start(echo::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        c.send(b"PATCH /a/b%20c?x=1&y HTTP/1.1\r\nHost: h\r\nX-Bytes: \xe9t\xe9\r\nContent-Length: 3\r\n\r\n\x00\xff!");
        let r = c.read_reply(false).expect("reply");
        assert_eq!(r.status, 200, "{b}");
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["method"], "PATCH");
        assert_eq!(v["path"], "/a/b%20c");
        assert_eq!(v["query"], "x=1&y");
        assert_eq!(
            v["headers"],
            serde_json::json!([
                ["Host", "h"],
                ["X-Bytes", "\u{e9}t\u{e9}"],
                ["Content-Length", "3"]
            ])
        );
        assert_eq!(v["body"], "\u{0}\u{ff}!");
        let r = c.get("/");
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(
            (v["path"].as_str(), v["query"].as_str(), v["body"].as_str()),
            (Some("/"), Some(""), Some(""))
        );
        c.send(b"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n");
        let v: serde_json::Value =
            serde_json::from_slice(&c.read_reply(false).expect("reply").body).expect("json");
        assert_eq!(v["method"], "BREW");
    }
}
