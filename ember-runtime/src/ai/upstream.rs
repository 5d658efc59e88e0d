//! One upstream as the router uses it: its resolved URL and key, its shared [`Health`], and
//! one attempt at a chat completion over the worker's client — a complete JSON answer, or
//! a stream of SSE events whose first data event has already arrived.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use tokio::time::Sleep;

use super::client;
use super::error::AiError;
use super::events::{self, Splitter};
use super::health::Health;
use super::spec::UpstreamSpec;

/// The most an upstream's non-streamed answer (or error body) may hold.
const MAX_BODY: usize = 16 << 20;

/// An upstream, resolved at start-up.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) spec: &'static UpstreamSpec,
    /// `{base_url}/chat/completions`, or why there is none.
    pub(crate) uri: Result<http::Uri, String>,
    /// `Bearer {key}` when the key variable is set.
    pub(crate) auth: Option<HeaderValue>,
    /// Shared by every worker.
    pub(crate) health: Health,
}

impl Upstream {
    /// Resolves `spec`: the base URL (the env override when set) and the API key from env.
    pub(crate) fn resolve(spec: &'static UpstreamSpec) -> Upstream {
        let env = |name: Option<&str>| {
            name.and_then(|n| std::env::var(n).ok())
                .filter(|v| !v.trim().is_empty())
        };
        let base = env(spec.base_url_env).or_else(|| spec.base_url.map(str::to_owned));
        let uri = match base {
            None => Err(format!(
                "no base URL (set {})",
                spec.base_url_env.unwrap_or("base_url")
            )),
            Some(b) => Self::endpoint(b.trim(), "chat/completions"),
        };
        if let Err(e) = &uri {
            tracing::error!(upstream = spec.name, "AI upstream unusable: {e}");
        }
        let auth = env(spec.api_key_env).and_then(|key| {
            let v = HeaderValue::from_str(&format!("Bearer {}", key.trim()));
            if v.is_err() {
                tracing::error!(upstream = spec.name, "API key is not a valid header value");
            }
            v.ok()
        });
        Upstream {
            spec,
            uri,
            auth,
            health: Health::default(),
        }
    }

    /// `{base}/{path}` as a URI the client can call.
    fn endpoint(base: &str, path: &str) -> Result<http::Uri, String> {
        let full = format!("{}/{path}", base.trim_end_matches('/'));
        let uri: http::Uri = full
            .parse()
            .map_err(|e| format!("bad base URL `{base}`: {e}"))?;
        match uri.scheme_str() {
            Some("http") => Ok(uri),
            Some("https") if client::TLS => Ok(uri),
            Some("https") => Err(format!(
                "`{base}`: https upstreams need ember-runtime's `ai-tls` feature"
            )),
            _ => Err(format!("bad base URL `{base}`: not http:// or https://")),
        }
    }

    /// One attempt: sends `body` (a chat request for this upstream's model) and waits for a
    /// complete answer, or for the first data event of a stream, within `timeout`.
    pub(crate) async fn attempt(
        &'static self,
        body: Bytes,
        stream: bool,
    ) -> Result<(Answer, Duration), AiError> {
        let name = self.spec.name;
        let uri = self.uri.as_ref().map_err(|m| AiError::Connect {
            upstream: name,
            message: m.clone(),
        })?;
        let mut req = http::Request::new(Full::new(body));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri.clone();
        let headers = req.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        if let Some(auth) = &self.auth {
            headers.insert(AUTHORIZATION, auth.clone());
        }

        let start = Instant::now();
        let timeout = self.spec.timeout;
        let deadline = tokio::time::Instant::from_std(start + timeout);
        let resp = match tokio::time::timeout_at(deadline, client::send(req)).await {
            Err(_) => return Err(AiError::Timeout { upstream: name }),
            Ok(Err(e)) => {
                return Err(AiError::Connect {
                    upstream: name,
                    message: error_chain(&e),
                });
            }
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if !(200..300).contains(&status) {
            let body = collect(name, &mut body, timeout).await?;
            return Err(match status {
                429 => AiError::RateLimited {
                    upstream: name,
                    body,
                },
                400..=499 => AiError::Upstream {
                    upstream: name,
                    status,
                    body,
                },
                _ => AiError::ServerError {
                    upstream: name,
                    status: if status >= 500 { status } else { 502 },
                    body,
                },
            });
        }
        if !stream {
            let body = collect(name, &mut body, timeout).await?;
            return Ok((Answer::Full(body), start.elapsed()));
        }
        let mut events = Events::new(name, body, timeout);
        events.reset_gap_to(deadline);
        loop {
            match poll_fn(|cx| Pin::new(&mut events).poll_next(cx)).await {
                None => return Err(protocol(name, "the stream ended before any data")),
                Some(Err(e)) => return Err(e),
                Some(Ok(event)) => {
                    let Some(data) = events::data(&event) else {
                        continue; // a comment or keep-alive before the first token
                    };
                    if events::is_error(&data) {
                        return Err(AiError::ServerError {
                            upstream: name,
                            status: 502,
                            body: Bytes::copy_from_slice(&data),
                        });
                    }
                    let ttft = start.elapsed();
                    return Ok((
                        Answer::Stream {
                            first: event,
                            events,
                        },
                        ttft,
                    ));
                }
            }
        }
    }
}

/// A successful attempt.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A non-streamed answer's body (`chat.completion` JSON).
    Full(Bytes),
    /// A stream: its first data event, and the rest.
    Stream {
        /// The first event with data (the first token, usually the role delta).
        first: Bytes,
        /// The events after it.
        events: Events,
    },
}

fn protocol(upstream: &'static str, what: &str) -> AiError {
    AiError::ServerError {
        upstream,
        status: 502,
        body: Bytes::copy_from_slice(what.as_bytes()),
    }
}

/// An error with its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Reads a whole body, each frame within `gap` of the previous one, up to [`MAX_BODY`].
async fn collect(
    upstream: &'static str,
    body: &mut Incoming,
    gap: Duration,
) -> Result<Bytes, AiError> {
    let mut out = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(gap, body.frame()).await {
            Err(_) => return Err(AiError::Timeout { upstream }),
            Ok(None) => return Ok(out.freeze()),
            Ok(Some(Err(e))) => return Err(protocol(upstream, &error_chain(&e))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_BODY {
                return Err(protocol(upstream, "the answer is too large"));
            }
            if out.is_empty() {
                out = BytesMut::from(data);
            } else {
                out.extend_from_slice(&data);
            }
        }
    }
}

/// The SSE events of an upstream's streamed answer, as their raw bytes: each complete
/// event once it has arrived, `data: [DONE]` last. An upstream that stalls longer than its
/// `timeout` between chunks, breaks the connection, or ends without `[DONE]` gives one
/// error and ends. Dropped before `[DONE]` (the client left), it drops the response body,
/// which closes the upstream connection; dropped after it, the rest of the body (the end of
/// the chunked coding) is read so the connection goes back to the pool.
#[derive(Debug)]
pub(crate) struct Events {
    upstream: &'static str,
    /// `None` once it has ended (or been handed to a drain task).
    body: Option<Incoming>,
    splitter: Splitter,
    gap: Duration,
    /// Armed for `until` or earlier; when it fires early it is re-armed, so a frame costs
    /// a clock read, not a timer update.
    timer: Pin<Box<Sleep>>,
    /// When the upstream has been silent too long (the last frame + `gap`).
    until: tokio::time::Instant,
    /// `[DONE]` was yielded, or an error: nothing more.
    finished: bool,
    /// `[DONE]` was yielded: the connection is worth keeping.
    done: bool,
    /// The upstream sent an error event (`data: {"error": …}`) mid-stream: it was yielded
    /// as it came, and ended the stream.
    failed: bool,
}

impl Events {
    fn new(upstream: &'static str, body: Incoming, gap: Duration) -> Self {
        let until = tokio::time::Instant::now() + gap;
        Events {
            upstream,
            body: Some(body),
            splitter: Splitter::default(),
            gap,
            timer: Box::pin(tokio::time::sleep_until(until)),
            until,
            finished: false,
            done: false,
            failed: false,
        }
    }

    fn reset_gap_to(&mut self, deadline: tokio::time::Instant) {
        self.until = deadline;
        self.timer.as_mut().reset(deadline);
    }

    /// The upstream's name.
    pub(crate) fn upstream(&self) -> &'static str {
        self.upstream
    }

    /// Whether the upstream ended the stream with an error event of its own.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    fn fail(&mut self, e: AiError) -> Poll<Option<Result<Bytes, AiError>>> {
        self.finished = true;
        Poll::Ready(Some(Err(e)))
    }
}

impl Events {
    /// After `[DONE]`: reads what is left of the body if it has already arrived (the usual
    /// case), so the connection returns to the pool; else leaves it to `drop`.
    fn finish_body(&mut self, cx: &mut Context<'_>) {
        while let Some(body) = self.body.as_mut() {
            match Pin::new(body).poll_frame(cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(None | Some(Err(_))) => self.body = None,
                Poll::Pending => return,
            }
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let Some(body) = self.body.take() else {
            return;
        };
        if !self.done || body.is_end_stream() {
            return; // mid-stream: dropping the body closes the connection
        }
        // The end of the body is still on its way: read it in the background (bounded by
        // the gap timeout) so the pooled connection can be reused.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let gap = self.gap;
            rt.spawn(async move {
                let mut body = body;
                while let Ok(Some(Ok(_))) = tokio::time::timeout(gap, body.frame()).await {}
            });
        }
    }
}

impl Stream for Events {
    type Item = Result<Bytes, AiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            if let Some(event) = this.splitter.next_event() {
                match events::data(&event) {
                    Some(d) if d.as_ref() == b"[DONE]" => {
                        this.finished = true;
                        this.done = true;
                        this.finish_body(cx);
                    }
                    Some(d) if events::is_error(&d) => {
                        this.finished = true;
                        this.failed = true;
                    }
                    _ => {}
                }
                return Poll::Ready(Some(Ok(event)));
            }
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.splitter.push_bytes(data);
                        this.until = tokio::time::Instant::now() + this.gap;
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let e = protocol(this.upstream, &error_chain(&e));
                    return this.fail(e);
                }
                Poll::Ready(None) => {
                    let e = protocol(this.upstream, "the stream ended before [DONE]");
                    return this.fail(e);
                }
                Poll::Pending => loop {
                    ready!(this.timer.as_mut().poll(cx));
                    if tokio::time::Instant::now() >= this.until {
                        let e = AiError::Timeout {
                            upstream: this.upstream,
                        };
                        return this.fail(e);
                    }
                    // Data came since it was armed: wait for the real end of the gap.
                    let until = this.until;
                    this.timer.as_mut().reset(until);
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_base_urls() {
        let ok = |b| Upstream::endpoint(b, "chat/completions").map(|u| u.to_string());
        assert_eq!(
            ok("http://127.0.0.1:9/v1/"),
            Ok("http://127.0.0.1:9/v1/chat/completions".into())
        );
        assert_eq!(
            ok("https://api.example/v1").is_ok(),
            client::TLS,
            "https works with the ai-tls feature, and fails clearly without"
        );
        assert!(ok("ftp://x/v1").is_err());
        assert!(ok("not a url").is_err());
    }
}
