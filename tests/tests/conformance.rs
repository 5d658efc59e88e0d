//! HTTP/1.1 conformance and request-smuggling cases, written from RFC 9112/9110 and public
//! smuggling research, sent as raw bytes to `examples/echo` on both backends — whole and
//! byte by byte — plus the shared llhttp vectors through their black-box runner.

use std::time::Duration;

use ember_runtime::Backend;
use ember_tests::{BACKENDS, Client, start};
use serde_json::Value;

/// What a case must produce.
#[derive(Debug, Clone)]
enum Want {
    /// These requests are served, in order (method, path, body as echo reports them), and
    /// the connection stays open (`false`) or closes (`true`) after them.
    Served(&'static [(&'static str, &'static str, &'static str)], bool),
    /// One of these statuses, then the connection closes; nothing else is answered.
    Rejected(&'static [u16]),
}

use Want::{Rejected, Served};

const BAD: &[u16] = &[400];

/// (name, raw request bytes, expectation).
fn cases() -> Vec<(&'static str, &'static [u8], Want)> {
    vec![
        // --- Content-Length and Transfer-Encoding together (CL.TE / TE.CL) ---
        ("cl-te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", Rejected(BAD)),
        ("te-cl", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-identity-cl", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nWorld", Rejected(BAD)),
        // --- TE.TE: obfuscated Transfer-Encoding ---
        ("te-xchunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-space-before-colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-second-field-not-chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-chunked-twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-chunked-not-last", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-gzip-chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", Rejected(&[501])),
        ("te-quoted", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-obs-fold", b"POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-leading-space-line", b"POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-vertical-tab", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Rejected(BAD)),
        ("te-uppercase", b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Served(&[("POST", "/u", "abc")], false)),
        ("te-tab-ows", b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", Served(&[("POST", "/t", "x")], false)),
        // --- chunked framing ---
        ("chunked-ext-trailer", b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d e\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n", Served(&[("POST", "/c", "hello world")], false)),
        ("chunked-leading-zeros", b"POST /z HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n000\r\n\r\n", Served(&[("POST", "/z", "hello")], false)),
        ("chunked-then-pipelined", b"POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", Served(&[("POST", "/1", "ok"), ("GET", "/2", "")], false)),
        ("chunked-size-overflow", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nx\r\n0\r\n\r\n", Rejected(&[400, 413])),
        ("chunked-size-bare-lf", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", Rejected(BAD)),
        ("chunked-data-no-crlf", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloGET / HTTP/1.1\r\n\r\n", Rejected(BAD)),
        ("chunked-data-bare-lf", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", Rejected(BAD)),
        ("chunked-negative", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", Rejected(BAD)),
        ("chunked-0x", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", Rejected(BAD)),
        ("chunked-space-after-size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", Rejected(BAD)),
        ("chunked-empty-ext", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", Rejected(BAD)),
        ("chunked-unbalanced-quote", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", Rejected(BAD)),
        ("chunked-trailer-obs-fold", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n folded\r\n\r\n", Rejected(BAD)),
        ("chunked-bare-cr-size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n", Rejected(BAD)),
        ("chunked-over-body-limit", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n", Rejected(&[413])),
        // --- Content-Length ---
        ("cl-duplicate-differs", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", Rejected(BAD)),
        ("cl-list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab", Rejected(BAD)),
        ("cl-plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\na", Rejected(BAD)),
        ("cl-empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", Rejected(BAD)),
        ("cl-hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x1\r\n\r\na", Rejected(BAD)),
        ("cl-overflow", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 184467440737095516160\r\n\r\n", Rejected(BAD)),
        ("cl-body-then-pipelined", b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzGET /b HTTP/1.1\r\nHost: a\r\n\r\n", Served(&[("POST", "/a", "xyz"), ("GET", "/b", "")], false)),
        ("cl-chunked-looking-body", b"POST /l HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", Served(&[("POST", "/l", "0\r\n\r\n")], false)),
        // --- line endings and field syntax ---
        ("bare-cr-in-head", b"GET / HTTP/1.1\rHost: a\r\n\r\n", Rejected(BAD)),
        ("bare-lf-request-line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", Rejected(BAD)),
        ("bare-lf-between-fields", b"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", Rejected(BAD)),
        ("bare-lf-end-of-head", b"GET / HTTP/1.1\r\nHost: a\r\n\n", Rejected(BAD)),
        ("cr-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Rejected(BAD)),
        ("nul-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Rejected(BAD)),
        ("space-before-colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", Rejected(BAD)),
        ("empty-field-name", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", Rejected(BAD)),
        ("bad-name-char", b"GET / HTTP/1.1\r\nHost: a\r\nX@Y: b\r\n\r\n", Rejected(BAD)),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Rejected(BAD)),
        ("whitespace-only-line", b"GET / HTTP/1.1\r\nHost: a\r\n \r\n\r\n", Rejected(BAD)),
        ("leading-crlfs", b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n", Served(&[("GET", "/x", "")], false)),
        ("obs-text-value", b"GET /o HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n", Served(&[("GET", "/o", "")], false)),
        // --- Host ---
        ("host-missing", b"GET / HTTP/1.1\r\n\r\n", Rejected(BAD)),
        ("host-duplicate", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Rejected(BAD)),
        ("host-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Rejected(BAD)),
        ("host-slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Rejected(BAD)),
        ("host-userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Rejected(BAD)),
        ("host-bad-port", b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", Rejected(BAD)),
        ("host-ipv6", b"GET /6 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", Served(&[("GET", "/6", "")], false)),
        ("host-empty", b"GET /e HTTP/1.1\r\nHost:\r\n\r\n", Served(&[("GET", "/e", "")], false)),
        ("host-http10-optional", b"GET /h HTTP/1.0\r\n\r\n", Served(&[("GET", "/h", "")], true)),
        // --- request-target forms ---
        ("target-absolute", b"GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", Served(&[("GET", "/p", "")], false)),
        ("target-absolute-no-path", b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", Served(&[("GET", "/", "")], false)),
        ("target-absolute-userinfo", b"GET http://u:p@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", Rejected(BAD)),
        ("target-relative", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", Rejected(BAD)),
        ("target-asterisk-get", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Rejected(BAD)),
        ("target-authority-connect", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", Rejected(BAD)),
        ("target-fragment-dropped", b"GET /f?x=1#frag HTTP/1.1\r\nHost: a\r\n\r\n", Served(&[("GET", "/f", "")], false)),
        ("target-space-in-path", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Rejected(BAD)),
        // --- versions and connection semantics ---
        ("version-http2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Rejected(&[505, 400])),
        ("version-garbage", b"GET / HTTP/1.x\r\nHost: a\r\n\r\n", Rejected(&[400, 505])),
        ("version-http09", b"GET /\r\n\r\n", Rejected(BAD)),
        ("http10-closes", b"GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n\r\n", Served(&[("GET", "/1", "")], true)),
        ("http10-keep-alive", b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n", Served(&[("GET", "/1", ""), ("GET", "/2", "")], true)),
        ("http11-close", b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", Served(&[("GET", "/1", "")], true)),
        ("http11-close-token-list", b"GET /1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", Served(&[("GET", "/1", "")], true)),
        ("expect-unknown", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", Rejected(&[417])),
        // --- limits ---
        ("uri-too-long", Box::leak(format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000)).into_bytes().into_boxed_slice()), Rejected(&[414])),
        ("head-too-large", Box::leak(format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "a".repeat(17000)).into_bytes().into_boxed_slice()), Rejected(&[431])),
        ("too-many-fields", Box::leak(format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", (0..101).map(|i| format!("X-{i}: 1\r\n")).collect::<String>()).into_bytes().into_boxed_slice()), Rejected(&[431])),
        ("body-too-large", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", Rejected(&[413])),
    ]
}

/// Sends `raw` (whole, or one byte per write) and reads the answers: `expected` of them
/// with a generous timeout, then whatever else comes before the server closes or stays
/// quiet for a moment.
fn exchange(
    addr: std::net::SocketAddr,
    raw: &[u8],
    bytewise: bool,
    expected: usize,
) -> (Vec<(u16, Vec<u8>)>, bool) {
    let mut c = Client::connect(addr);
    c.set_read_timeout(Duration::from_secs(5));
    if bytewise {
        for b in raw {
            if c.try_send(&[*b]).is_err() {
                break;
            }
        }
    } else {
        let _ = c.try_send(raw);
    }
    let mut got = Vec::new();
    while got.len() < expected {
        match c.read_reply(false) {
            Some(r) => got.push((r.status, r.body)),
            None => return (got, true),
        }
    }
    c.set_read_timeout(Duration::from_millis(150));
    while let Some(r) = c.read_reply(false) {
        got.push((r.status, r.body));
    }
    (got, c.closed_seen())
}

fn check(
    name: &str,
    b: Backend,
    bytewise: bool,
    want: &Want,
    got: &[(u16, Vec<u8>)],
    closed: bool,
) {
    let ctx = format!(
        "{name} on {b} ({})",
        if bytewise { "byte by byte" } else { "whole" }
    );
    match want {
        Rejected(statuses) => {
            assert_eq!(
                got.len(),
                1,
                "{ctx}: want one rejection, got {:?}",
                statuses_of(got)
            );
            assert!(
                statuses.contains(&got[0].0),
                "{ctx}: want {statuses:?}, got {}",
                got[0].0
            );
            assert!(closed, "{ctx}: connection left open after a rejection");
        }
        Served(reqs, must_close) => {
            assert_eq!(
                got.len(),
                reqs.len(),
                "{ctx}: want {} answers, got {:?}",
                reqs.len(),
                statuses_of(got)
            );
            for ((status, body), (method, path, req_body)) in got.iter().zip(reqs.iter()) {
                assert_eq!(*status, 200, "{ctx}");
                let v: Value = serde_json::from_slice(body).expect("echo json");
                assert_eq!(v["method"], *method, "{ctx}");
                assert_eq!(v["path"], *path, "{ctx}");
                assert_eq!(v["body"], *req_body, "{ctx}");
            }
            assert_eq!(closed, *must_close, "{ctx}: closed={closed}");
        }
    }
}

fn statuses_of(got: &[(u16, Vec<u8>)]) -> Vec<u16> {
    got.iter().map(|(s, _)| *s).collect()
}

#[test]
fn rfc_and_smuggling_cases_whole_and_byte_by_byte() {
    for b in BACKENDS {
        let server = start(echo::App, b, 1);
        let addr = server.local_addr();
        for (name, raw, want) in cases() {
            for bytewise in [false, true] {
                let expected = match &want {
                    Served(reqs, _) => reqs.len(),
                    Rejected(_) => 1,
                };
                let (got, closed) = exchange(addr, raw, bytewise, expected);
                check(name, b, bytewise, &want, &got, closed);
            }
        }
    }
}

#[test]
fn options_asterisk_lists_the_servers_methods() {
    for b in BACKENDS {
        let server = start(ember_tests::App, b, 1);
        let mut c = Client::connect(server.local_addr());
        c.send(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        let r = c.read_reply(false).expect("reply");
        assert_eq!(
            (r.status, r.header("allow")),
            (204, Some("GET, HEAD, POST, PUT, DELETE, OPTIONS")),
            "{b}"
        );
    }
}

/// The shared llhttp vectors through their own black-box runner (`../shared/conformance`).
#[test]
fn llhttp_vectors_pass_on_both_backends() {
    let runner =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/run.py");
    if !runner.exists() {
        ember_runtime::test_util::require_or_skip(
            "the llhttp vectors",
            &format!("{} is missing", runner.display()),
        );
        return;
    }
    for b in BACKENDS {
        let server = start(echo::App, b, 2);
        let out = std::process::Command::new("python3")
            .arg(&runner)
            .arg(server.local_addr().to_string())
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        assert!(out.status.success(), "{b}: {last}\n{stdout}");
        assert_eq!(last, "102 passed, 0 failed", "{b}");
    }
}
