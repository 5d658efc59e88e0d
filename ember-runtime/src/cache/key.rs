//! Cache keys: `GET /path?query` (the query per the route's rules), then one line per
//! `vary` header. Built into a reused buffer, so a hit allocates nothing.
//!
//! `HEAD` shares `GET`'s key (a HEAD is answered from the GET entry). A request that sends
//! `Authorization` or `Cookie` is not cached unless the key varies on that header; the
//! values of those two headers enter the key hashed, never in clear.

use std::hash::{BuildHasher, Hasher};

use super::Policy;
use crate::http::method::Method;
use crate::http::request::Request;

/// Why a request does not use the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Not a GET or HEAD: served as if the route had no cache, without a cache header.
    Method,
    /// Carries credentials the key does not vary on: served by the handler, uncached.
    Credentials,
}

/// Writes the request's key for `policy` into `out` (cleared first).
pub(crate) fn build(policy: &Policy, req: &Request<'_>, out: &mut Vec<u8>) -> Result<(), Skip> {
    out.clear();
    if !matches!(req.method(), Method::Get | Method::Head) {
        return Err(Skip::Method);
    }
    for credential in ["authorization", "cookie"] {
        if req.header(credential).is_some() && !policy.varies_on(credential) {
            return Err(Skip::Credentials);
        }
    }
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(req.path().as_bytes());
    let query = req.query();
    match policy.query {
        super::policy::Query::All => {
            if !query.is_empty() {
                out.push(b'?');
                out.extend_from_slice(query.as_bytes());
            }
        }
        super::policy::Query::None => {}
        super::policy::Query::Only(names) => {
            let mut first = true;
            for name in names {
                let found = query
                    .split('&')
                    .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
                    .find(|(k, _)| k == name);
                if let Some((k, v)) = found {
                    out.push(if first { b'?' } else { b'&' });
                    first = false;
                    out.extend_from_slice(k.as_bytes());
                    out.push(b'=');
                    out.extend_from_slice(v.as_bytes());
                }
            }
        }
    }
    for name in policy.vary {
        out.push(b'\n');
        out.extend_from_slice(name.as_bytes());
        match req.header(name) {
            None => {}
            Some(v) if is_credential(name) => {
                out.push(b'#');
                let h = secret_hash(v);
                out.extend_from_slice(&hex(h));
            }
            Some(v) => {
                out.push(b'=');
                out.extend_from_slice(v);
            }
        }
    }
    Ok(())
}

fn is_credential(name: &str) -> bool {
    name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("cookie")
}

/// A 128-bit keyed hash of a credential: two SipHash-1-3 runs with process-wide random
/// keys. Keys of an in-process cache never leave the process; for remote stores the
/// credential still never appears in clear.
fn secret_hash(v: &[u8]) -> u128 {
    use std::sync::OnceLock;
    static KEYS: OnceLock<(
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    )> = OnceLock::new();
    let (a, b) = KEYS.get_or_init(Default::default);
    let mut h1 = a.build_hasher();
    h1.write(v);
    let mut h2 = b.build_hasher();
    h2.write(v);
    (u128::from(h1.finish()) << 64) | u128::from(h2.finish())
}

fn hex(v: u128) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = DIGITS[((v >> (124 - 4 * i)) & 0xf) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Policy;
    use crate::http::request::{Header, Version};

    fn key(
        policy: &Policy,
        method: Method<'_>,
        target: &str,
        headers: &[Header<'_>],
    ) -> Result<String, Skip> {
        let req = Request::from_parts(method, target, Version::Http11, headers, b"");
        let mut out = Vec::new();
        build(policy, &req, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn table() {
        let all = Policy::new(0);
        let none = Policy::new(0).query_none();
        let only = Policy::new(0).query_only(&["page", "size"]);
        let vary = Policy::new(0).vary(&["accept-language"]);
        let h = |n: &'static str, v: &'static [u8]| Header { name: n, value: v };
        let lang = [h("Accept-Language", b"fr")];
        let auth = [h("Authorization", b"Bearer x")];
        let cookie = [h("Cookie", b"a=1")];
        type Case<'c> = (
            &'c Policy,
            Method<'c>,
            &'c str,
            &'c [Header<'c>],
            Result<&'c str, Skip>,
        );
        let cases: Vec<Case<'_>> = vec![
            (&all, Method::Get, "/t", &[], Ok("GET /t")),
            (&all, Method::Head, "/t?a=1", &[], Ok("GET /t?a=1")),
            (&all, Method::Post, "/t", &[], Err(Skip::Method)),
            (&none, Method::Get, "/t?a=1", &[], Ok("GET /t")),
            (
                &only,
                Method::Get,
                "/t?x=1&size=5&page=2",
                &[],
                Ok("GET /t?page=2&size=5"),
            ),
            (&only, Method::Get, "/t?x=1", &[], Ok("GET /t")),
            (
                &vary,
                Method::Get,
                "/t",
                &lang,
                Ok("GET /t\naccept-language=fr"),
            ),
            (&vary, Method::Get, "/t", &[], Ok("GET /t\naccept-language")),
            (&all, Method::Get, "/t", &auth, Err(Skip::Credentials)),
            (&all, Method::Get, "/t", &cookie, Err(Skip::Credentials)),
        ];
        for (p, m, t, hs, want) in cases {
            assert_eq!(key(p, m, t, hs).as_deref().map_err(|e| *e), want, "{m} {t}");
        }
    }

    #[test]
    fn credentials_enter_hashed() {
        let p = Policy::new(0).vary(&["authorization"]);
        let a = [Header {
            name: "Authorization",
            value: b"Bearer alice",
        }];
        let b = [Header {
            name: "authorization",
            value: b"Bearer bob",
        }];
        let ka = key(&p, Method::Get, "/me", &a).expect("cached");
        let kb = key(&p, Method::Get, "/me", &b).expect("cached");
        assert_ne!(ka, kb);
        assert!(!ka.contains("alice"));
        assert!(ka.starts_with("GET /me\nauthorization#"));
    }
}
