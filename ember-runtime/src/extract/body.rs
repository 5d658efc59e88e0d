//! Typed request bodies: JSON (`application/json`, `application/*+json`) and forms
//! (`application/x-www-form-urlencoded`).

use serde::de::DeserializeOwned;

use super::problem::Problem;
use super::validate::{Place, check};
use crate::http::request::Request;
use crate::http::status::StatusCode;

/// The body as `T`, from JSON. See the [module docs](super).
#[inline]
pub fn json<T: DeserializeOwned>(req: &Request<'_>) -> Result<T, Problem> {
    if !media_type(req).is_some_and(is_json) {
        return Err(unsupported(req, "application/json"));
    }
    match serde_json::from_slice(req.body()) {
        Ok(v) => Ok(v),
        Err(e) => Err(json_error::<T>(req.body(), e)),
    }
}

/// [`json`], then the type's validation rules.
#[inline]
pub fn json_valid<T>(req: &Request<'_>) -> Result<T, Problem>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    let v = json::<T>(req)?;
    check(&v, Place::Body)?;
    Ok(v)
}

/// The body as `T`, from `application/x-www-form-urlencoded`. See the
/// [module docs](super).
#[inline]
pub fn form<T: DeserializeOwned>(req: &Request<'_>) -> Result<T, Problem> {
    if !media_type(req).is_some_and(|m| m.eq_ignore_ascii_case(FORM)) {
        return Err(unsupported(req, FORM));
    }
    match serde_html_form::from_bytes(req.body()) {
        Ok(v) => Ok(v),
        Err(_) => Err(form_error::<T>(req.body())),
    }
}

/// [`form`], then the type's validation rules.
#[inline]
pub fn form_valid<T>(req: &Request<'_>) -> Result<T, Problem>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    let v = form::<T>(req)?;
    check(&v, Place::Body)?;
    Ok(v)
}

const FORM: &str = "application/x-www-form-urlencoded";

/// The `Content-Type`'s media type, without parameters.
fn media_type<'a>(req: &Request<'a>) -> Option<&'a str> {
    let ct = req.header_str("content-type")?;
    Some(ct.split(';').next().unwrap_or("").trim())
}

/// `application/json` or `application/<anything>+json`, in any case.
fn is_json(m: &str) -> bool {
    let b = m.as_bytes();
    m.eq_ignore_ascii_case("application/json")
        || (b.len() > "application/+json".len()
            && b[..12].eq_ignore_ascii_case(b"application/")
            && b[b.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

#[cold]
fn unsupported(req: &Request<'_>, want: &str) -> Problem {
    let got = match req.header_str("content-type") {
        Some(ct) => format!("`{}`", ct.trim()),
        None => "none".to_owned(),
    };
    Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        .with_detail(format!("expected a `Content-Type: {want}` body, got {got}"))
}

/// serde_json's message without its ` at line L column C` suffix.
fn reason(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match full.strip_suffix(&suffix) {
        Some(s) => s.to_owned(),
        None => full,
    }
}

#[cold]
fn json_error<T: DeserializeOwned>(body: &[u8], e: serde_json::Error) -> Problem {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => Problem::new(StatusCode::BAD_REQUEST)
            .with_detail(format!(
                "the body is not valid JSON: {} at line {}, column {}",
                reason(&e),
                e.line(),
                e.column()
            )),
        Category::Data => {
            // Read again, tracking where the deserializer was when it failed.
            let mut de = serde_json::Deserializer::from_slice(body);
            let (at, why) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Err(pe) => (path_pointer(pe.path()), reason(pe.inner())),
                Ok(_) => (String::new(), reason(&e)),
            };
            unfit(at, why)
        }
    }
}

#[cold]
fn form_error<T: DeserializeOwned>(body: &[u8]) -> Problem {
    let de = serde_html_form::Deserializer::from_bytes(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Err(pe) => unfit(path_pointer(pe.path()), pe.inner().to_string()),
        Ok(_) => unfit(String::new(), "the form does not fit".to_owned()),
    }
}

fn unfit(pointer: String, why: String) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
        .with_detail("the body does not fit the expected type")
        .with_pointer(pointer, why)
}

/// A serde_path_to_error path as a JSON pointer.
pub(super) fn path_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segs: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    super::pointer(segs.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::method::Method;
    use crate::http::request::{Header, Version};
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        name: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct New {
        title: String,
        #[serde(default)]
        items: Vec<Item>,
    }

    fn with<R>(ct: Option<&str>, body: &[u8], f: impl FnOnce(&Request<'_>) -> R) -> R {
        let headers: Vec<Header<'_>> = ct
            .map(|v| Header {
                name: "Content-Type",
                value: v.as_bytes(),
            })
            .into_iter()
            .collect();
        let req = Request::from_parts(Method::Post, "/x", Version::Http11, &headers, body);
        f(&req)
    }

    fn items(p: &Problem) -> Vec<(Option<&str>, &str)> {
        p.errors()
            .iter()
            .map(|e| (e.pointer(), e.detail()))
            .collect()
    }

    #[test]
    fn json_bodies_decode_or_say_what_is_wrong() {
        let ok = with(
            Some("application/json; charset=utf-8"),
            br#"{"title":"a"}"#,
            json::<New>,
        );
        assert_eq!(ok.expect("ok").title, "a");
        let ok = with(
            Some("Application/Problem+JSON"),
            br#"{"title":"a"}"#,
            json::<New>,
        );
        assert!(ok.is_ok());

        for ct in [
            None,
            Some("text/plain"),
            Some("application/jsonx"),
            Some("+json"),
        ] {
            let e = with(ct, br#"{"title":"a"}"#, json::<New>).expect_err("415");
            assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        }

        let e = with(Some("application/json"), br#"{"title": "x""#, json::<New>).expect_err("400");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.detail(),
            Some("the body is not valid JSON: EOF while parsing an object at line 1, column 13")
        );
        let e = with(Some("application/json"), b"", json::<New>).expect_err("400");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);

        let e = with(Some("application/json"), br#"{"title": 5}"#, json::<New>).expect_err("422");
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            items(&e),
            [(
                Some("/title"),
                "invalid type: integer `5`, expected a string"
            )]
        );
        let body = br#"{"title":"t","items":[{"name":"a"},{"name":[]}]}"#;
        let e = with(Some("application/json"), body, json::<New>).expect_err("422");
        assert_eq!(
            items(&e),
            [(
                Some("/items/1/name"),
                "invalid type: sequence, expected a string"
            )]
        );
        let e = with(Some("application/json"), br#"{}"#, json::<New>).expect_err("422");
        assert_eq!(items(&e), [(Some(""), "missing field `title`")]);
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Login {
        user: String,
        age: u8,
        #[serde(default)]
        tag: Vec<String>,
    }

    #[test]
    fn form_bodies_decode_or_say_what_is_wrong() {
        let ct = Some("application/x-www-form-urlencoded");
        let v = with(ct, b"user=a+b%21&age=7&tag=x&tag=y", form::<Login>).expect("ok");
        assert_eq!(
            v,
            Login {
                user: "a b!".into(),
                age: 7,
                tag: vec!["x".into(), "y".into()]
            }
        );
        let e = with(Some("application/json"), b"user=a&age=1", form::<Login>).expect_err("415");
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let e = with(ct, b"user=a&age=300", form::<Login>).expect_err("422");
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.errors()[0].pointer(), Some("/age"), "{e}");
    }
}
