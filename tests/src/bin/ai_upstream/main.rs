//! A local OpenAI-compatible upstream for the AI gateway's tests and benchmark, written on
//! tokio + hyper (not on Ember, so an Ember bug cannot cancel itself out).
//!
//! ```text
//! ai_upstream [--listen ADDR] [--tokens N] [--token-interval-ms MS] [--models a,b]
//! ```
//! It prints `listening on ADDR` on stdout first (port 0 is allowed), then serves:
//! - `POST /v1/chat/completions`, stream and non-stream, exactly as OpenAI answers
//!   (`chat.completion`; `chat.completion.chunk` events with one id/created/model, the
//!   role in the first delta, `finish_reason`, the `stream_options.include_usage` chunk,
//!   `data: [DONE]`). The content is deterministic: the token `[MODEL]` (the model the
//!   request asked for), then ` WORD` cycling through the last user message's words, N
//!   tokens in all (`max_tokens` caps it: `finish_reason: length`). When the request
//!   declares `tools` (and `tool_choice` is not `none` and the last message is not a tool
//!   result) it calls each declared function (at most 3), arguments streamed in pieces
//!   keyed by `index`.
//! - Per request, the last user message's `#tokens=N`, `#interval_ms=MS`, `#ttft_ms=MS`,
//!   `#fail_after=K` (or headers `x-upstream-tokens`, `x-upstream-token-interval-ms`,
//!   `x-upstream-ttft-ms`, `x-upstream-fail-after`) override the rate and length; the
//!   directives are not echoed.
//! - `GET /v1/models`: the `--models` list.
//! - `POST /control` (JSON): `{"reset": true}` clears faults and stats; `{"status": S,
//!   "count": N}` answers the next N requests (all, without `count`) with S and an OpenAI
//!   error body (`message`, `type`, `code`, `param`, `retry_after` optional);
//!   `{"fail_after_tokens": K}` aborts streams after K tokens; `{"delay_first_token_ms":
//!   D}` delays the first token; `{"tokens": N, "token_interval_ms": MS}` changes the
//!   defaults; `{"refuse_connections_ms": D}` closes the listener and every connection
//!   for D ms (connections are refused), then listens again on the same port.
//! - `GET /control/stats`: requests (total, per model, a log with ms timestamps), streams
//!   in flight, completed answers, disconnects (answers whose client went away before the
//!   end: when, after how many tokens), the last request's body and headers.

mod control;
mod stream;
mod wire;

use std::collections::BTreeMap;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::stream::{Open, Pace, TokenBody};
use crate::wire::Plan;

/// A response body: a whole JSON document or a paced SSE stream.
type Answer = Either<Full<Bytes>, TokenBody>;

/// What the handlers share.
#[derive(Debug)]
struct Ctx {
    models: Vec<String>,
    refuse: mpsc::UnboundedSender<u64>,
}

static CTX: OnceLock<Ctx> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Command-line settings.
#[derive(Debug)]
struct Args {
    listen: String,
    tokens: u64,
    interval_ms: u64,
    models: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:0".to_owned(),
        tokens: 8,
        interval_ms: 0,
        models: vec!["model-a".to_owned(), "model-b".to_owned()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => a.listen = value()?,
            "--tokens" => {
                a.tokens = value()?.parse().map_err(|_| "--tokens: not a number")?;
            }
            "--token-interval-ms" => {
                a.interval_ms = value()?
                    .parse()
                    .map_err(|_| "--token-interval-ms: not a number")?;
            }
            "--models" => a.models = value()?.split(',').map(str::to_owned).collect(),
            "-h" | "--help" => {
                return Err("usage: ai_upstream [--listen ADDR] [--tokens N] \
                            [--token-interval-ms MS] [--models a,b]"
                    .to_owned());
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(a)
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ai_upstream: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ai_upstream: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ai_upstream: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> std::io::Result<()> {
    control::with(|s| {
        s.tokens = args.tokens;
        s.interval_ms = args.interval_ms;
    });
    let listener = TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()?;
    drop(out);
    let (refuse, mut refuse_rx) = mpsc::unbounded_channel();
    let _ = CTX.set(Ctx {
        models: args.models,
        refuse,
    });
    let (kill, _) = watch::channel(0u64);
    let mut listener = Some(listener);
    loop {
        let Some(l) = listener.take() else {
            listener = Some(rebind(addr).await?);
            continue;
        };
        tokio::select! {
            accepted = l.accept() => {
                listener = Some(l);
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let mut killed = kill.subscribe();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, hyper::service::service_fn(handle));
                    tokio::select! {
                        _ = conn => {}
                        _ = killed.changed() => {}
                    }
                });
            }
            ms = refuse_rx.recv() => {
                drop(l);
                kill.send_modify(|g| *g += 1);
                tokio::time::sleep(Duration::from_millis(ms.unwrap_or(0))).await;
            }
        }
    }
}

/// Listens on `addr` again (retrying for 5 s while the port is still held).
async fn rebind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("rebind failed")))
}

fn json_response(status: u16, body: &Value) -> Response<Answer> {
    let mut r = Response::new(Either::Left(Full::new(Bytes::from(body.to_string()))));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_response(
    status: u16,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response<Answer> {
    let (kind, default_code) = wire::error_kind(status);
    json_response(
        status,
        &wire::error_body(message, kind, param, code.or(default_code)),
    )
}

async fn handle(req: Request<Incoming>) -> Result<Response<Answer>, std::io::Error> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match Limited::new(req.into_body(), 16 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(error_response(
                400,
                "could not read the request body",
                None,
                None,
            ));
        }
    };
    match (method, path.as_str()) {
        (Method::POST, "/v1/chat/completions" | "/chat/completions") => chat(&body, headers).await,
        (Method::GET, "/v1/models" | "/models") => Ok(models()),
        (Method::POST, "/control") => Ok(control_post(&body)),
        (Method::GET, "/control/stats") => Ok(json_response(200, &control::with(|s| s.stats()))),
        (_, p) => Ok(error_response(
            404,
            &format!("Invalid URL ({p})"),
            None,
            Some("unknown_url"),
        )),
    }
}

fn models() -> Response<Answer> {
    let models = CTX.get().map(|c| c.models.as_slice()).unwrap_or(&[]);
    let data: Vec<Value> = models
        .iter()
        .map(|m| json!({ "id": m, "object": "model", "created": 1_700_000_000, "owned_by": "ember-upstream" }))
        .collect();
    json_response(200, &json!({ "object": "list", "data": data }))
}

fn control_post(body: &[u8]) -> Response<Answer> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return error_response(400, "the control body is not JSON", None, None);
    };
    if let (Some(ms), Some(ctx)) = (
        v.get("refuse_connections_ms").and_then(Value::as_u64),
        CTX.get(),
    ) {
        let tx = ctx.refuse.clone();
        // Lets this answer go out before every connection closes.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx.send(ms);
        });
    }
    match control::with(|s| s.control(&v)) {
        Ok(stats) => json_response(200, &stats),
        Err(e) => error_response(400, e.as_str(), None, None),
    }
}

/// A header's value as a number.
fn header_num(headers: &BTreeMap<String, String>, name: &str) -> Option<u64> {
    headers.get(name).and_then(|v| v.trim().parse().ok())
}

async fn chat(
    body: &[u8],
    headers: BTreeMap<String, String>,
) -> Result<Response<Answer>, std::io::Error> {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return Ok(error_response(
            400,
            "We could not parse the JSON body of your request.",
            None,
            None,
        ));
    };
    let Some(model) = req.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return Ok(error_response(
            400,
            "you must provide a model parameter",
            None,
            None,
        ));
    };
    let Some(messages) = req.get("messages").and_then(Value::as_array).cloned() else {
        return Ok(error_response(
            400,
            "Missing required parameter: 'messages'.",
            Some("messages"),
            Some("missing_required_parameter"),
        ));
    };
    let streaming = req.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = streaming
        && req
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
    let (fault, defaults) = control::with(|s| {
        let f = s.arrive(&model, streaming, req.clone(), headers.clone());
        (f, (s.tokens, s.interval_ms))
    });
    let fault = fault.unwrap_or_default();
    if let Some(status) = fault.status {
        let (kind, code) = wire::error_kind(status);
        let message = fault
            .message
            .clone()
            .unwrap_or_else(|| format!("injected {status} from the upstream test server"));
        let mut r = json_response(
            status,
            &wire::error_body(
                &message,
                fault.kind.as_deref().unwrap_or(kind),
                fault.param.as_deref(),
                fault.code.as_deref().or(code),
            ),
        );
        if let Some(s) = fault.retry_after {
            r.headers_mut().insert("retry-after", HeaderValue::from(s));
        }
        return Ok(r);
    }
    let (words, d) = wire::last_user_words(&messages);
    let mut n = header_num(&headers, "x-upstream-tokens")
        .or(d.tokens)
        .unwrap_or(defaults.0);
    let pace = Pace {
        ttft_ms: header_num(&headers, "x-upstream-ttft-ms")
            .or(d.ttft_ms)
            .or(fault.delay_first_token_ms)
            .unwrap_or(0),
        interval_ms: header_num(&headers, "x-upstream-token-interval-ms")
            .or(d.interval_ms)
            .unwrap_or(defaults.1),
        fail_after: header_num(&headers, "x-upstream-fail-after")
            .or(d.fail_after)
            .or(fault.fail_after_tokens),
    };
    let cap = req
        .get("max_completion_tokens")
        .or_else(|| req.get("max_tokens"))
        .and_then(Value::as_u64);
    let mut finish_reason = "stop";
    if let Some(cap) = cap.filter(|&c| c < n) {
        n = cap;
        finish_reason = "length";
    }
    let tools = req
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let tool_choice_none = req.get("tool_choice").and_then(Value::as_str) == Some("none");
    let after_tool = messages
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        == Some("tool");
    let calls = if tool_choice_none || after_tool {
        Vec::new()
    } else {
        wire::tool_calls(&tools, &words)
    };
    if !calls.is_empty() {
        finish_reason = "tool_calls";
    }
    let prompt_tokens = messages
        .iter()
        .map(|m| wire::content_text(m).split_whitespace().count() as u64)
        .sum();
    let seq = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let plan = Plan {
        id: format!("chatcmpl-up{:x}x{seq:08x}", std::process::id()),
        created: control::now_ms() / 1000,
        model: model.clone(),
        tokens: wire::text_tokens(&model, &words, n),
        tool_calls: calls,
        finish_reason,
        prompt_tokens,
        include_usage,
    };
    let mut open = Open::new(&model);
    if streaming {
        let body = TokenBody::new(plan.events(), pace, open);
        let mut r = Response::new(Either::Right(body));
        let h = r.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Ok(v) = HeaderValue::from_str(&model) {
            h.insert("x-upstream-model", v);
        }
        return Ok(r);
    }
    let total = plan.events().iter().filter(|(t, _)| *t).count() as u64;
    let wait = pace.ttft_ms + pace.interval_ms * total.saturating_sub(1);
    if let Some(k) = pace.fail_after {
        let until = pace.ttft_ms + pace.interval_ms * k.saturating_sub(1);
        tokio::time::sleep(Duration::from_millis(until)).await;
        open.finish();
        return Err(std::io::Error::other("injected failure"));
    }
    tokio::time::sleep(Duration::from_millis(wait)).await;
    open.tokens_sent = total;
    open.finish();
    let mut r = json_response(200, &plan.completion());
    if let Ok(v) = HeaderValue::from_str(&model) {
        r.headers_mut().insert("x-upstream-model", v);
    }
    Ok(r)
}
