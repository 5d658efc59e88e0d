//! Typed query strings.

use serde::de::DeserializeOwned;

use super::problem::Problem;
use super::validate::{Place, check};
use crate::http::request::Request;
use crate::http::status::StatusCode;

/// The query string as `T`: percent-decoded, `+` as a space, repeated keys into a `Vec`,
/// numbers and booleans parsed into their types. A query that does not fit is a `400`
/// naming the parameter. See the [module docs](super).
#[inline]
pub fn query<T: DeserializeOwned>(req: &Request<'_>) -> Result<T, Problem> {
    match serde_html_form::from_str(req.query()) {
        Ok(v) => Ok(v),
        Err(_) => Err(query_error::<T>(req.query())),
    }
}

/// [`query`], then the type's validation rules (a failed rule is a `422`).
#[inline]
pub fn query_valid<T>(req: &Request<'_>) -> Result<T, Problem>
where
    T: DeserializeOwned + garde::Validate,
    T::Context: Default,
{
    let v = query::<T>(req)?;
    check(&v, Place::Query)?;
    Ok(v)
}

#[cold]
fn query_error<T: DeserializeOwned>(raw: &str) -> Problem {
    use serde_path_to_error::Segment;
    let de = serde_html_form::Deserializer::from_bytes(raw.as_bytes());
    let (name, why) = match serde_path_to_error::deserialize::<_, T>(de) {
        Err(pe) => {
            let name = pe.path().iter().find_map(|s| match s {
                Segment::Map { key } => Some(key.clone()),
                _ => None,
            });
            (name, pe.into_inner().to_string())
        }
        Ok(_) => (None, "the query does not fit".to_owned()),
    };
    // `missing field `x`` names the parameter in its message only.
    let name = name.or_else(|| {
        let rest = why.strip_prefix("missing field `")?;
        Some(rest.split('`').next()?.to_owned())
    });
    let p = Problem::new(StatusCode::BAD_REQUEST);
    match name {
        Some(n) => p
            .with_detail(format!("query parameter `{n}`: {why}"))
            .with_parameter(n, why),
        None => p.with_detail(format!("invalid query string: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::method::Method;
    use crate::http::request::Version;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Search {
        q: String,
        #[serde(default)]
        tag: Vec<String>,
        page: Option<u32>,
        exact: Option<bool>,
    }

    fn run<T: DeserializeOwned>(target: &str) -> Result<T, Problem> {
        let req = Request::from_parts(Method::Get, target, Version::Http11, &[], b"");
        query(&req)
    }

    #[test]
    fn queries_decode_or_name_the_parameter() {
        let s: Search =
            run("/s?q=caf%C3%A9+au+lait&tag=a&tag=b%2Fc&page=3&exact=true").expect("ok");
        assert_eq!(
            s,
            Search {
                q: "café au lait".into(),
                tag: vec!["a".into(), "b/c".into()],
                page: Some(3),
                exact: Some(true)
            }
        );
        let s: Search = run("/s?q=x").expect("ok");
        assert_eq!((s.tag.len(), s.page), (0, None));

        // An empty value is an absent one for an `Option`.
        let s: Search = run("/s?q=x&page=&exact=").expect("ok");
        assert_eq!((s.page, s.exact), (None, None));
        let e = run::<Search>("/s?q=x&page=abc").expect_err("400");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.errors()[0].parameter(), Some("page"), "{e}");
        assert_eq!(
            e.detail(),
            Some("query parameter `page`: invalid digit found in string")
        );
        let e = run::<Search>("/s?page=1").expect_err("400");
        assert_eq!(e.errors()[0].parameter(), Some("q"), "{e}");
        let e = run::<Search>("/s?q=x&exact=maybe").expect_err("400");
        assert_eq!(e.errors()[0].parameter(), Some("exact"), "{e}");
    }
}
