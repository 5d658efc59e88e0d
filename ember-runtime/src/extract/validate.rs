//! Declarative validation (`validate: true` on a route): the type's [`garde::Validate`]
//! rules, failures answered as a `422` [`Problem`] listing every rule that failed.

use super::problem::Problem;
use crate::http::status::StatusCode;

/// Where the validated value came from: failures in the body carry JSON pointers, in the
/// query parameter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Body,
    Query,
}

/// Runs `v`'s validation rules.
#[inline]
pub(super) fn check<T>(v: &T, place: Place) -> Result<(), Problem>
where
    T: garde::Validate,
    T::Context: Default,
{
    match v.validate() {
        Ok(()) => Ok(()),
        Err(report) => Err(failed(&report, place)),
    }
}

#[cold]
fn failed(report: &garde::Report, place: Place) -> Problem {
    let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY).with_detail(match place {
        Place::Body => "the body failed validation",
        Place::Query => "the query failed validation",
    });
    for (path, error) in report.iter() {
        let shown = path.to_string();
        p = match place {
            Place::Body => p.with_pointer(pointer(&shown), error.message()),
            Place::Query => p.with_parameter(shown, error.message()),
        };
    }
    p
}

/// garde's display form of a path (`items[0].name`) as a JSON pointer (`/items/0/name`).
fn pointer(shown: &str) -> String {
    let segs: Vec<&str> = shown
        .split(['.', '['])
        .map(|s| s.strip_suffix(']').unwrap_or(s))
        .filter(|s| !s.is_empty())
        .collect();
    super::pointer(segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garde_paths_become_pointers() {
        assert_eq!(pointer(""), "");
        assert_eq!(pointer("title"), "/title");
        assert_eq!(pointer("items[0].name"), "/items/0/name");
        assert_eq!(pointer("[2]"), "/2");
    }

    struct Title(String);

    impl garde::Validate for Title {
        type Context = ();
        fn validate_into(
            &self,
            _: &(),
            parent: &mut dyn FnMut() -> garde::Path,
            report: &mut garde::Report,
        ) {
            if self.0.is_empty() {
                report.append(
                    parent().join("title"),
                    garde::Error::new("must not be empty"),
                );
            }
        }
    }

    #[test]
    fn failures_are_422_with_their_place() {
        assert!(check(&Title("a".into()), Place::Body).is_ok());
        let e = check(&Title(String::new()), Place::Body).expect_err("422");
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.errors()[0].pointer(), Some("/title"));
        assert_eq!(e.errors()[0].detail(), "must not be empty");
        let e = check(&Title(String::new()), Place::Query).expect_err("422");
        assert_eq!(e.errors()[0].parameter(), Some("title"));
    }
}
