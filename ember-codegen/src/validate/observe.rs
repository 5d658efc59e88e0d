//! Rules of `access_log:`, `request_id:` and `metrics:` (obs, issue 16).

use super::flag;
use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::path::{Segment, parse_path};
use crate::spec::observe::{AccessLogSpec, MetricsSpec, RequestIdSpec};

/// A checked `access_log:` (`None` format: off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessLog {
    /// `common` or `json`; `None`: off.
    pub(crate) format: Option<String>,
    /// `stdout`, `stderr` or a file path.
    pub(crate) path: String,
}

/// Checks `access_log:`.
pub(crate) fn access_log(cx: &mut Ctx<'_, '_>, s: &AccessLogSpec) -> Option<AccessLog> {
    let mut format = Some("common".to_owned());
    if let Some(f) = &s.format {
        let v = cx.scalar(0, f)?;
        match v.as_str() {
            "off" => format = None,
            "common" | "json" => format = Some(v),
            other => {
                let span = cx.span(0, f);
                let mut d = Diagnostic::new(format!("unknown access log format `{other}`"))
                    .at(span, "expected `common`, `json` or `off`");
                if let Some(s) = did_you_mean(other, &["common", "json", "off"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.error(0, d);
                return None;
            }
        }
    }
    let mut path = "stdout".to_owned();
    if let Some(p) = &s.path {
        let v = cx.text(0, p)?;
        if v.trim().is_empty() || v.contains('\0') {
            let span = cx.span(0, p);
            let d = Diagnostic::new("empty access log path")
                .at(span, "expected `stdout`, `stderr` or a file path");
            cx.error(0, d);
            return None;
        }
        path = v;
    }
    Some(AccessLog { format, path })
}

/// A checked `request_id:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId {
    /// The header read and echoed.
    pub(crate) header: String,
    /// Whether a client's well-formed id is kept.
    pub(crate) accept: bool,
}

/// Checks `request_id:`.
pub(crate) fn request_id(cx: &mut Ctx<'_, '_>, s: &RequestIdSpec) -> Option<RequestId> {
    let mut out = RequestId {
        header: "X-Request-Id".to_owned(),
        accept: true,
    };
    if let Some(h) = &s.header {
        let v = cx.text(0, h)?;
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let reserved = ["content-length", "transfer-encoding", "connection", "host"];
        if v.is_empty()
            || !v.bytes().all(token)
            || reserved.iter().any(|r| r.eq_ignore_ascii_case(&v))
        {
            let span = cx.span(0, h);
            let d = Diagnostic::new(format!("`{v}` cannot be the request-id header"))
                .at(span, "expected a header name such as `X-Request-Id` (letters, digits, `-`; not a framing header)");
            cx.error(0, d);
            return None;
        }
        out.header = v;
    }
    if let Some(a) = &s.accept {
        out.accept = flag(cx, a)?;
    }
    Some(out)
}

/// Checks `metrics:`: the path of its route (static, absolute).
pub(crate) fn metrics(cx: &mut Ctx<'_, '_>, s: &MetricsSpec) -> Option<(String, Vec<Segment>)> {
    let Some(p) = &s.path else {
        let segments = parse_path("/metrics").ok()?;
        return Some(("/metrics".to_owned(), segments));
    };
    let v = cx.text(0, p)?;
    match parse_path(&v) {
        Ok(segs) if v.starts_with('/') && segs.iter().all(|s| matches!(s, Segment::Static(_))) => {
            Some((v, segs))
        }
        _ => {
            let span = cx.span(0, p);
            let d = Diagnostic::new(format!("`{v}` cannot be the metrics path")).at(
                span,
                "expected a fixed path such as `/metrics` (no parameters)",
            );
            cx.error(0, d);
            None
        }
    }
}
