//! A route's typed input (issue 15): the `body:` and `query:` types its handler receives
//! after the path parameters, and whether they are validated.

use super::Builder;
use crate::spec::RouteLong;
use crate::spec::routes::MethodSel;
use crate::validate::input as rules;
pub use crate::validate::input::BodyFormat;

/// What a route's handler receives besides its path parameters. Empty for routes that
/// declare no input (their generated code does not change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputPlan {
    /// The body's type and format (`body:`).
    pub body: Option<BodyPlan>,
    /// The query's type's full Rust path (`query:`).
    pub query: Option<String>,
    /// Whether both are checked with `garde::Validate` before the handler runs.
    pub validate: bool,
}

/// A typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPlan {
    /// The type's full Rust path.
    pub ty: String,
    /// How it is encoded.
    pub format: BodyFormat,
}

impl InputPlan {
    /// Whether the route declares no input.
    pub fn is_empty(&self) -> bool {
        self.body.is_none() && self.query.is_none()
    }
}

/// The input a long-form route (in file `f`) declares; `None` after reporting an error.
pub(super) fn input_plan(
    cx: &mut Builder<'_, '_>,
    f: usize,
    long: &RouteLong,
    method: MethodSel,
) -> Option<InputPlan> {
    let handlers_mod = cx.handlers_mod.clone();
    let body = match &long.body {
        Some(b) => {
            let checked = rules::body(cx, f, b, method, &handlers_mod)?;
            Some(BodyPlan {
                ty: checked.ty,
                format: checked.format,
            })
        }
        None => None,
    };
    let query = match &long.query {
        Some(q) => {
            let span = cx.span(f, q);
            Some(rules::type_path(
                cx,
                f,
                (&q.value, span),
                "query",
                &handlers_mod,
            )?)
        }
        None => None,
    };
    let plan = InputPlan {
        body,
        query,
        validate: long.validate.as_ref().is_some_and(|v| v.value),
    };
    if let Some(v) = &long.validate
        && !rules::validate_has_input(cx, f, v, !plan.is_empty())
    {
        return None;
    }
    Some(plan)
}
