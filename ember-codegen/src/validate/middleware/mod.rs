//! Rules of `middleware:` lists: one `kind: options` pair per entry, `skip` names, and
//! each kind's options checked for unknown keys and typed on access.

pub(crate) mod kinds;

use std::ops::Range;

use serde_saphyr::Spanned;

use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::middleware::{
    API_KEY_KEYS, BEARER_KEYS, CORS_KEYS, HOOK_KEYS, KINDS, MwEntry, MwValue, RATE_KEYS,
};

/// The `kind: value` of a single-key entry.
pub(crate) fn single<'s>(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    entry: &'s Spanned<MwEntry>,
) -> Option<(&'s Spanned<String>, &'s Spanned<MwValue>)> {
    match entry.value.0.as_slice() {
        [(k, v)] => Some((k, v)),
        _ => {
            let span = cx.span(f, entry);
            let d = Diagnostic::new("a middleware entry is one `kind: options` pair")
                .at(
                    span,
                    "expected e.g. `- cors: { allow_origins: [https://app.example.com] }`",
                )
                .help("write each middleware as its own list item");
            cx.error(f, d);
            None
        }
    }
}

/// The names in `skip: a` or `skip: [a, b]`.
pub(crate) fn names(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    v: &Spanned<MwValue>,
) -> Vec<(String, Range<usize>)> {
    let items: Vec<&Spanned<MwValue>> = match &v.value {
        MwValue::List(l) => l.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::new();
    for it in items {
        match &it.value {
            MwValue::Scalar(s) => out.push((s.clone(), cx.span(f, it))),
            _ => {
                let span = cx.span(f, it);
                cx.error(
                    f,
                    Diagnostic::new("`skip` takes a middleware name or a list of names")
                        .at(span, "expected a name like `cors`"),
                );
            }
        }
    }
    out
}

/// Reports `skip: NAME` (at `span`) that names no inherited middleware; `known` are the
/// inherited names.
pub(crate) fn unknown_skip(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    (name, span): (&str, Range<usize>),
    known: &[&str],
) {
    let mut d = Diagnostic::new(format!(
        "`skip: {name}`: no inherited middleware is named `{name}`"
    ))
    .at(span, "nothing to skip");
    d = match did_you_mean(name, known) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None if known.is_empty() => d.help("this place inherits no middleware".to_owned()),
        None => d.help(format!("inherited here: {}", known.join(", "))),
    };
    cx.error(f, d);
}

/// The options a middleware kind takes, or `None` for an unknown kind (reported).
pub(crate) fn options_of(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    kind: &Spanned<String>,
) -> Option<&'static [&'static str]> {
    match kind.value.as_str() {
        "cors" => Some(CORS_KEYS),
        "bearer" => Some(BEARER_KEYS),
        "api_key" => Some(API_KEY_KEYS),
        "rate_limit" => Some(RATE_KEYS),
        "hook" => Some(HOOK_KEYS),
        other => {
            let span = cx.span(f, kind);
            let mut d = Diagnostic::new(format!("unknown middleware `{other}`"))
                .at(span, format!("expected one of {}", KINDS.join(", ")));
            if let Some(s) = did_you_mean(other, KINDS) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            cx.error(f, d);
            None
        }
    }
}

/// A middleware's options, checked for unknown keys up front.
pub(crate) struct Opts<'c, 'a, 'l, 's> {
    pub(crate) cx: &'c mut Ctx<'a, 'l>,
    pub(crate) f: usize,
    pub(crate) entries: Vec<(&'s str, &'s Spanned<MwValue>, Range<usize>)>,
    /// The module handler paths are relative to.
    handlers: String,
}

impl<'c, 'a, 'l, 's> Opts<'c, 'a, 'l, 's> {
    pub(crate) fn new(
        cx: &'c mut Ctx<'a, 'l>,
        f: usize,
        value: &'s Spanned<MwValue>,
        allowed: &[&str],
        kind: &str,
        handlers: String,
    ) -> Self {
        let mut entries = Vec::new();
        match &value.value {
            MwValue::Map(m) => {
                for (k, v) in &m.0 {
                    let span = cx.span(f, k);
                    if allowed.contains(&k.value.as_str()) {
                        entries.push((k.value.as_str(), v, span));
                    } else {
                        let mut d =
                            Diagnostic::new(format!("unknown option `{}` for `{kind}`", k.value))
                                .at(span, format!("`{kind}` takes {}", allowed.join(", ")));
                        if let Some(s) = did_you_mean(&k.value, allowed) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        cx.error(f, d);
                    }
                }
            }
            _ => {
                let span = cx.span(f, value);
                cx.error(
                    f,
                    Diagnostic::new(format!("`{kind}` takes a mapping of options"))
                        .at(span, format!("expected `{kind}: {{ … }}`")),
                );
            }
        }
        Opts {
            cx,
            f,
            entries,
            handlers,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<(&'s Spanned<MwValue>, Range<usize>)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, s)| (*v, s.clone()))
    }

    pub(crate) fn err(
        &mut self,
        span: Range<usize>,
        msg: impl Into<String>,
        label: impl Into<String>,
    ) {
        let d = Diagnostic::new(msg).at(span, label);
        self.cx.error(self.f, d);
    }

    pub(crate) fn err_help(&mut self, span: Range<usize>, msg: String, label: &str, help: String) {
        let d = Diagnostic::new(msg).at(span, label).help(help);
        self.cx.error(self.f, d);
    }

    /// A scalar option with `${ENV}` interpolated.
    pub(crate) fn text(&mut self, key: &str) -> Option<String> {
        let (v, _) = self.get(key)?;
        self.scalar(v)
    }

    pub(crate) fn scalar(&mut self, v: &Spanned<MwValue>) -> Option<String> {
        match &v.value {
            MwValue::Scalar(s) => self.cx.interp(self.f, v, s),
            _ => {
                let span = self.cx.span(self.f, v);
                self.err(span, "expected a single value", "not a list or mapping");
                None
            }
        }
    }

    /// A list option (a single value counts as a list of one), with spans.
    pub(crate) fn list(&mut self, key: &str) -> Option<Vec<(String, Range<usize>)>> {
        let (v, _) = self.get(key)?;
        let items: Vec<&Spanned<MwValue>> = match &v.value {
            MwValue::List(l) => l.iter().collect(),
            _ => vec![v],
        };
        let mut out = Vec::new();
        for it in items {
            let span = self.cx.span(self.f, it);
            if let Some(s) = self.scalar(it) {
                out.push((s, span));
            }
        }
        Some(out)
    }

    pub(crate) fn boolean(&mut self, key: &str) -> Option<bool> {
        let (v, _) = self.get(key)?;
        let span = self.cx.span(self.f, v);
        match self.scalar(v)?.as_str() {
            "true" | "on" | "yes" => Some(true),
            "false" | "off" | "no" => Some(false),
            other => {
                self.err(
                    span,
                    format!("`{other}` is not a boolean"),
                    "expected `true` or `false`",
                );
                None
            }
        }
    }

    pub(crate) fn rust_path(&mut self, key: &str) -> Option<String> {
        let (v, _) = self.get(key)?;
        let span = self.cx.span(self.f, v);
        let text = self.scalar(v)?;
        let full = if text.starts_with("crate::") || text.starts_with("::") {
            text.clone()
        } else {
            format!("{}::{text}", self.handlers)
        };
        if text.is_empty() || !crate::code::is_path(&full) {
            self.err(
                span,
                format!("`{text}` is not a Rust path to a function"),
                "expected a path like `auth::verify`",
            );
            return None;
        }
        Some(full)
    }
}

/// `100/s`, `6000/min`, `10/h`: (count, seconds).
pub(crate) fn parse_rate(text: &str) -> Option<(u64, u64)> {
    let (n, unit) = text.split_once('/')?;
    let n: u64 = n.trim().parse().ok().filter(|n| *n > 0)?;
    let secs = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86400,
        _ => return None,
    };
    Some((n, secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100/s"), Some((100, 1)));
        assert_eq!(parse_rate("6000/min"), Some((6000, 60)));
        assert_eq!(parse_rate("5 / h"), Some((5, 3600)));
        assert_eq!(parse_rate("0/s"), None);
        assert_eq!(parse_rate("10/week"), None);
        assert_eq!(parse_rate("10"), None);
    }
}
