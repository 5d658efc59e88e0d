//! Cookies (issue 15) over real sockets, on both backends: every `Set-Cookie` attribute on
//! the wire, signed and private cookies round-tripped, tampering and unknown keys refused,
//! a value signed or encrypted under an old key accepted (and re-signed), removal, a
//! malformed `Cookie` header tolerated, and everything through a real HTTP client's cookie
//! jar (Python `requests.Session`).
//!
//! The server's keys are `tests/fixtures/cookie_keys.txt` (the first signs, the second is
//! an "old" one); this test signs and encrypts with the `cookie` crate directly.

use std::net::SocketAddr;
use std::process::Command;

use base64::Engine as _;
use cookie::{Cookie, CookieJar, Key};
use ember_tests::{BACKENDS, Client, Reply, start};

/// The fixture's keys, in order (current, old).
fn keys() -> Vec<Key> {
    let text = include_str!("../fixtures/cookie_keys.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(l.trim())
                .expect("base64 key");
            Key::from(&bytes)
        })
        .collect()
}

/// `value` signed for cookie `name` under `key`.
fn signed(key: &Key, name: &str, value: &str) -> String {
    let mut jar = CookieJar::new();
    jar.signed_mut(key)
        .add(Cookie::new(name.to_owned(), value.to_owned()));
    jar.get(name).expect("added").value().to_owned()
}

/// `value` encrypted for cookie `name` under `key`.
fn encrypted(key: &Key, name: &str, value: &str) -> String {
    let mut jar = CookieJar::new();
    jar.private_mut(key)
        .add(Cookie::new(name.to_owned(), value.to_owned()));
    jar.get(name).expect("added").value().to_owned()
}

/// GET `path` with a `Cookie` header (`None`: without one).
fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Reply {
    let mut c = Client::connect(addr);
    let header = cookie.map_or(String::new(), |v| format!("Cookie: {v}\r\n"));
    c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{header}\r\n").as_bytes());
    c.read_reply(false).expect("a reply")
}

/// Every `Set-Cookie` value of a reply.
fn set_cookies(r: &Reply) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.clone())
        .collect()
}

/// The `Set-Cookie` line for cookie `name`, split into its value and its attributes.
fn cookie_line(r: &Reply, name: &str) -> (String, Vec<String>) {
    let line = set_cookies(r)
        .into_iter()
        .find(|l| l.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {:?}", r.headers));
    let mut parts = line.split("; ").map(str::to_owned);
    let value = parts.next().expect("a pair")[name.len() + 1..].to_owned();
    (value, parts.collect())
}

/// `/ck/read`'s JSON.
fn read(addr: SocketAddr, cookie: &str) -> serde_json::Value {
    let r = get(addr, "/ck/read", Some(cookie));
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).expect("JSON")
}

#[test]
fn every_attribute_reaches_the_wire() {
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 1);
        let r = get(server.local_addr(), "/ck/set", None);
        assert_eq!(r.status, 200, "{backend}");
        assert_eq!(set_cookies(&r).len(), 5, "{backend}: {:?}", r.headers);

        let (v, attrs) = cookie_line(&r, "plain");
        assert_eq!(v, "v1");
        for a in ["HttpOnly", "SameSite=Lax", "Path=/ck", "Max-Age=3600"] {
            assert!(attrs.iter().any(|x| x == a), "{backend}: {a} in {attrs:?}");
        }
        assert!(!attrs.iter().any(|x| x == "Secure"), "{attrs:?}");

        let (v, attrs) = cookie_line(&r, "spaced");
        assert_eq!(v, "a%20b%3Bc", "{backend}: percent-encoded on the wire");
        assert_eq!(attrs, ["Path=/"]);

        let (_, attrs) = cookie_line(&r, "attrs");
        assert!(
            attrs
                .iter()
                .any(|a| a.starts_with("Expires=") && a.ends_with(", 04 Oct 2024 00:00:00 GMT")),
            "{backend}: {attrs:?}"
        );
        for a in [
            "HttpOnly",
            "SameSite=None",
            "Partitioned",
            "Secure",
            "Path=/elsewhere",
            "Domain=example.com",
            "Max-Age=60",
        ] {
            assert!(attrs.iter().any(|x| x == a), "{backend}: {a} in {attrs:?}");
        }

        // Signed: readable, with a signature in front; private: unreadable.
        let (v, _) = cookie_line(&r, "sig");
        assert!(v.ends_with("alice") && v.len() > "alice".len() + 40, "{v}");
        let (v, _) = cookie_line(&r, "priv");
        let decoded = percent_decode(&v);
        assert!(!decoded.contains("secret"), "{decoded}");
        let k = keys();
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new("priv", decoded.clone()));
        assert_eq!(
            jar.private(&k[0]).get("priv").map(|c| c.value().to_owned()),
            Some("the secret".to_owned()),
            "encrypted under the first key"
        );
        server.shutdown().expect("shutdown");
    }
}

/// `%XX` escapes decoded (the cookie crate encodes values that need it).
fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(n) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(n);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn signed_and_private_cookies_round_trip_and_tampering_is_refused() {
    let k = keys();
    let unknown = Key::from(&[42u8; 64]);
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 1);
        let addr = server.local_addr();
        let set = get(addr, "/ck/set", None);
        let (sig, _) = cookie_line(&set, "sig");
        let (private, _) = cookie_line(&set, "priv");

        let v = read(addr, &format!("sig={sig}; priv={private}; plain=v1"));
        assert_eq!(v["sig"], "alice", "{backend}: {v}");
        assert_eq!(v["sig_stale"], false);
        assert_eq!(v["priv"], "the secret");
        assert_eq!(v["priv_stale"], false);
        assert_eq!(v["plain"], "v1");

        // A changed value, a signature from an unknown key, a changed ciphertext.
        let tampered = format!("{}x", &sig[..sig.len() - 1]);
        let v = read(addr, &format!("sig={tampered}"));
        assert!(v["sig"].is_null(), "{backend}: tampered accepted: {v}");
        let v = read(addr, &format!("sig={}", signed(&unknown, "sig", "alice")));
        assert!(v["sig"].is_null(), "{backend}: unknown key accepted: {v}");
        let v = read(addr, "sig=alice");
        assert!(v["sig"].is_null(), "{backend}: unsigned accepted: {v}");
        let mut bad = percent_decode(&private).into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let v = read(
            addr,
            &format!("priv={}", String::from_utf8(bad).expect("ascii")),
        );
        assert!(v["priv"].is_null(), "{backend}: tampered ciphertext: {v}");
        let v = read(addr, &format!("priv={}", encrypted(&unknown, "priv", "x")));
        assert!(v["priv"].is_null(), "{backend}: unknown key decrypted: {v}");
        // Test-made cookies under the current key are the server's format too.
        let v = read(addr, &format!("sig={}", signed(&k[0], "sig", "carol")));
        assert_eq!(v["sig"], "carol", "{backend}");
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn a_cookie_under_an_old_key_is_accepted_and_re_signed_under_the_current_one() {
    let k = keys();
    assert_eq!(k.len(), 2, "the fixture has a current and an old key");
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 1);
        let addr = server.local_addr();
        let old_sig = signed(&k[1], "sig", "bob");
        let old_priv = encrypted(&k[1], "priv", "old secret");
        let v = read(addr, &format!("sig={old_sig}; priv={old_priv}"));
        assert_eq!(v["sig"], "bob", "{backend}: {v}");
        assert_eq!(v["sig_stale"], true, "{backend}: an old key signed it");
        assert_eq!(v["priv"], "old secret", "{backend}: {v}");
        assert_eq!(v["priv_stale"], true);

        let r = get(addr, "/ck/resign", Some(&format!("sig={old_sig}")));
        assert_eq!(r.text(), "resigned", "{backend}");
        let (new_sig, _) = cookie_line(&r, "sig");
        assert_ne!(new_sig, old_sig);
        let verify = |key: &Key| {
            let jar = CookieJar::new();
            jar.signed(key)
                .verify(Cookie::new("sig", percent_decode(&new_sig)))
                .map(|c| c.value().to_owned())
        };
        assert_eq!(
            verify(&k[0]),
            Some("bob".to_owned()),
            "{backend}: current key"
        );
        assert_eq!(verify(&k[1]), None, "{backend}: not the old key");
        let r = get(addr, "/ck/resign", Some(&format!("sig={new_sig}")));
        assert_eq!(r.text(), "current", "{backend}");
        assert!(set_cookies(&r).is_empty(), "{backend}: nothing to re-issue");
        server.shutdown().expect("shutdown");
    }
}

#[test]
fn removal_and_malformed_headers() {
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 1);
        let addr = server.local_addr();
        let r = get(addr, "/ck/remove", None);
        let (v, attrs) = cookie_line(&r, "plain");
        assert_eq!(v, "", "{backend}");
        assert!(attrs.iter().any(|a| a == "Max-Age=0"), "{attrs:?}");
        assert!(attrs.iter().any(|a| a == "Path=/ck"), "{attrs:?}");
        assert!(attrs.iter().any(|a| a.starts_with("Expires=")), "{attrs:?}");
        let (v, _) = cookie_line(&r, "spaced");
        assert_eq!(v, "");

        // Junk around a good pair: the good pair is read, the rest skipped, no error.
        let v = read(
            addr,
            ";; junk ; =nameless; plain=v1 ;sig; spaced=\"a%20b\";",
        );
        assert_eq!(v["plain"], "v1", "{backend}: {v}");
        assert_eq!(v["spaced"], "a b", "{backend}: quotes dropped, decoded");
        assert_eq!(v["count"], 2, "{backend}: {v}");
        assert!(v["sig"].is_null());
        server.shutdown().expect("shutdown");
    }
}

/// The Python client: sets cookies through `/ck/set`, reads them back through `/ck/read`,
/// removes two through `/ck/remove` and reads again; prints what it saw and what its jar
/// holds, as JSON.
const JAR_CLIENT: &str = r#"
import json, sys, requests
base = sys.argv[1]
s = requests.Session()
r = s.get(base + "/ck/set"); r.raise_for_status()
jar = {c.name: c.value for c in s.cookies}
first = s.get(base + "/ck/read").json()
s.get(base + "/ck/remove").raise_for_status()
after = s.get(base + "/ck/read").json()
print(json.dumps({"jar": jar, "first": first, "after": after,
                  "left": sorted(c.name for c in s.cookies)}))
"#;

#[test]
fn a_real_clients_cookie_jar_round_trips_them() {
    let Some(py) = ember_tests::python("cookie jar round trip") else {
        return;
    };
    for backend in BACKENDS {
        let server = start(ember_tests::App, backend, 1);
        let base = format!("http://{}", server.local_addr());
        let out = Command::new(&py)
            .args(["-c", JAR_CLIENT, &base])
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        // The jar keeps what was set for this host (`attrs` is for example.com: refused).
        let jar = &v["jar"];
        assert!(jar.get("attrs").is_none(), "{backend}: {jar}");
        assert!(
            !jar["priv"].as_str().unwrap_or("secret").contains("secret"),
            "{backend}: the private cookie is unreadable to the client: {jar}"
        );
        assert!(jar["sig"].as_str().is_some_and(|s| s.ends_with("alice")));
        let first = &v["first"];
        assert_eq!(first["plain"], "v1", "{backend}: Path=/ck matched: {first}");
        assert_eq!(first["spaced"], "a b;c", "{backend}: {first}");
        assert_eq!(first["sig"], "alice");
        assert_eq!(first["priv"], "the secret");
        let after = &v["after"];
        assert!(after["plain"].is_null(), "{backend}: removed: {after}");
        assert!(after["spaced"].is_null(), "{backend}: removed: {after}");
        assert_eq!(after["sig"], "alice", "{backend}: kept: {after}");
        assert_eq!(v["left"], serde_json::json!(["priv", "sig"]), "{backend}");
        server.shutdown().expect("shutdown");
    }
}
