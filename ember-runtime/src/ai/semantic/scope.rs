//! Which requests are cached, the scope they are looked up in, and the text that is
//! embedded.
//!
//! * Cached: requests to a model with `semantic_cache:` whose `temperature` is `0` (or any
//!   temperature when the model says `any_temperature: true`), asking for one choice
//!   (`n` absent or 1), whose last message is the user's, with text.
//! * Embedded: the text of that last user message.
//! * Scope: a SHA-256 of everything else that shapes the answer — the model's name, every
//!   earlier message (the system prompt, prior turns), `tools`, `tool_choice`, the sampling
//!   parameters (`temperature`, `top_p`, `max_tokens`, `max_completion_tokens`,
//!   `response_format`, `seed`, `stop`, penalties, …: every other field except `stream`,
//!   `stream_options`, `user`, `metadata` and `store`). Two requests only ever share
//!   answers when all of that is equal; the scope is the same in every process, so
//!   instances sharing Redis share entries.

use sha2::{Digest, Sha256};

use super::spec::ModelCache;
use crate::ai::wire::{ChatRequest, Message};

/// Fields that do not change the answer (left out of the scope).
const NOT_SCOPED: &[&str] = &["user", "metadata", "store", "stream", "stream_options"];

/// A cacheable request's scope and the text to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    /// The scope's hash.
    pub(crate) scope: u64,
    /// The last user message's text.
    pub(crate) text: String,
}

/// The key of `req` for a model cached with `m`, or `None` when it is not cached.
pub(crate) fn key(req: &ChatRequest, m: &ModelCache) -> Option<Key> {
    let temp_ok = m.any_temperature || req.temperature == Some(0.0);
    let one = req
        .extra
        .get("n")
        .is_none_or(|n| n.is_null() || n.as_u64() == Some(1));
    if !temp_ok || !one {
        return None;
    }
    let (last, earlier) = req.messages.split_last()?;
    if last.role != "user" {
        return None;
    }
    let text = text_of(last)?;
    if text.trim().is_empty() {
        return None;
    }
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value);
    };
    field("model", req.model.as_bytes());
    for msg in earlier {
        field("message", &serde_json::to_vec(msg).ok()?);
    }
    field("tools", &canon(&req.tools));
    field("tool_choice", &canon(&req.tool_choice));
    field("temperature", &canon(&req.temperature));
    field("max_tokens", &canon(&req.max_tokens));
    field("max_completion_tokens", &canon(&req.max_completion_tokens));
    let mut extra: Vec<(&String, &serde_json::Value)> = req
        .extra
        .iter()
        .filter(|(k, _)| !NOT_SCOPED.contains(&k.as_str()))
        .collect();
    extra.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in extra {
        field(k, &canon(v));
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Some(Key {
        scope: u64::from_le_bytes(first),
        text,
    })
}

/// A message's text: its string content, or its text parts joined by newlines.
fn text_of(m: &Message) -> Option<String> {
    match m.content.as_ref()? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(parts) => {
            let mut out = String::new();
            for p in parts {
                // Anything but text (an image, audio) makes the request uncacheable.
                if p.get("type").and_then(|t| t.as_str()) != Some("text") {
                    return None;
                }
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(p.get("text")?.as_str()?);
            }
            Some(out)
        }
        _ => None,
    }
}

/// Any field the scope hashes as canonical JSON (a `Value` round trip sorts object keys:
/// serde_json's default map is ordered).
fn canon<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_value(v)
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const M: ModelCache = ModelCache {
        model: "m",
        threshold: 0.9,
        any_temperature: false,
    };

    fn req(v: serde_json::Value) -> ChatRequest {
        serde_json::from_value(v).expect("a chat request")
    }

    fn base() -> serde_json::Value {
        json!({"model": "m", "temperature": 0, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"}
        ]})
    }

    #[test]
    fn only_temperature_zero_single_choice_user_turns_are_cached() {
        let k = key(&req(base()), &M).expect("cached");
        assert_eq!(k.text, "What is the capital of France?");
        let mut warm = base();
        warm["temperature"] = json!(0.7);
        assert!(key(&req(warm.clone()), &M).is_none());
        let any = ModelCache {
            any_temperature: true,
            ..M
        };
        assert!(key(&req(warm), &any).is_some());
        let mut unset = base();
        unset.as_object_mut().map(|o| o.remove("temperature"));
        assert!(
            key(&req(unset), &M).is_none(),
            "the default temperature is not 0"
        );
        let mut n = base();
        n["n"] = json!(2);
        assert!(key(&req(n), &M).is_none());
        let mut tool = base();
        tool["messages"] = json!([{"role": "tool", "content": "42", "tool_call_id": "c"}]);
        assert!(key(&req(tool), &M).is_none());
        let mut image = base();
        image["messages"][1]["content"] =
            json!([{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]);
        assert!(key(&req(image), &M).is_none());
    }

    #[test]
    fn the_scope_follows_what_shapes_the_answer() {
        let scope = |v: serde_json::Value| key(&req(v), &M).expect("cached").scope;
        let s = scope(base());
        let mut streamed = base();
        streamed["stream"] = json!(true);
        streamed["stream_options"] = json!({"include_usage": true});
        streamed["user"] = json!("alice");
        streamed["messages"][1]["content"] = json!("something else entirely");
        assert_eq!(
            scope(streamed),
            s,
            "the last user turn and stream flags are not scoped"
        );
        for (field, value) in [
            ("model", json!("other")),
            ("max_tokens", json!(5)),
            ("top_p", json!(0.5)),
            (
                "tools",
                json!([{"type": "function", "function": {"name": "f"}}]),
            ),
            ("response_format", json!({"type": "json_object"})),
        ] {
            let mut v = base();
            v[field] = value;
            assert_ne!(scope(v), s, "{field}");
        }
        let mut system = base();
        system["messages"][0]["content"] = json!("Be verbose.");
        assert_ne!(scope(system), s, "another system prompt");
        let mut order = base();
        order["response_format"] = json!({"type": "json_schema", "a": 1, "b": 2});
        let mut order2 = base();
        order2["response_format"] = json!({"b": 2, "a": 1, "type": "json_schema"});
        assert_eq!(scope(order), scope(order2), "key order does not matter");
    }
}
