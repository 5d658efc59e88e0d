//! Typed request input declared in the spec (`body:` and `query:` on a route): what the
//! generated route function calls before the handler, and the [`Problem`] it answers with
//! when the input does not fit.
//!
//! * [`json`] / [`form`]: the body, after checking its `Content-Type` (`415` otherwise);
//!   malformed JSON is a `400` with the line and column, a well-formed body that does not
//!   fit the type a `422` whose `errors` hold the JSON pointer of the offending field;
//! * [`query`]: the query string (percent-decoded, `+` as a space, repeated keys into a
//!   `Vec`); a value that does not fit is a `400` naming the parameter;
//! * the `*_valid` variants also run the type's [`garde::Validate`] rules (`validate: true`
//!   on the route): a failed rule is a `422`, same shape.
//!
//! Success costs one deserialization: the error paths re-read the input with
//! `serde_path_to_error` only when the first pass failed.

mod body;
mod problem;
mod query;
mod validate;

pub use body::{form, form_valid, json, json_valid};
pub use problem::{Problem, ProblemItem};
pub use query::{query, query_valid};

/// A JSON pointer (RFC 6901) from path segments: `/items/0/name`, `""` for none.
fn pointer<'s>(segments: impl IntoIterator<Item = &'s str>) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        for ch in s.chars() {
            match ch {
                '~' => out.push_str("~0"),
                '/' => out.push_str("~1"),
                c => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pointers_escape_tilde_and_slash() {
        assert_eq!(super::pointer([]), "");
        assert_eq!(super::pointer(["a/b", "~c", "0"]), "/a~1b/~0c/0");
    }
}
