//! [`AiError`]: what can go wrong calling a model, and its OpenAI-shaped error response.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::http::response::{IntoResponse, Response};
use crate::http::status::StatusCode;

/// What went wrong calling a model, classified the way the router retries and falls back.
///
/// As a response (`IntoResponse`) it is OpenAI's error body,
/// `{"error":{"message","type","param","code"}}`, with the matching status; an upstream's
/// own 4xx answer is returned as it came.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AiError {
    /// The upstream could not be reached (refused, reset, DNS): `502`.
    Connect {
        /// The upstream's name.
        upstream: &'static str,
        /// What failed.
        message: String,
    },
    /// No headers, first token or next chunk within the upstream's `timeout`: `504`.
    Timeout {
        /// The upstream's name.
        upstream: &'static str,
    },
    /// The upstream answered `429`: `429`.
    RateLimited {
        /// The upstream's name.
        upstream: &'static str,
        /// Its body.
        body: Bytes,
    },
    /// The upstream answered a 5xx (or sent something that is not OpenAI's protocol):
    /// `502`, or the upstream's 5xx status.
    ServerError {
        /// The upstream's name.
        upstream: &'static str,
        /// Its status (`502` for a protocol error).
        status: u16,
        /// Its body, or what was wrong.
        body: Bytes,
    },
    /// The upstream refused the request as the client's fault (a 4xx other than 429): its
    /// status and body are passed through.
    Upstream {
        /// The upstream's name.
        upstream: &'static str,
        /// Its status.
        status: u16,
        /// Its body.
        body: Bytes,
    },
    /// Every upstream is cooling down: `503` with `retry-after`.
    NoHealthyUpstream {
        /// Until the first cooldown ends.
        retry_after: Duration,
    },
    /// The client's request is not a valid chat request: `400`.
    BadRequest {
        /// What is wrong.
        message: String,
        /// The offending field, if known.
        param: Option<&'static str>,
    },
    /// The client named a model the spec does not declare: `404 model_not_found`.
    ModelNotFound {
        /// The name it sent.
        model: String,
    },
}

impl AiError {
    /// The status of the error response.
    pub fn status(&self) -> StatusCode {
        let code = match self {
            AiError::Connect { .. } => 502,
            AiError::Timeout { .. } => 504,
            AiError::RateLimited { .. } => 429,
            AiError::ServerError { status, .. } | AiError::Upstream { status, .. } => *status,
            AiError::NoHealthyUpstream { .. } => 503,
            AiError::BadRequest { .. } => 400,
            AiError::ModelNotFound { .. } => 404,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
    }

    /// The upstream it came from, if any.
    pub fn upstream(&self) -> Option<&'static str> {
        match self {
            AiError::Connect { upstream, .. }
            | AiError::Timeout { upstream }
            | AiError::RateLimited { upstream, .. }
            | AiError::ServerError { upstream, .. }
            | AiError::Upstream { upstream, .. } => Some(upstream),
            _ => None,
        }
    }

    /// Whether the router may try again (the same upstream, or the next one): connect
    /// errors, timeouts, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AiError::Connect { .. }
                | AiError::Timeout { .. }
                | AiError::RateLimited { .. }
                | AiError::ServerError { .. }
        )
    }

    /// OpenAI's `type` and `code` for this error.
    fn type_and_code(&self) -> (&'static str, &'static str) {
        match self {
            AiError::Connect { .. } => ("api_connection_error", "upstream_unreachable"),
            AiError::Timeout { .. } => ("timeout", "upstream_timeout"),
            AiError::RateLimited { .. } => ("rate_limit_error", "rate_limit_exceeded"),
            AiError::ServerError { .. } => ("server_error", "upstream_error"),
            AiError::Upstream { .. } => ("invalid_request_error", "upstream_rejected"),
            AiError::NoHealthyUpstream { .. } => ("service_unavailable", "no_healthy_upstream"),
            AiError::BadRequest { .. } => ("invalid_request_error", "invalid_request"),
            AiError::ModelNotFound { .. } => ("invalid_request_error", "model_not_found"),
        }
    }

    /// The error as OpenAI's JSON body, `{"error":{…}}` (no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let (kind, code) = self.type_and_code();
        let param = match self {
            AiError::BadRequest { param, .. } => *param,
            AiError::ModelNotFound { .. } => Some("model"),
            _ => None,
        };
        let body = serde_json::json!({
            "error": { "message": self.to_string(), "type": kind, "param": param, "code": code }
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The error as one SSE event, `data: {"error":{…}}\n\n`: how a stream that already
    /// sent tokens ends when its upstream fails.
    pub fn to_event(&self) -> Bytes {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.to_json());
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }
}

/// An upstream body, for messages: its `error.message` when it is OpenAI's error shape,
/// else its text (cut short).
fn upstream_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(m) = v.pointer("/error/message").and_then(|m| m.as_str())
    {
        return m.to_owned();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().to_owned()
}

impl fmt::Display for AiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AiError::Connect { upstream, message } => {
                write!(f, "upstream `{upstream}` unreachable: {message}")
            }
            AiError::Timeout { upstream } => write!(f, "upstream `{upstream}` timed out"),
            AiError::RateLimited { upstream, body } => write!(
                f,
                "upstream `{upstream}` is rate limited: {}",
                upstream_message(body)
            ),
            AiError::ServerError {
                upstream,
                status,
                body,
            } => write!(
                f,
                "upstream `{upstream}` failed ({status}): {}",
                upstream_message(body)
            ),
            AiError::Upstream {
                upstream,
                status,
                body,
            } => write!(
                f,
                "upstream `{upstream}` refused the request ({status}): {}",
                upstream_message(body)
            ),
            AiError::NoHealthyUpstream { retry_after } => write!(
                f,
                "every upstream is cooling down; retry after {} s",
                retry_secs(*retry_after)
            ),
            AiError::BadRequest { message, .. } => f.write_str(message),
            AiError::ModelNotFound { model } => {
                write!(f, "The model `{model}` does not exist")
            }
        }
    }
}

impl std::error::Error for AiError {}

/// Whole seconds for `retry-after`, rounded up, at least 1.
fn retry_secs(d: Duration) -> u64 {
    (d.as_millis().div_ceil(1000) as u64).max(1)
}

impl IntoResponse for AiError {
    fn into_response(self) -> Response {
        if let AiError::Upstream { status, body, .. } = &self {
            // The client's fault, told by the upstream: its answer as it came (JSON or not).
            let ctype = if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
            return Response::bytes(body.clone())
                .with_status(status)
                .with_content_type(ctype);
        }
        let resp = Response::bytes(self.to_json())
            .with_status(self.status())
            .with_content_type("application/json");
        match self {
            AiError::NoHealthyUpstream { retry_after } => {
                let mut buf = itoa::Buffer::new();
                resp.header("retry-after", buf.format(retry_secs(retry_after)))
            }
            _ => resp,
        }
    }
}
