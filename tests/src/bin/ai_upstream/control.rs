//! The control API's state: injected faults, default token rate and the statistics that
//! tests read (`POST /control`, `GET /control/stats`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Milliseconds since the Unix epoch (comparable with Python's `time.time() * 1000`).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fault applied to the next `count` requests (every request while `count` is `None`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fault {
    /// Requests left; `None`: until reset.
    pub(crate) count: Option<u64>,
    /// Answer with this status and an OpenAI error body.
    pub(crate) status: Option<u16>,
    /// The error's message (default: one naming the status).
    pub(crate) message: Option<String>,
    /// The error's `type` (default from the status).
    pub(crate) kind: Option<String>,
    /// The error's `code` (default from the status).
    pub(crate) code: Option<String>,
    /// The error's `param`.
    pub(crate) param: Option<String>,
    /// A `retry-after` header on the error.
    pub(crate) retry_after: Option<u64>,
    /// Abort the stream's connection after this many tokens.
    pub(crate) fail_after_tokens: Option<u64>,
    /// Wait this long before the first token.
    pub(crate) delay_first_token_ms: Option<u64>,
}

/// One request as the stats list it.
#[derive(Debug, Clone)]
struct Logged {
    at_ms: u64,
    model: String,
    stream: bool,
    status: u16,
}

/// One stream (or pending answer) whose client went away before the end.
#[derive(Debug, Clone)]
struct Disconnect {
    started_ms: u64,
    at_ms: u64,
    model: String,
    tokens_sent: u64,
}

/// Everything behind the control API.
#[derive(Debug)]
pub(crate) struct State {
    /// The fault in force.
    fault: Option<Fault>,
    /// Default content tokens per answer.
    pub(crate) tokens: u64,
    /// Default pause between tokens.
    pub(crate) interval_ms: u64,
    requests: u64,
    by_model: BTreeMap<String, u64>,
    in_flight: u64,
    completed: u64,
    disconnects: Vec<Disconnect>,
    log: Vec<Logged>,
    last_body: Value,
    last_headers: BTreeMap<String, String>,
}

/// The most requests the stats log keeps (the oldest go first).
const LOG_MAX: usize = 10_000;

impl State {
    /// A fresh state with these default token settings.
    pub(crate) fn new(tokens: u64, interval_ms: u64) -> State {
        State {
            fault: None,
            tokens,
            interval_ms,
            requests: 0,
            by_model: BTreeMap::new(),
            in_flight: 0,
            completed: 0,
            disconnects: Vec::new(),
            log: Vec::new(),
            last_body: Value::Null,
            last_headers: BTreeMap::new(),
        }
    }

    /// Records a chat request and takes the fault that applies to it.
    pub(crate) fn arrive(
        &mut self,
        model: &str,
        stream: bool,
        body: Value,
        headers: BTreeMap<String, String>,
    ) -> Option<Fault> {
        self.requests += 1;
        *self.by_model.entry(model.to_owned()).or_default() += 1;
        self.last_body = body;
        self.last_headers = headers;
        let fault = self.fault.clone();
        if let Some(c) = self.fault.as_mut().and_then(|f| f.count.as_mut()) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.fault = None;
            }
        }
        let status = fault.as_ref().and_then(|f| f.status).unwrap_or(200);
        if self.log.len() >= LOG_MAX {
            self.log.remove(0);
        }
        self.log.push(Logged {
            at_ms: now_ms(),
            model: model.to_owned(),
            stream,
            status,
        });
        fault
    }

    /// An answer started (stream or pending non-stream answer).
    pub(crate) fn open(&mut self) {
        self.in_flight += 1;
    }

    /// An answer ended: completely, or (`disconnected`) with its client gone.
    pub(crate) fn close(
        &mut self,
        started_ms: u64,
        model: &str,
        tokens_sent: u64,
        disconnected: bool,
    ) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if disconnected {
            self.disconnects.push(Disconnect {
                started_ms,
                at_ms: now_ms(),
                model: model.to_owned(),
                tokens_sent,
            });
        } else {
            self.completed += 1;
        }
    }

    /// Applies a `POST /control` body; the answer is the resulting state.
    pub(crate) fn control(&mut self, body: &Value) -> Result<Value, String> {
        let Some(obj) = body.as_object() else {
            return Err("the control body must be a JSON object".to_owned());
        };
        let num = |k: &str| -> Result<Option<u64>, String> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| format!("`{k}` must be a non-negative integer")),
            }
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        if obj.get("reset").and_then(Value::as_bool) == Some(true) {
            let (tokens, interval) = (self.tokens, self.interval_ms);
            let in_flight = self.in_flight;
            *self = State::new(tokens, interval);
            self.in_flight = in_flight;
        }
        if let Some(t) = num("tokens")? {
            self.tokens = t;
        }
        if let Some(i) = num("token_interval_ms")? {
            self.interval_ms = i;
        }
        let status = match num("status")? {
            None => None,
            Some(s) if (400..=599).contains(&s) => Some(s as u16),
            Some(s) => return Err(format!("`status` {s} is not an error status (400..=599)")),
        };
        let fault = Fault {
            count: num("count")?,
            status,
            message: text("message"),
            kind: text("type"),
            code: text("code"),
            param: text("param"),
            retry_after: num("retry_after")?,
            fail_after_tokens: num("fail_after_tokens")?,
            delay_first_token_ms: num("delay_first_token_ms")?,
        };
        if fault.count == Some(0) {
            return Err("`count` must be at least 1 (omit it: until reset)".to_owned());
        }
        if fault.status.is_some()
            || fault.fail_after_tokens.is_some()
            || fault.delay_first_token_ms.is_some()
        {
            self.fault = Some(fault);
        }
        Ok(self.stats())
    }

    /// The `GET /control/stats` body.
    pub(crate) fn stats(&self) -> Value {
        let fault = self.fault.as_ref().map(|f| {
            json!({
                "count": f.count, "status": f.status,
                "fail_after_tokens": f.fail_after_tokens,
                "delay_first_token_ms": f.delay_first_token_ms
            })
        });
        json!({
            "now_ms": now_ms(),
            "requests": self.requests,
            "requests_by_model": self.by_model,
            "in_flight": self.in_flight,
            "completed": self.completed,
            "disconnects": self.disconnects.iter().map(|d| json!({
                "started_ms": d.started_ms, "at_ms": d.at_ms,
                "model": d.model, "tokens_sent": d.tokens_sent
            })).collect::<Vec<_>>(),
            "log": self.log.iter().map(|l| json!({
                "at_ms": l.at_ms, "model": l.model, "stream": l.stream, "status": l.status
            })).collect::<Vec<_>>(),
            "last_request": self.last_body,
            "last_headers": self.last_headers,
            "fault": fault,
            "tokens": self.tokens,
            "token_interval_ms": self.interval_ms
        })
    }
}

/// The process-wide state.
pub(crate) static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Runs `f` on the state (poisoning is ignored: the state stays usable).
pub(crate) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let s = g.get_or_insert_with(|| State::new(8, 0));
    f(s)
}
