//! A small OpenAI-compatible upstream for the runtime's AI tests: plain tokio TCP, HTTP/1.1
//! keep-alive, `chat.completion` and chunked `text/event-stream` answers, with injectable
//! statuses, a slow first token, a connection broken mid-stream, and disconnect detection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// What the upstream does, changeable while it runs; and what it saw.
#[derive(Debug)]
pub(super) struct State {
    /// Its label: content tokens are `{label}{n} `.
    pub(super) label: &'static str,
    /// The status to answer with (200: a completion).
    pub(super) status: AtomicU16,
    /// Milliseconds before the first event of a stream (or a non-streamed answer).
    pub(super) first_delay_ms: AtomicU64,
    /// Milliseconds between events after the first.
    pub(super) gap_ms: AtomicU64,
    /// Content tokens per answer.
    pub(super) tokens: AtomicUsize,
    /// Break the connection (no end of body) before content token number N.
    pub(super) break_at: AtomicUsize,
    /// Send OpenAI's error event (and end, without `[DONE]`) instead of content token N.
    pub(super) error_event_at: AtomicUsize,
    /// Milliseconds between `[DONE]` and the end of the chunked body.
    pub(super) end_delay_ms: AtomicU64,
    /// Stall (send nothing for 30 s) before content token number N.
    pub(super) stall_at: AtomicUsize,
    /// Requests received.
    pub(super) requests: AtomicUsize,
    /// Streams whose client went away before the end.
    pub(super) disconnects: AtomicUsize,
    /// Request bodies received, parsed.
    pub(super) bodies: Mutex<Vec<Value>>,
    /// Connections accepted.
    pub(super) connections: AtomicUsize,
    /// Request heads received.
    pub(super) heads: Mutex<Vec<String>>,
}

/// A running upstream; dropped, it stops (and closes its connections).
#[derive(Debug)]
pub(super) struct Upstream {
    pub(super) addr: SocketAddr,
    pub(super) state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Upstream {
    pub(super) fn start(label: &'static str) -> Upstream {
        let state = Arc::new(State {
            label,
            status: AtomicU16::new(200),
            first_delay_ms: AtomicU64::new(0),
            gap_ms: AtomicU64::new(0),
            tokens: AtomicUsize::new(3),
            break_at: AtomicUsize::new(usize::MAX),
            stall_at: AtomicUsize::new(usize::MAX),
            end_delay_ms: AtomicU64::new(0),
            error_event_at: AtomicUsize::new(usize::MAX),
            requests: AtomicUsize::new(0),
            disconnects: AtomicUsize::new(0),
            bodies: Mutex::new(Vec::new()),
            heads: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        });
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("listener");
                let accept = async {
                    loop {
                        let Ok((sock, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = sock.set_nodelay(true);
                        st.connections.fetch_add(1, SeqCst);
                        tokio::spawn(serve(sock, st.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        Upstream {
            addr,
            state,
            stop: Some(stop),
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT/v1`.
    pub(super) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub(super) fn requests(&self) -> usize {
        self.state.requests.load(SeqCst)
    }

    pub(super) fn set(&self, f: impl FnOnce(&State)) -> &Self {
        f(&self.state);
        self
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A port nothing listens on (bound, then closed): connecting is refused.
pub(super) fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/v1")
}

/// Reads one request (head + `Content-Length` body); `None` when the client closed.
async fn read_request(rd: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut tmp = [0u8; 4096];
                let n = rd.read(&mut tmp).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some((head, body));
        }
        let mut tmp = [0u8; 4096];
        let n = rd.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

async fn serve(sock: TcpStream, st: Arc<State>) {
    let (mut rd, mut wr) = sock.into_split();
    let mut buf = Vec::new();
    while let Some((head, body)) = read_request(&mut rd, &mut buf).await {
        st.requests.fetch_add(1, SeqCst);
        st.heads.lock().expect("lock").push(head);
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        st.bodies.lock().expect("lock").push(req.clone());
        let status = st.status.load(SeqCst);
        let first = Duration::from_millis(st.first_delay_ms.load(SeqCst));
        if status != 200 {
            let body = json!({"error": {"message": format!("{} says {status}", st.label),
                "type": "upstream_test", "param": null, "code": status}});
            if write_full(&mut wr, status, &body).await.is_err() {
                return;
            }
            continue;
        }
        let model = req["model"].as_str().unwrap_or("").to_owned();
        let tokens = st.tokens.load(SeqCst);
        if req["stream"] != Value::Bool(true) {
            tokio::time::sleep(first).await;
            let text: String = (0..tokens).map(|i| format!("{}{i} ", st.label)).collect();
            let body = json!({"id": format!("chatcmpl-{}", st.label), "object": "chat.completion",
                "created": 1_700_000_000, "model": model, "choices": [{"index": 0,
                "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens}});
            if write_full(&mut wr, 200, &body).await.is_err() {
                return;
            }
            continue;
        }
        if !stream(&mut rd, &mut wr, &st, &req, &model, first).await {
            return;
        }
    }
}

/// Streams one answer; false when the connection is over (broken on purpose, or gone).
async fn stream(
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    st: &State,
    req: &Value,
    model: &str,
    first: Duration,
) -> bool {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
    if wr.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let id = format!("chatcmpl-{}", st.label);
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let tokens = st.tokens.load(SeqCst);
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for i in 0..tokens {
        events.push(chunk(
            json!({"content": format!("{}{i} ", st.label)}),
            Value::Null,
        ));
    }
    events.push(chunk(json!({}), json!("stop")));
    if req["stream_options"]["include_usage"] == Value::Bool(true) {
        events.push(
            json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": model, "choices": [], "usage": {"prompt_tokens": 5,
            "completion_tokens": tokens, "total_tokens": 5 + tokens}}),
        );
    }
    let gap = Duration::from_millis(st.gap_ms.load(SeqCst));
    let break_at = st.break_at.load(SeqCst);
    let stall_at = st.stall_at.load(SeqCst);
    let mut lines: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    lines.push("data: [DONE]\n\n".to_owned());
    for (i, line) in lines.iter().enumerate() {
        let wait = match i {
            0 => first,
            _ if i - 1 == stall_at => Duration::from_secs(30),
            _ => gap,
        };
        let mut tmp = [0u8; 64];
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = rd.read(&mut tmp) => {
                if matches!(r, Ok(0) | Err(_)) {
                    st.disconnects.fetch_add(1, SeqCst);
                    return false;
                }
            }
        }
        if i >= 1 && i - 1 == break_at {
            return false; // dropped mid-body: the client sees an incomplete message
        }
        if i >= 1 && i - 1 == st.error_event_at.load(SeqCst) {
            let e = json!({"error": {"message": "overloaded mid-stream", "type": "server_error",
                "param": null, "code": null}});
            let line = format!("data: {e}\n\n");
            let framed = format!("{:x}\r\n{line}\r\n0\r\n\r\n", line.len());
            return wr.write_all(framed.as_bytes()).await.is_ok();
        }
        let framed = format!("{:x}\r\n{line}\r\n", line.len());
        if wr.write_all(framed.as_bytes()).await.is_err() {
            st.disconnects.fetch_add(1, SeqCst);
            return false;
        }
    }
    let end_delay = st.end_delay_ms.load(SeqCst);
    if end_delay > 0 {
        tokio::time::sleep(Duration::from_millis(end_delay)).await;
    }
    wr.write_all(b"0\r\n\r\n").await.is_ok()
}

async fn write_full(wr: &mut OwnedWriteHalf, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    wr.write_all(head.as_bytes()).await?;
    wr.write_all(body.as_bytes()).await
}
