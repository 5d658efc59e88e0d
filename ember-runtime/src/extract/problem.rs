//! [`Problem`]: an RFC 9457 `application/problem+json` answer.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use crate::http::response::{IntoResponse, Response};
use crate::http::status::StatusCode;

/// The media type of a [`Problem`] body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer in the shape of RFC 9457 ("Problem Details for HTTP APIs"):
///
/// ```json
/// {"type":"about:blank","title":"Unprocessable Content","status":422,
///  "detail":"the body does not fit the expected type",
///  "errors":[{"pointer":"/title","detail":"invalid type: integer, expected a string"}]}
/// ```
///
/// Ember answers bad typed input (`body:` / `query:` in the spec) with one before the
/// handler runs; handlers can return one too, so that every error of an API has one shape.
/// `errors` lists what was wrong where: a JSON pointer into the body (`pointer`) or the
/// name of a query parameter (`parameter`), each with its reason.
///
/// ```
/// use ember_runtime::{IntoResponse, Problem, StatusCode};
///
/// let r = Problem::new(StatusCode::NOT_FOUND)
///     .with_detail("no task 7")
///     .into_response();
/// assert_eq!(r.status(), StatusCode::NOT_FOUND);
/// assert_eq!(r.content_type(), Some("application/problem+json"));
/// assert_eq!(
///     r.body(),
///     br#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no task 7"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: Cow<'static, str>,
    title: Cow<'static, str>,
    #[serde(serialize_with = "status_code")]
    status: StatusCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ProblemItem>,
}

/// One entry of a [`Problem`]'s `errors`: where, and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemItem {
    /// A JSON pointer (RFC 6901) into the request body, `""` for the whole body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
    /// A query parameter's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<String>,
    /// The reason.
    detail: String,
}

fn status_code<S: serde::Serializer>(s: &StatusCode, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u16(s.as_u16())
}

impl Problem {
    /// A problem with `status`, `type` `about:blank` and the status's reason as `title`.
    pub fn new(status: StatusCode) -> Self {
        Problem {
            kind: Cow::Borrowed("about:blank"),
            title: Cow::Borrowed(status.reason()),
            status,
            detail: None,
            errors: Vec::new(),
        }
    }

    /// Sets `detail`: a sentence about this occurrence, for people.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets `type`: a URI naming the kind of problem (`about:blank` by default).
    pub fn with_type(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        self.kind = uri.into();
        self
    }

    /// Sets `title`: a short summary of the kind of problem (the status's reason by
    /// default).
    pub fn with_title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.title = title.into();
        self
    }

    /// Adds an entry to `errors` for the part of the body at JSON pointer `pointer`
    /// (`/items/0/name`; `""` for the whole body).
    pub fn with_pointer(mut self, pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        self.errors.push(ProblemItem {
            pointer: Some(pointer.into()),
            parameter: None,
            detail: detail.into(),
        });
        self
    }

    /// Adds an entry to `errors` for the query parameter `name`.
    pub fn with_parameter(mut self, name: impl Into<String>, detail: impl Into<String>) -> Self {
        self.errors.push(ProblemItem {
            pointer: None,
            parameter: Some(name.into()),
            detail: detail.into(),
        });
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// `detail`, if set.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The entries of `errors`, in order.
    pub fn errors(&self) -> &[ProblemItem] {
        &self.errors
    }
}

impl ProblemItem {
    /// The JSON pointer into the body this entry is about, if any.
    pub fn pointer(&self) -> Option<&str> {
        self.pointer.as_deref()
    }

    /// The query parameter this entry is about, if any.
    pub fn parameter(&self) -> Option<&str> {
        self.parameter.as_deref()
    }

    /// The reason.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.title)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        for e in &self.errors {
            match (&e.pointer, &e.parameter) {
                (Some(p), _) => write!(f, "; {p}: {}", e.detail)?,
                (None, Some(p)) => write!(f, "; `{p}`: {}", e.detail)?,
                (None, None) => write!(f, "; {}", e.detail)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status;
        Response::json(&self)
            .with_status(status)
            .with_content_type(PROBLEM_JSON)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_the_rfc_9457_shape() {
        let p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
            .with_detail("bad")
            .with_pointer("/title", "invalid type: integer, expected a string")
            .with_parameter("page", "invalid digit found in string");
        let r = p.clone().into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.content_type(), Some(PROBLEM_JSON));
        let v: serde_json::Value = serde_json::from_slice(r.body()).expect("json");
        assert_eq!(
            v,
            serde_json::json!({
                "type": "about:blank",
                "title": "Unprocessable Content",
                "status": 422,
                "detail": "bad",
                "errors": [
                    {"pointer": "/title", "detail": "invalid type: integer, expected a string"},
                    {"parameter": "page", "detail": "invalid digit found in string"}
                ]
            })
        );
        assert_eq!(
            p.to_string(),
            "422 Unprocessable Content: bad; /title: invalid type: integer, expected a string; `page`: invalid digit found in string"
        );
    }
}
