//! Cookies: read from the request, set on the response with every attribute, and signed
//! or encrypted (private) with keys that can rotate.
//!
//! The format and the cryptography are the [`cookie`](https://docs.rs/cookie) crate's
//! (HMAC-SHA256 signatures, AES-256-GCM encryption); [`Cookie`] and [`SameSite`] are its
//! types, re-exported.
//!
//! Reading allocates nothing unless asked to: [`Request::cookie`] returns the value
//! (percent-decoded, borrowed from the request when it has no escapes) and
//! [`Request::cookies`] iterates the raw pairs. Malformed pairs are skipped.
//!
//! ```
//! use ember_runtime::cookie::{Cookie, SameSite};
//! use ember_runtime::{Header, Method, Request, Response, Version};
//!
//! let headers = [Header { name: "Cookie", value: b"theme=dark; lang=en%2DGB" }];
//! let req = Request::from_parts(Method::Get, "/", Version::Http11, &headers, b"");
//! assert_eq!(req.cookie("theme").as_deref(), Some("dark"));
//! assert_eq!(req.cookie("lang").as_deref(), Some("en-GB"));
//!
//! let resp = Response::text("ok")
//!     .cookie(
//!         Cookie::build(("theme", "light"))
//!             .path("/")
//!             .max_age(ember_runtime::cookie::time::Duration::days(30))
//!             .http_only(true)
//!             .secure(true)
//!             .same_site(SameSite::Lax),
//!     )
//!     .remove_cookie("lang");
//! let lines: Vec<&str> = resp.set_cookies().collect();
//! assert!(lines[0].starts_with("theme=light;"));
//! assert!(lines[1].starts_with("lang=; ") && lines[1].contains("Max-Age=0"));
//! ```
//!
//! Signed and private cookies need keys: the spec's `cookies: { keys_env: COOKIE_KEYS }`
//! (or `keys_file:`) loads them when the server starts and refuses to start when they are
//! missing or shorter than 64 bytes (see [`CookieKeys`] for the format and rotation).
//!
//! ```ignore
//! pub async fn remember(req: &Request<'_>) -> Response {
//!     match req.signed_cookie("user") {
//!         // Signed with an older key: sign it again with the current one.
//!         Some(v) if v.is_stale() => Response::text(v.to_string()).signed_cookie(("user", v.to_string())),
//!         Some(v) => Response::text(v.to_string()),
//!         None => Response::text("who are you?"),
//!     }
//! }
//! ```

pub(crate) mod keys;
mod parse;

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

pub use ::cookie::{Cookie, CookieBuilder, SameSite, time};
pub use keys::{CookieKeys, KeyError, MIN_KEY_BYTES, install, installed};
pub use parse::Cookies;

use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::status::StatusCode;

/// A verified (signed) or decrypted (private) cookie value. Derefs to `str`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieValue {
    value: String,
    stale: bool,
}

impl CookieValue {
    /// Whether an older key (not the first) signed or encrypted it: set it again to have
    /// it re-issued under the current key.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// The value.
    pub fn into_string(self) -> String {
        self.value
    }
}

impl Deref for CookieValue {
    type Target = str;
    fn deref(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for CookieValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<'a> Request<'a> {
    /// The value of the first cookie named `name`, percent-decoded (borrowed from the
    /// request unless it had escapes).
    pub fn cookie(&self, name: &str) -> Option<Cow<'a, str>> {
        self.cookies()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| parse::decode(v))
    }

    /// Every cookie the request carries, as raw `(name, value)` pairs (see [`Cookies`]).
    pub fn cookies(&self) -> Cookies<'a> {
        Cookies::new(self.headers)
    }

    /// The value of the signed cookie `name`, if one of the installed keys verifies it
    /// (`None` also when no keys are installed: the spec has no `cookies:`).
    pub fn signed_cookie(&self, name: &str) -> Option<CookieValue> {
        let keys = installed()?;
        let raw = self.cookie(name)?;
        keys.verify(name, &raw).map(|(value, i)| CookieValue {
            value,
            stale: i > 0,
        })
    }

    /// The plain value of the private (encrypted) cookie `name`, if one of the installed
    /// keys decrypts it.
    pub fn private_cookie(&self, name: &str) -> Option<CookieValue> {
        let keys = installed()?;
        let raw = self.cookie(name)?;
        keys.decrypt(name, &raw).map(|(value, i)| CookieValue {
            value,
            stale: i > 0,
        })
    }
}

impl Response {
    /// Adds a `Set-Cookie` header for `cookie` (its value percent-encoded where needed,
    /// with every attribute it has: `Path`, `Domain`, `Max-Age`, `Expires`, `Secure`,
    /// `HttpOnly`, `SameSite`, `Partitioned`).
    pub fn cookie(self, cookie: impl Into<Cookie<'static>>) -> Self {
        let cookie = cookie.into();
        let line = cookie.encoded().to_string();
        self.header("Set-Cookie", &line)
    }

    /// Adds a `Set-Cookie` header that tells the client to drop the cookie `cookie` names
    /// (empty value, `Max-Age=0`, an `Expires` in the past). Give the same `Path` and
    /// `Domain` it was set with (a name alone means the defaults).
    pub fn remove_cookie(self, cookie: impl Into<Cookie<'static>>) -> Self {
        let mut cookie = cookie.into();
        cookie.make_removal();
        self.cookie(cookie)
    }

    /// Adds `cookie` with its value signed by the first installed key: the client can read
    /// it but not change it. (The signature covers the value, not the name: a value signed
    /// for one cookie verifies under another name too; use a private cookie, or put the
    /// purpose in the value, where that matters.) Without keys (no `cookies:` in the spec) the response becomes
    /// a `500` and an error is logged: the cookie is never sent unsigned.
    pub fn signed_cookie(self, cookie: impl Into<Cookie<'static>>) -> Self {
        match installed() {
            Some(keys) => self.cookie(keys.sign(cookie.into())),
            None => no_keys("signed_cookie"),
        }
    }

    /// Adds `cookie` with its value encrypted by the first installed key: the client can
    /// neither read nor change it. Without keys, a `500` (see [`Response::signed_cookie`]).
    pub fn private_cookie(self, cookie: impl Into<Cookie<'static>>) -> Self {
        match installed() {
            Some(keys) => self.cookie(keys.encrypt(cookie.into())),
            None => no_keys("private_cookie"),
        }
    }

    /// The values of the response's `Set-Cookie` headers, in order.
    pub fn set_cookies(&self) -> impl Iterator<Item = &str> {
        self.header_lines().filter_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim())
        })
    }
}

/// The answer when a handler asks for a signed or private cookie without keys.
fn no_keys(what: &str) -> Response {
    tracing::error!(
        "Response::{what}: no cookie keys (declare `cookies: {{ keys_env: … }}` in the spec); \
         answering 500 instead of sending the cookie unprotected"
    );
    Response::error(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::method::Method;
    use crate::http::request::{Header, Version};

    #[test]
    fn every_attribute_reaches_set_cookie() {
        let expires =
            ::cookie::time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a time");
        let resp = Response::text("x").cookie(
            Cookie::build(("id", "a b;c"))
                .path("/app")
                .domain("example.com")
                .max_age(::cookie::time::Duration::seconds(60))
                .expires(expires)
                .secure(true)
                .http_only(true)
                .same_site(SameSite::Strict)
                .partitioned(true),
        );
        let line = resp.set_cookies().next().expect("a Set-Cookie").to_owned();
        assert!(line.starts_with("id=a%20b%3Bc; "), "{line}");
        for attr in [
            "HttpOnly",
            "SameSite=Strict",
            "Partitioned",
            "Secure",
            "Path=/app",
            "Domain=example.com",
            "Max-Age=60",
            "Expires=Fri, 15 Jan 2027 08:00:00 GMT",
        ] {
            assert!(line.split("; ").any(|a| a == attr), "{attr} in {line}");
        }
        let headers = [Header {
            name: "Cookie",
            value: b"id=a%20b%3Bc",
        }];
        let req = Request::from_parts(Method::Get, "/", Version::Http11, &headers, b"");
        assert_eq!(req.cookie("id").as_deref(), Some("a b;c"));
        assert_eq!(req.cookie("nope"), None);
    }

    #[test]
    fn removal_expires_the_cookie() {
        let resp =
            Response::new(StatusCode::OK).remove_cookie(Cookie::build("s").path("/x").build());
        let line = resp.set_cookies().next().expect("a Set-Cookie");
        assert!(line.starts_with("s=; "), "{line}");
        assert!(
            line.contains("Max-Age=0") && line.contains("Path=/x"),
            "{line}"
        );
        assert!(line.contains("Expires="), "{line}");
    }
}
