//! A hit as the client's answer: a `chat.completion` body, or — when the client asked for
//! a stream — OpenAI's `chat.completion.chunk` events (the role, the content in pieces, the
//! finish reason, the usage chunk when `stream_options.include_usage` was set, then
//! `data: [DONE]`), with `x-ember-cache: semantic-hit` and `x-ember-similarity`.

use serde_json::{Value, json};

use super::Stored;
use crate::http::response::Response;

/// The header telling a hit (`semantic-hit`) from a miss (`miss`).
pub(crate) const CACHE_HEADER: &str = "x-ember-cache";
/// The header carrying a hit's cosine similarity (4 decimals).
pub(crate) const SIMILARITY_HEADER: &str = "x-ember-similarity";

/// The response replaying `answer` (similarity `sim`) for a request that did (`stream`) or
/// did not ask for a stream, with (`usage`) or without the usage chunk.
pub(crate) fn response(answer: &Stored, sim: f32, stream: bool, usage: bool) -> Response {
    let id = format!("chatcmpl-ember-{:016x}", super::random_id());
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let resp = if stream {
        Response::bytes(events(answer, &id, created, usage))
            .with_content_type("text/event-stream")
            .header("cache-control", "no-cache")
    } else {
        Response::bytes(body(answer, &id, created)).with_content_type("application/json")
    };
    let mut buf = [0u8; 16];
    resp.header(CACHE_HEADER, "semantic-hit")
        .header(SIMILARITY_HEADER, similarity(sim, &mut buf))
}

/// `sim` with 4 decimals (clamped to [0, 1]).
fn similarity(sim: f32, buf: &mut [u8; 16]) -> &str {
    use std::io::Write;
    let mut w = &mut buf[..];
    let _ = write!(w, "{:.4}", sim.clamp(0.0, 1.0));
    let left = w.len();
    let n = 16 - left;
    std::str::from_utf8(&buf[..n]).unwrap_or("0")
}

fn usage_value(answer: &Stored) -> Value {
    answer.usage.as_ref().map_or_else(
        || json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
        |u| serde_json::to_value(u).unwrap_or(Value::Null),
    )
}

/// The `chat.completion` body.
fn body(answer: &Stored, id: &str, created: u64) -> Vec<u8> {
    let v = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": answer.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer.content, "refusal": null},
            "logprobs": null,
            "finish_reason": answer.finish_reason,
        }],
        "usage": usage_value(answer),
        "system_fingerprint": null,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The SSE events of the replayed stream.
fn events(answer: &Stored, id: &str, created: u64, usage: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(answer.content.len() * 4 + 512);
    let chunk = |out: &mut Vec<u8>, delta: Value, finish: Option<&str>| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": answer.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if usage {
            c["usage"] = Value::Null;
        }
        push_event(out, &c);
    };
    chunk(
        &mut out,
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    );
    for piece in pieces(&answer.content) {
        chunk(&mut out, json!({"content": piece}), None);
    }
    chunk(&mut out, json!({}), Some(&answer.finish_reason));
    if usage {
        let c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": answer.model,
            "system_fingerprint": null,
            "choices": [],
            "usage": usage_value(answer),
        });
        push_event(&mut out, &c);
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

fn push_event(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

/// The content in word-sized pieces (each word with the whitespace before it), as a
/// model streams tokens; joined they are the content exactly.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let lead = rest.len() - rest.trim_start().len();
        let end = rest[lead..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| lead + i);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::wire::{Chunk, Completion, Usage};

    fn stored() -> Stored {
        Stored {
            content: "Paris is  the capital.\nYes".into(),
            finish_reason: "stop".into(),
            usage: Some(Usage {
                prompt_tokens: 9,
                completion_tokens: 6,
                total_tokens: 15,
                ..Usage::default()
            }),
            model: "m".into(),
        }
    }

    #[test]
    fn pieces_join_to_the_text() {
        let t = "  a  b\nc ";
        assert_eq!(pieces(t).collect::<String>(), t);
        assert_eq!(pieces("Paris is").collect::<Vec<_>>(), ["Paris", " is"]);
        assert_eq!(pieces("").count(), 0);
    }

    #[test]
    fn a_body_is_a_completion_and_a_stream_its_chunks() {
        let r = response(&stored(), 0.97321, false, false);
        let c: Completion = serde_json::from_slice(r.body()).expect("a completion");
        assert_eq!(c.text(), Some(stored().content.as_str()));
        assert_eq!(c.object, "chat.completion");
        assert_eq!(c.usage.map(|u| u.total_tokens), Some(15));
        let head = String::from_utf8_lossy(r.header_block()).to_lowercase();
        assert!(head.contains("x-ember-cache: semantic-hit"), "{head}");
        assert!(head.contains("x-ember-similarity: 0.9732"), "{head}");

        let r = response(&stored(), 1.0, true, true);
        let text = String::from_utf8_lossy(r.body()).into_owned();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.last(), Some(&"data: [DONE]"));
        let chunks: Vec<Chunk> = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e.trim_start_matches("data: ")).expect("a chunk"))
            .collect();
        let joined: String = chunks.iter().filter_map(|c| c.text()).collect();
        assert_eq!(joined, stored().content);
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        let n = chunks.len();
        assert_eq!(
            chunks[n - 2].choices[0].finish_reason.as_deref(),
            Some("stop")
        );
        assert!(chunks[n - 1].choices.is_empty());
        assert_eq!(
            chunks[n - 1].usage.as_ref().map(|u| u.prompt_tokens),
            Some(9)
        );
        assert!(chunks.iter().all(|c| c.id == chunks[0].id));
        // Without include_usage: no usage chunk.
        let r = response(&stored(), 1.0, true, false);
        assert!(!String::from_utf8_lossy(r.body()).contains("\"usage\""));
    }
}
