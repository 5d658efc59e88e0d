//! A route's typed input (issue 15): decode the `body:` and `query:` values its handler
//! receives after the path parameters, answering input that does not fit with a
//! `problem+json` before the handler runs. Routes without declared input emit nothing.

use crate::code::{Code, close, open, w};
use crate::plan::{BodyFormat, InputPlan};

/// Emits the decoding of `input` into the route function and appends the handler's
/// arguments (`args`) and their types (`arg_types`): the body, then the query.
pub(super) fn emit_input(
    c: &mut Code,
    input: &InputPlan,
    args: &mut Vec<String>,
    arg_types: &mut Vec<String>,
) {
    let valid = if input.validate { "_valid" } else { "" };
    if let Some(body) = &input.body {
        let f = match body.format {
            BodyFormat::Json => "json",
            BodyFormat::Form => "form",
        };
        decode(c, "body", &body.ty, &format!("{f}{valid}"));
        args.push("body".to_owned());
        arg_types.push(body.ty.clone());
    }
    if let Some(ty) = &input.query {
        decode(c, "query", ty, &format!("query{valid}"));
        args.push("query".to_owned());
        arg_types.push(ty.clone());
    }
}

/// `let NAME: TY = match extract::FUNC(req) { … };`
fn decode(c: &mut Code, name: &str, ty: &str, func: &str) {
    open!(
        c,
        "let {name}: {ty} = match ::ember_runtime::__private::extract::{func}(req) {{"
    );
    w!(c, "Ok(v) => v,");
    w!(
        c,
        "Err(e) => return ::ember_runtime::IntoResponse::into_response(e),"
    );
    close!(c, "}};");
}
