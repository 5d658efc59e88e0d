//! `OPTIONS` (issue 11, point 6): every declared path answers `204 No Content` with `Allow`
//! (the methods its routes answer, `HEAD` with `GET`, and `OPTIONS`), unless the spec
//! declares an `OPTIONS` route there; `OPTIONS *` lists the app's methods; unknown paths are
//! `404`; CORS preflights are CORS's. On both backends.

use std::net::SocketAddr;

use ember_tests::{App, BACKENDS, Client, Reply, start};

fn options(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut c = Client::connect(addr);
    let mut head = format!("OPTIONS {target} HTTP/1.1\r\nHost: t\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    c.send(head.as_bytes());
    c.read_reply(false).expect("a response")
}

#[test]
fn options_answers_allow_on_every_declared_path() {
    for b in BACKENDS {
        let server = start(App, b, 1);
        let a = server.local_addr();
        for (path, allow) in [
            ("/plaintext", "GET, HEAD, OPTIONS"),
            ("/users/3", "GET, HEAD, DELETE, OPTIONS"),
            ("/body", "POST, OPTIONS"),
            ("/things/a/parts/1", "PUT, OPTIONS"),
            ("/opt", "GET, HEAD, OPTIONS"),
            // Not a valid `u64`: the path is declared all the same.
            ("/users/x", "GET, HEAD, DELETE, OPTIONS"),
        ] {
            let r = options(a, path, &[]);
            assert_eq!(
                (r.status, r.header("allow"), r.body.len()),
                (204, Some(allow), 0),
                "{b} {path}"
            );
            assert_eq!(r.header("content-length"), None, "{b} {path}");
        }
        // The 405 of another method lists the same methods.
        let mut c = Client::connect(a);
        c.send(b"PUT /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        let r = c.read_reply(false).expect("a response");
        assert_eq!(
            (r.status, r.header("allow")),
            (405, Some("GET, HEAD, OPTIONS")),
            "{b}"
        );
        // The connection stays usable after a 204.
        let mut c = Client::connect(a);
        c.send(b"OPTIONS /plaintext HTTP/1.1\r\nHost: t\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(c.read_reply(false).expect("the 204").status, 204, "{b}");
        let r = c.read_reply(false).expect("the GET");
        assert_eq!(
            (r.status, r.text()),
            (200, "Hello, World!".to_owned()),
            "{b}"
        );
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn unknown_paths_declared_options_routes_and_asterisk() {
    for b in BACKENDS {
        let server = start(App, b, 1);
        let a = server.local_addr();
        assert_eq!(options(a, "/nope", &[]).status, 404, "{b}");
        assert_eq!(options(a, "/plaintext/extra", &[]).status, 404, "{b}");
        // A declared `OPTIONS` route runs its handler.
        let r = options(a, "/opt/declared", &[]);
        assert_eq!((r.status, r.text()), (200, "index".to_owned()), "{b}");
        // `OPTIONS *`: every method the app answers.
        let r = options(a, "*", &[]);
        assert_eq!(
            (r.status, r.header("allow"), r.body.len()),
            (204, Some("GET, HEAD, POST, PUT, DELETE, OPTIONS"), 0),
            "{b}"
        );
        server.shutdown().expect("clean shutdown");
    }
}

#[test]
fn options_runs_no_middleware_and_cors_keeps_its_preflights() {
    for b in BACKENDS {
        let server = start(App, b, 1);
        let a = server.local_addr();
        // Behind bearer auth: the methods are not a secret (as with a 405), no 401.
        let r = options(a, "/opt/auth", &[]);
        assert_eq!(
            (r.status, r.header("allow"), r.header("www-authenticate")),
            (204, Some("POST, OPTIONS"), None),
            "{b}"
        );
        // A preflight on a CORS route is answered by CORS, as before.
        let pre = [
            ("Origin", "https://app.test"),
            ("Access-Control-Request-Method", "PUT"),
        ];
        let r = options(a, "/mw/cors", &pre);
        assert_eq!(r.status, 204, "{b}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.test"),
            "{b}"
        );
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("GET, POST, PUT"),
            "{b}"
        );
        assert_eq!(r.header("allow"), None, "{b}: a preflight answer");
        let refused = [
            ("Origin", "https://evil.test"),
            ("Access-Control-Request-Method", "PUT"),
        ];
        assert_eq!(options(a, "/mw/cors", &refused).status, 403, "{b}");
        // A plain OPTIONS on the CORS route: the router's answer.
        let r = options(a, "/mw/cors", &[("Origin", "https://app.test")]);
        assert_eq!(
            (r.status, r.header("allow")),
            (204, Some("GET, HEAD, PUT, OPTIONS")),
            "{b}"
        );
        server.shutdown().expect("clean shutdown");
    }
}
