//! The `Cookie` request header, sans-IO: `name=value` pairs split without allocating,
//! tolerant of what real clients send (stray `;`, spaces, quoted values, pairs without
//! `=`, which are skipped).

use std::borrow::Cow;

use crate::http::request::Header;

/// The cookies of a request, in the order they were sent (every `Cookie` header, pair by
/// pair): `(name, raw value)`, the value without surrounding quotes and not
/// percent-decoded. Made by [`Request::cookies`](crate::Request::cookies).
#[derive(Debug, Clone)]
pub struct Cookies<'a> {
    headers: std::slice::Iter<'a, Header<'a>>,
    current: &'a [u8],
}

impl<'a> Cookies<'a> {
    /// The cookies in `headers` (only those named `Cookie`, any case, are read).
    pub(crate) fn new(headers: &'a [Header<'a>]) -> Self {
        Cookies {
            headers: headers.iter(),
            current: b"",
        }
    }
}

impl<'a> Iterator for Cookies<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        loop {
            if self.current.is_empty() {
                let h = self
                    .headers
                    .find(|h| h.name.eq_ignore_ascii_case("cookie"))?;
                self.current = h.value;
                continue;
            }
            let (pair, rest) = match self.current.iter().position(|&b| b == b';') {
                Some(i) => (&self.current[..i], &self.current[i + 1..]),
                None => (self.current, &b""[..]),
            };
            self.current = rest;
            if let Some(kv) = split_pair(pair) {
                return Some(kv);
            }
        }
    }
}

/// One `name=value` pair, trimmed; `None` for a pair without `=`, an empty name, or bytes
/// that are not UTF-8.
fn split_pair(pair: &[u8]) -> Option<(&str, &str)> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    let name = std::str::from_utf8(pair[..eq].trim_ascii()).ok()?;
    let mut value = pair[eq + 1..].trim_ascii();
    if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
        value = &value[1..value.len() - 1];
    }
    if name.is_empty() {
        return None;
    }
    Some((name, std::str::from_utf8(value).ok()?))
}

/// A cookie value with `%XX` escapes decoded (borrowed when it has none; an invalid
/// escape or non-UTF-8 result leaves the raw value).
pub(crate) fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    match percent_encoding::percent_decode_str(raw).decode_utf8() {
        Ok(v) => v,
        Err(_) => Cow::Borrowed(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all<'a>(headers: &'a [Header<'a>]) -> Vec<(&'a str, &'a str)> {
        Cookies::new(headers).collect()
    }

    #[test]
    fn pairs_are_split_and_malformed_ones_skipped() {
        let hs = [
            Header {
                name: "Cookie",
                value: b"a=1; b = two ;;junk; =nameless; q=\"quoted\"; e=",
            },
            Header {
                name: "X-Other",
                value: b"z=9",
            },
            Header {
                name: "cookie",
                value: b"c=3;d=x=y; bad=\xff",
            },
        ];
        assert_eq!(
            all(&hs),
            [
                ("a", "1"),
                ("b", "two"),
                ("q", "quoted"),
                ("e", ""),
                ("c", "3"),
                ("d", "x=y")
            ]
        );
        assert!(all(&[]).is_empty());
    }

    #[test]
    fn values_are_percent_decoded_lazily() {
        assert!(matches!(decode("plain"), Cow::Borrowed("plain")));
        assert_eq!(decode("a%20b%3Bc"), "a b;c");
        assert_eq!(decode("bad%ff"), "bad%ff");
    }
}
