//! Path-parameter decoding for generated routers.
//!
//! Segments are percent-decoded (borrowing when there is nothing to decode) and then parsed
//! into the type the spec declares. A value that does not decode or parse answers `400 Bad
//! Request` naming the parameter: the route matched, its argument is wrong.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::http::response::Response;

use crate::http::status::StatusCode;
/// The type of `{name:uuid}` parameters.
pub use uuid::Uuid;

/// Why a path parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    name: &'static str,
    expected: &'static str,
}

impl ParamError {
    /// The parameter's name in the spec.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The `400 Bad Request` answered for this error.
    pub fn into_response(self) -> Response {
        Response::text(self.to_string()).with_status(StatusCode::BAD_REQUEST)
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid path parameter `{}`: expected {}",
            self.name, self.expected
        )
    }
}

impl std::error::Error for ParamError {}

/// Percent-decodes a raw segment into UTF-8, borrowing when it holds no `%`.
pub fn decode<'a>(raw: &'a str, name: &'static str) -> Result<Cow<'a, str>, ParamError> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let err = || ParamError {
        name,
        expected: "a valid percent-encoded UTF-8 string",
    };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(err)?;
            let hi = (hex[0] as char).to_digit(16).ok_or_else(err)?;
            let lo = (hex[1] as char).to_digit(16).ok_or_else(err)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| err())
}

/// Decodes and parses a raw segment into `T`; `expected` names the type for the error.
pub fn parse<T: FromStr>(
    raw: &str,
    name: &'static str,
    expected: &'static str,
) -> Result<T, ParamError> {
    let text = decode(raw, name)?;
    text.parse().map_err(|_| ParamError { name, expected })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_table() {
        assert_eq!(decode("plain", "p").as_deref(), Ok("plain"));
        assert!(matches!(decode("plain", "p"), Ok(Cow::Borrowed(_))));
        assert_eq!(decode("a%20b", "p").as_deref(), Ok("a b"));
        assert_eq!(decode("%C3%A9", "p").as_deref(), Ok("é"));
        assert!(decode("%zz", "p").is_err());
        assert!(decode("%4", "p").is_err());
        assert!(decode("%FF", "p").is_err());
    }

    #[test]
    fn typed_parse() {
        assert_eq!(parse::<u64>("42", "id", "u64"), Ok(42));
        assert_eq!(parse::<i64>("-42", "id", "i64"), Ok(-42));
        let e = parse::<u64>("x", "id", "u64").unwrap_err();
        assert_eq!(e.to_string(), "invalid path parameter `id`: expected u64");
        assert_eq!(e.into_response().status(), StatusCode::BAD_REQUEST);
        assert!(parse::<uuid::Uuid>("67e55044-10b1-426f-9247-bb680e5fe0c8", "id", "uuid").is_ok());
    }
}
