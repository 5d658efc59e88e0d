//! OpenAI's chat-completions wire format: what the upstream answers, built as JSON.
//!
//! Everything here is deterministic: the content of an answer is derived from the last
//! user message (see [`Plan`]), so a test can predict it exactly.

use serde_json::{Value, json};

/// What one request asks the upstream to produce.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `chatcmpl-…`, the same in every chunk.
    pub(crate) id: String,
    /// Unix seconds, the same in every chunk.
    pub(crate) created: u64,
    /// The model name the request asked for (echoed in `model`).
    pub(crate) model: String,
    /// The content tokens (text answers) in order.
    pub(crate) tokens: Vec<String>,
    /// The tool calls (when the request declared `tools`): name and full arguments.
    pub(crate) tool_calls: Vec<(String, String)>,
    /// `stop`, `length` or `tool_calls`.
    pub(crate) finish_reason: &'static str,
    /// Words in the prompt (the usage's `prompt_tokens`).
    pub(crate) prompt_tokens: u64,
    /// Whether the stream ends with a usage chunk (`stream_options.include_usage`).
    pub(crate) include_usage: bool,
}

/// Per-request knobs read from the last user message (`#tokens=N`, `#interval_ms=N`,
/// `#ttft_ms=N`, `#fail_after=K`); absent ones are `None`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Directives {
    /// Content tokens to answer with.
    pub(crate) tokens: Option<u64>,
    /// Pause between tokens.
    pub(crate) interval_ms: Option<u64>,
    /// Pause before the first token.
    pub(crate) ttft_ms: Option<u64>,
    /// Abort the connection after this many tokens.
    pub(crate) fail_after: Option<u64>,
}

/// The text of a message's `content` (a string, or the text parts of an array).
pub(crate) fn content_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Splits the last user message into its words and its `#key=value` directives.
pub(crate) fn last_user_words(messages: &[Value]) -> (Vec<String>, Directives) {
    let text = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(content_text)
        .unwrap_or_default();
    let mut words = Vec::new();
    let mut d = Directives::default();
    for w in text.split_whitespace() {
        let Some((key, value)) = w.strip_prefix('#').and_then(|kv| kv.split_once('=')) else {
            words.push(w.to_owned());
            continue;
        };
        let value = value.parse::<u64>().ok();
        match key {
            "tokens" => d.tokens = value,
            "interval_ms" => d.interval_ms = value,
            "ttft_ms" => d.ttft_ms = value,
            "fail_after" => d.fail_after = value,
            _ => words.push(w.to_owned()),
        }
    }
    (words, d)
}

/// The content tokens: `[MODEL]`, then ` WORD` cycling through the last user message's
/// words (` tok` when it has none), `n` tokens in all.
pub(crate) fn text_tokens(model: &str, words: &[String], n: u64) -> Vec<String> {
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        if i == 0 {
            out.push(format!("[{model}]"));
        } else if words.is_empty() {
            out.push(" tok".to_owned());
        } else {
            out.push(format!(" {}", words[(i - 1) % words.len()]));
        }
    }
    out
}

/// One tool call per declared function tool (at most 3): the arguments are a JSON object
/// that echoes the last user message's words and the call's position.
pub(crate) fn tool_calls(tools: &[Value], words: &[String]) -> Vec<(String, String)> {
    tools
        .iter()
        .filter_map(|t| {
            t.get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
        })
        .take(3)
        .enumerate()
        .map(|(i, name)| {
            let args = json!({ "query": words.join(" "), "n": i });
            (name.to_owned(), args.to_string())
        })
        .collect()
}

/// The id of tool call `i` of the answer `id`.
pub(crate) fn call_id(id: &str, i: usize) -> String {
    format!("call_{}_{i}", id.trim_start_matches("chatcmpl-"))
}

/// The argument pieces a stream sends for one tool call (at most 8 bytes each, cut at
/// char boundaries).
pub(crate) fn argument_pieces(args: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in args.char_indices() {
        if i - start >= 8 {
            out.push(&args[start..i]);
            start = i;
        }
        end = i + c.len_utf8();
    }
    if end > start {
        out.push(&args[start..end]);
    }
    out
}

impl Plan {
    /// The `usage` object.
    pub(crate) fn usage(&self) -> Value {
        let completion = if self.tool_calls.is_empty() {
            self.tokens.len() as u64
        } else {
            self.tool_calls
                .iter()
                .map(|(_, a)| argument_pieces(a).len() as u64)
                .sum()
        };
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
            }
        })
    }

    /// The non-streaming `chat.completion` body.
    pub(crate) fn completion(&self) -> Value {
        let message = if self.tool_calls.is_empty() {
            json!({
                "role": "assistant",
                "content": self.tokens.concat(),
                "refusal": null,
                "annotations": []
            })
        } else {
            let calls: Vec<Value> = self
                .tool_calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    json!({
                        "id": call_id(&self.id, i),
                        "type": "function",
                        "function": { "name": name, "arguments": args }
                    })
                })
                .collect();
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": calls,
                "refusal": null,
                "annotations": []
            })
        };
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": self.finish_reason
            }],
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_ember_upstream"
        })
    }

    /// One `chat.completion.chunk` with `delta` and `finish_reason` in its only choice.
    pub(crate) fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_ember_upstream",
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason
            }]
        });
        if self.include_usage {
            c["usage"] = Value::Null;
        }
        c
    }

    /// The final usage chunk (`choices` empty).
    pub(crate) fn usage_chunk(&self) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_ember_upstream",
            "choices": [],
            "usage": self.usage()
        })
    }

    /// The stream's events in order, each an SSE `data:` frame, and whether it is a
    /// content token (what `#fail_after` and the token rate count). Ends with `[DONE]`.
    pub(crate) fn events(&self) -> Vec<(bool, Vec<u8>)> {
        let mut out = Vec::new();
        let frame = |v: Value| format!("data: {v}\n\n").into_bytes();
        if self.tool_calls.is_empty() {
            out.push((
                false,
                frame(self.chunk(
                    json!({"role": "assistant", "content": "", "refusal": null}),
                    None,
                )),
            ));
            // One rendered chunk as a template (cheap per token: the benchmark's upstream
            // must not be the bottleneck).
            let tpl = String::from_utf8(frame(self.chunk(json!({ "content": "\u{1}" }), None)))
                .unwrap_or_default();
            let (prefix, suffix) = tpl.split_once("\"\\u0001\"").unwrap_or((&tpl, ""));
            for t in &self.tokens {
                let quoted = Value::String(t.clone()).to_string();
                let mut e = Vec::with_capacity(prefix.len() + quoted.len() + suffix.len());
                e.extend_from_slice(prefix.as_bytes());
                e.extend_from_slice(quoted.as_bytes());
                e.extend_from_slice(suffix.as_bytes());
                out.push((true, e));
            }
        } else {
            for (i, (name, args)) in self.tool_calls.iter().enumerate() {
                let mut head = json!({
                    "tool_calls": [{
                        "index": i,
                        "id": call_id(&self.id, i),
                        "type": "function",
                        "function": { "name": name, "arguments": "" }
                    }]
                });
                if i == 0 {
                    head["role"] = json!("assistant");
                    head["content"] = Value::Null;
                    head["refusal"] = Value::Null;
                }
                out.push((false, frame(self.chunk(head, None))));
                for piece in argument_pieces(args) {
                    let d = json!({
                        "tool_calls": [{ "index": i, "function": { "arguments": piece } }]
                    });
                    out.push((true, frame(self.chunk(d, None))));
                }
            }
        }
        out.push((
            false,
            frame(self.chunk(json!({}), Some(self.finish_reason))),
        ));
        if self.include_usage {
            out.push((false, frame(self.usage_chunk())));
        }
        out.push((false, b"data: [DONE]\n\n".to_vec()));
        out
    }
}

/// OpenAI's error `type` and `code` for an HTTP status.
pub(crate) fn error_kind(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        400 => ("invalid_request_error", None),
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
        ),
        404 => ("invalid_request_error", Some("model_not_found")),
        429 => ("requests", Some("rate_limit_exceeded")),
        503 => ("service_unavailable", None),
        _ => ("server_error", None),
    }
}

/// OpenAI's error body.
pub(crate) fn error_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
}
