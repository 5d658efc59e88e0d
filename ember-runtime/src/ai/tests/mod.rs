//! The AI runtime over real sockets: a hand-written `Service` routing to the gateway and to
//! a user AI handler, in front of small local upstreams (`upstream.rs`), on both backends.

mod upstream;

use std::future::poll_fn;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use futures_core::Stream;
use serde_json::{Value, json};

use super::private::{
    Ai, AiCell, AiSpec, Cooldown, ModelSpec, Retries, Strategy, UpstreamSpec, chat_completions,
    models, parse_chat,
};
use super::{AiError, ChatRequest, Message, Model};
use crate::config::{Backend, RouteLimits, ServerConfig, Workers};
use crate::http::method::Method;
use crate::http::request::Request;
use crate::http::response::{IntoResponse, Response};
use crate::server::{Server, ServerHandle};
use crate::service::Service;
use upstream::{Upstream, refused_url};

const BACKENDS: [Backend; 2] = [Backend::IoUring, Backend::Tokio];

/// One upstream of a test model: name, base URL, timeout, price, weight.
struct Up(&'static str, String, Duration, f64, u32);

fn up(name: &'static str, url: String) -> Up {
    Up(name, url, Duration::from_secs(5), 0.0, 1)
}

/// A fresh `Ai` with one model `m` (health state of its own).
fn ai(strategy: Strategy, retries: Retries, cooldown: Cooldown, ups: Vec<Up>) -> &'static Ai {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let upstreams: Vec<UpstreamSpec> = ups
        .into_iter()
        .map(|Up(name, url, timeout, cost, weight)| UpstreamSpec {
            name,
            base_url: Some(leak(url)),
            base_url_env: None,
            model: leak(format!("model-{name}")),
            api_key_env: None,
            timeout,
            cost_input: cost,
            cost_output: cost,
            weight,
        })
        .collect();
    let models = Box::leak(Box::new([ModelSpec {
        name: "m",
        strategy,
        retries,
        cooldown,
        latency_window: Duration::from_secs(60),
        upstreams: Box::leak(upstreams.into_boxed_slice()),
    }]));
    let spec = Box::leak(Box::new(AiSpec {
        models,
        context: None,
        limits: None,
        semantic_cache: None, // semantic cache (semcache)
    }));
    Box::leak(Box::new(AiCell::new(spec))).get()
}

const NO_RETRIES: Retries = Retries {
    connect: 0,
    timeout: 0,
    rate_limited: 0,
    server_error: 0,
};
const NO_COOLDOWN: Cooldown = Cooldown {
    failures: 0,
    period: Duration::from_secs(1),
};

#[derive(Clone)]
struct App(&'static Ai);

impl Service for App {
    type Route = u8;
    fn route(&self, _: Method<'_>, path: &str) -> (u8, RouteLimits) {
        let r = match path {
            "/v1/chat/completions" => 0,
            "/v1/models" => 1,
            "/summarize" => 2,
            _ => 9,
        };
        (r, RouteLimits::default())
    }
    async fn call<'a>(&'a self, route: u8, req: &'a Request<'a>) -> Response {
        match route {
            0 => chat_completions(self.0, req).await,
            1 => models(self.0),
            2 => match parse_chat(req) {
                Ok(chat) => summarize(chat, self.0.model(0)).await.into_response(),
                Err(resp) => resp,
            },
            _ => Response::error(crate::http::status::StatusCode::NOT_FOUND),
        }
    }
}

/// A user AI handler: the streamed text, collected, with the upstream that served it.
async fn summarize(mut chat: ChatRequest, model: &Model) -> Result<Response, AiError> {
    chat.messages.insert(0, Message::system("summarize"));
    let tokens = model.stream(chat).await?;
    let upstream = tokens.upstream();
    let mut text = tokens.text();
    let mut out = String::new();
    while let Some(t) = poll_fn(|cx| Pin::new(&mut text).poll_next(cx)).await {
        out.push_str(&t);
    }
    Ok(Response::text(out).header("x-upstream", upstream))
}

fn serve(ai: &'static Ai, backend: Backend, workers: usize) -> ServerHandle {
    let config = ServerConfig::new()
        .listen("127.0.0.1:0")
        .workers(Workers::Count(workers))
        .backend(backend);
    Server::new(App(ai))
        .with_config(config)
        .start()
        .expect("server")
}

/// A response as the client saw it; a chunked body keeps its chunks (one write each).
#[derive(Debug)]
struct Resp {
    status: u16,
    head: String,
    chunks: Vec<Vec<u8>>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    fn body(&self) -> Vec<u8> {
        self.chunks.concat()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).expect("json body")
    }
    /// The `data` of each SSE event (one event per chunk is asserted).
    fn events(&self) -> Vec<String> {
        self.chunks
            .iter()
            .map(|c| {
                let s = String::from_utf8(c.clone()).expect("utf8");
                assert!(
                    s.ends_with("\n\n") && s.matches("\n\n").count() == 1,
                    "{s:?}"
                );
                s.trim_end()
                    .strip_prefix("data: ")
                    .expect("data")
                    .to_owned()
            })
            .collect()
    }
}

fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head[9..12].parse().expect("status");
    let mut rest = &raw[end + 4..];
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let mut chunks = Vec::new();
    if !chunked {
        chunks.push(rest.to_vec());
    } else {
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let len = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).expect("hex"), 16)
                .expect("chunk size");
            if len == 0 {
                break;
            }
            chunks.push(rest[eol + 2..eol + 2 + len].to_vec());
            rest = &rest[eol + 2 + len + 2..];
        }
    }
    Resp {
        status,
        head,
        chunks,
    }
}

fn chat(stream: bool) -> String {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
}

/// The content of a relayed stream's chunks, concatenated.
fn streamed_text(events: &[String]) -> String {
    events
        .iter()
        .filter(|e| e.as_str() != "[DONE]")
        .filter_map(|e| {
            let v: Value = serde_json::from_str(e).ok()?;
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

mod gateway;
mod router;
