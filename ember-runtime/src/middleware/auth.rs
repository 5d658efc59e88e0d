//! Bearer tokens and API keys: secrets loaded at startup, compared in constant time.

use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::status::StatusCode;

/// Compares two byte strings in time that depends only on their lengths, not on where
/// they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for (i, x) in a.iter().enumerate() {
        // Past the end of `b`, compare with 0: the length difference already counts.
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    // Keep the optimizer from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}

/// A set of accepted secrets (bearer tokens or API keys), each with the identity it
/// stands for.
///
/// Secrets are read once, when a route first needs them, from an environment variable
/// and/or a file: entries separated by commas or newlines, each `identity:secret` or a
/// bare `secret` (whose identity is then `#1`, `#2`, … by position). Blank lines and lines
/// starting with `#` are skipped. A missing source is logged and accepts nothing.
#[derive(Debug)]
pub struct Secrets {
    entries: Vec<(String, Vec<u8>)>,
}

impl Secrets {
    /// Loads from the environment variable `env` and the file `file` (either may be absent).
    pub fn load(env: Option<&str>, file: Option<&str>) -> Secrets {
        let mut text = String::new();
        if let Some(name) = env {
            match std::env::var(name) {
                Ok(v) => text.push_str(&v),
                Err(_) => tracing::error!("middleware: `{name}` is not set; no secret from it"),
            }
            text.push('\n');
        }
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(v) => text.push_str(&v),
                Err(e) => tracing::error!("middleware: cannot read `{path}`: {e}"),
            }
        }
        Secrets::parse(&text)
    }

    /// Parses the entry list described on [`Secrets`].
    pub fn parse(text: &str) -> Secrets {
        let mut entries = Vec::new();
        for item in text.split(['\n', ',']) {
            let item = item.trim();
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let (id, secret) = match item.split_once(':') {
                Some((id, s)) if !id.trim().is_empty() => (id.trim().to_owned(), s.trim()),
                _ => (format!("#{}", entries.len() + 1), item),
            };
            if !secret.is_empty() {
                entries.push((id, secret.as_bytes().to_vec()));
            }
        }
        Secrets { entries }
    }

    /// The identity of the secret equal to `presented`. Every secret is compared, each in
    /// constant time, so the time taken does not reveal which one (or how much) matched.
    pub fn find(&self, presented: &[u8]) -> Option<&str> {
        let mut found = None;
        for (id, secret) in &self.entries {
            if ct_eq(secret, presented) && found.is_none() {
                found = Some(id.as_str());
            }
        }
        found
    }

    /// How many secrets are loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no secret is loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token<'a>(req: &Request<'a>) -> Option<&'a [u8]> {
    let v = req.header("authorization")?;
    if v.len() < 7 || !v[..7].eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let t = v[7..].trim_ascii();
    (!t.is_empty()).then_some(t)
}

/// The API key from header `header` or, when `header` is `None`, query parameter `query`.
pub fn api_key<'a>(req: &Request<'a>, header: Option<&str>, query: &str) -> Option<&'a [u8]> {
    let v = match header {
        Some(h) => req.header(h)?,
        None => req.query_param(query)?.as_bytes(),
    };
    (!v.is_empty()).then_some(v)
}

/// A `401 Unauthorized` with `WWW-Authenticate: <challenge>`.
pub fn unauthorized(challenge: &str) -> Response {
    Response::error(StatusCode::UNAUTHORIZED).header("WWW-Authenticate", challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"ab", b"abc"));
        assert!(!ct_eq(b"", b"a"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn secrets_parse() {
        let s = Secrets::parse("alice:t1, t2\n# comment\n\nbob : t3");
        assert_eq!(s.len(), 3);
        assert_eq!(s.find(b"t1"), Some("alice"));
        assert_eq!(s.find(b"t2"), Some("#2"));
        assert_eq!(s.find(b"t3"), Some("bob"));
        assert_eq!(s.find(b"t4"), None);
        assert_eq!(s.find(b""), None);
    }
}
