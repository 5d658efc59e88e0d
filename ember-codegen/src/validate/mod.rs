//! Rules that check spec values and turn them into plain checked values (numbers,
//! durations, flags), or report located diagnostics. They know the spec and the shared
//! [`Ctx`], never the plan: the plan stage applies them while it resolves the spec.

pub(crate) mod middleware;
pub(crate) mod server;

use std::time::Duration;

use serde_saphyr::Spanned;

use crate::ctx::Ctx;
use crate::diag::Diagnostic;
use crate::spec::Scalar;
use crate::units::{parse_duration, parse_size};

/// A `true`/`false` setting of the main spec (YAML's `on`/`off`/`yes`/`no` too).
pub(crate) fn flag(cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>) -> Option<bool> {
    match cx.scalar(0, v)?.as_str() {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        other => {
            let span = cx.span(0, v);
            let d = Diagnostic::new(format!("`{other}` is not a boolean"))
                .at(span, "expected `true` or `false`");
            cx.error(0, d);
            None
        }
    }
}

/// A duration value; `off` (where allowed) is `Some(None)`.
pub(crate) fn duration(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    allow_off: bool,
) -> Option<Option<Duration>> {
    let text = cx.scalar(f, v)?;
    if allow_off && (text == "off" || text == "none") {
        return Some(None);
    }
    match parse_duration(&text) {
        Ok(d) if d.is_zero() => {
            let span = cx.span(f, v);
            let hint = if allow_off {
                "use `off` for no limit"
            } else {
                "use a positive duration"
            };
            cx.error(
                f,
                Diagnostic::new(format!("`{text}` is zero")).at(span, hint),
            );
            None
        }
        Ok(d) => Some(Some(d)),
        Err(e) => {
            let span = cx.span(f, v);
            cx.error(
                f,
                Diagnostic::new(e).at(span, "expected a duration like `30s` or `500ms`"),
            );
            None
        }
    }
}

/// A size value within `range`.
pub(crate) fn size(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    range: std::ops::RangeInclusive<u64>,
) -> Option<u64> {
    let text = cx.scalar(f, v)?;
    let span = cx.span(f, v);
    match parse_size(&text) {
        Ok(n) if range.contains(&n) => Some(n),
        Ok(_) => {
            let d = Diagnostic::new(format!("`{text}` is out of range")).at(
                span,
                format!("expected {} to {} bytes", range.start(), range.end()),
            );
            cx.error(f, d);
            None
        }
        Err(e) => {
            cx.error(
                f,
                Diagnostic::new(e).at(span, "expected a size like `16KiB` or `1MiB`"),
            );
            None
        }
    }
}

/// A plain count within `range`.
pub(crate) fn count(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<Scalar>,
    range: std::ops::RangeInclusive<u64>,
) -> Option<u64> {
    let text = cx.scalar(f, v)?;
    match text.parse::<u64>() {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            let span = cx.span(f, v);
            let d = Diagnostic::new(format!("invalid count `{text}`")).at(
                span,
                format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            );
            cx.error(f, d);
            None
        }
    }
}

/// Reports an option that makes no sense for this kind of cache.
pub(crate) fn refuse<T>(
    cx: &mut Ctx<'_, '_>,
    v: &Option<Spanned<T>>,
    key: &str,
    why: &str,
    help: &str,
) -> bool {
    match v {
        Some(v) => {
            let span = cx.key_span(0, v, key);
            let d = Diagnostic::new(format!("`{key}` makes no sense here: {why}"))
                .at(span, "remove this")
                .help(help.to_owned());
            cx.error(0, d);
            true
        }
        None => false,
    }
}
