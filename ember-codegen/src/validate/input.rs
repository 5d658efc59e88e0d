//! Rules of a route's typed input (issue 15): `body:` (a type path, or `type` and
//! `format`), `query:` (a type path) and `validate:`.

use std::ops::Range;

use serde_saphyr::Spanned;

use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::input::{BODY_FORMATS, BodyValue};
use crate::spec::routes::MethodSel;

/// How a typed body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (and `application/*+json`).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// A checked `body:`: the type's full Rust path and the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckedBody {
    pub(crate) ty: String,
    pub(crate) format: BodyFormat,
}

/// Checks a type path (at `span` in file `f`) and returns its full Rust path: relative ones
/// are under `handlers_mod`, like handler paths.
pub(crate) fn type_path(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    (text, span): (&str, Range<usize>),
    key: &str,
    handlers_mod: &str,
) -> Option<String> {
    let full = if text.starts_with("crate::") || text.starts_with("::") {
        text.to_owned()
    } else {
        format!("{handlers_mod}::{text}")
    };
    if text.is_empty() || !crate::code::is_path(&full) {
        let mut d = Diagnostic::new(format!("`{key}: {text}` is not a Rust type path")).at(
            span,
            "expected a type path like `NewTask` or `crate::api::NewTask`",
        );
        if text.contains('<') {
            d = d.help("name a generic type through a `type` alias");
        }
        cx.error(f, d);
        return None;
    }
    Some(full)
}

/// Checks a route's `body:` (in file `f`) on a route of `method`.
pub(crate) fn body(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    body: &Spanned<BodyValue>,
    method: MethodSel,
    handlers_mod: &str,
) -> Option<CheckedBody> {
    if matches!(method, MethodSel::Get | MethodSel::Head) {
        let span = cx.span(f, body);
        let d = Diagnostic::new(format!(
            "a `{}` route cannot declare a `body`",
            method.keyword()
        ))
        .at(span, "its requests carry no body to read")
        .help("use `query:` for a GET's input, or another method");
        cx.error(f, d);
        return None;
    }
    let (ty_text, ty_span, format) = match &body.value {
        BodyValue::Short(t) => (t.clone(), cx.span(f, body), None),
        BodyValue::Long(l) => (l.ty.value.clone(), cx.span(f, &l.ty), l.format.as_ref()),
    };
    let format = match format {
        None => BodyFormat::Json,
        Some(fmt) => match fmt.value.as_str() {
            "json" => BodyFormat::Json,
            "form" => BodyFormat::Form,
            other => {
                let span = cx.span(f, fmt);
                let mut d = Diagnostic::new(format!("unknown body format `{other}`")).at(
                    span,
                    "expected `json` or `form` (application/x-www-form-urlencoded)",
                );
                if let Some(s) = did_you_mean(other, BODY_FORMATS) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.error(f, d);
                return None;
            }
        },
    };
    let ty = type_path(cx, f, (&ty_text, ty_span), "body", handlers_mod)?;
    Some(CheckedBody { ty, format })
}

/// Checks that `validate: true` (in file `f`) has something to validate.
pub(crate) fn validate_has_input(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    validate: &Spanned<bool>,
    has_input: bool,
) -> bool {
    if !validate.value || has_input {
        return true;
    }
    let span = cx.span(f, validate);
    let d = Diagnostic::new("`validate: true` on a route without `body` or `query`")
        .at(span, "nothing to validate")
        .help("declare the route's input with `body:` or `query:`, or remove `validate`");
    cx.error(f, d);
    false
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::check_table;

    /// A spec, and the `LINE:COL` and part of the message of the one error it must get
    /// (`""` = valid).
    const CASES: &[(&str, &str, &str)] = &[
        ("routes:\n  POST /a: { handler: h, body: New }\n", "", ""),
        (
            "routes:\n  POST /a: { handler: h, body: { type: crate::x::New, format: form }, query: Q, validate: true }\n",
            "",
            "",
        ),
        ("routes:\n  GET /a: { handler: h, query: ::q::Q }\n", "", ""),
        (
            "routes:\n  POST /a: { handler: h, body: 'Vec<u8>' }\n",
            "2:32",
            "`body: Vec<u8>` is not a Rust type path",
        ),
        (
            "routes:\n  GET /a: { handler: h, query: 'a b' }\n",
            "2:32",
            "`query: a b` is not a Rust type path",
        ),
        (
            "routes:\n  POST /a: { handler: h, body: { type: New, format: xml } }\n",
            "2:53",
            "unknown body format `xml`",
        ),
        (
            "routes:\n  POST /a: { handler: h, body: { type: New, fromat: form } }\n",
            "2:45",
            "unknown field `fromat`",
        ),
        (
            "routes:\n  GET /a: { handler: h, body: New }\n",
            "2:31",
            "a `GET` route cannot declare a `body`",
        ),
        (
            "routes:\n  POST /a: { handler: h, validate: true }\n",
            "2:36",
            "`validate: true` on a route without `body` or `query`",
        ),
        (
            "routes:\n  POST /a: { handler: h, validate: false }\n",
            "",
            "",
        ),
    ];

    #[test]
    fn rules() {
        check_table(CASES);
    }
}
