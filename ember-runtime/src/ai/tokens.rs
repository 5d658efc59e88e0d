//! Counting prompt tokens locally, with the model's BPE encoding.
//!
//! The tables ship inside the `tiktoken-rs` crate (nothing is downloaded at run time). Two
//! encodings are used:
//!
//! * `o200k_base`: `gpt-4o*`, `chatgpt-4o*`, `gpt-4.1*`, `gpt-4.5*`, `gpt-5*`, `o1*`,
//!   `o3*`, `o4*`, and **every model name not recognised** (a self-hosted or unknown model:
//!   the count is then an estimate, usually within ~10–20 % of the real tokenizer);
//! * `cl100k_base`: `gpt-4*` (before 4o), `gpt-3.5*`, `text-embedding-*`.
//!
//! A chat prompt is counted the way OpenAI's cookbook does: 3 tokens per message, plus the
//! tokens of its role, content (text parts of an array content; other parts count 0), name
//! (+1), tool calls and tool-call id as JSON text, plus 3 for the reply's priming; `tools`
//! count as their JSON text.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

use super::wire::{ChatRequest, Message};

/// A BPE encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `o200k_base` (GPT-4o and later; the default for unknown models).
    O200k,
    /// `cl100k_base` (GPT-4, GPT-3.5).
    Cl100k,
}

impl Encoding {
    /// The encoding of model `name` (a provider prefix such as `openai/` is ignored);
    /// unknown names get `o200k_base`.
    pub(crate) fn for_model(name: &str) -> Encoding {
        let name = name.rsplit('/').next().unwrap_or(name);
        const O200K: &[&str] = &[
            "gpt-4o",
            "chatgpt-4o",
            "gpt-4.1",
            "gpt-4.5",
            "gpt-5",
            "o1",
            "o3",
            "o4",
        ];
        const CL100K: &[&str] = &["gpt-4", "gpt-3.5", "gpt-35", "text-embedding-"];
        if O200K.iter().any(|p| name.starts_with(p)) {
            Encoding::O200k
        } else if CL100K.iter().any(|p| name.starts_with(p)) {
            Encoding::Cl100k
        } else {
            Encoding::O200k
        }
    }

    /// Its name.
    #[cfg_attr(not(test), allow(dead_code))] // the benchmark prints it
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::O200k => "o200k_base",
            Encoding::Cl100k => "cl100k_base",
        }
    }

    fn bpe(self) -> &'static CoreBPE {
        static O200K: OnceLock<CoreBPE> = OnceLock::new();
        static CL100K: OnceLock<CoreBPE> = OnceLock::new();
        match self {
            // The constructors only fail on a corrupt embedded table.
            Encoding::O200k => O200K.get_or_init(|| {
                tiktoken_rs::o200k_base().unwrap_or_else(|e| panic!("o200k_base table: {e}"))
            }),
            Encoding::Cl100k => CL100K.get_or_init(|| {
                tiktoken_rs::cl100k_base().unwrap_or_else(|e| panic!("cl100k_base table: {e}"))
            }),
        }
    }

    /// Loads the table now (it takes a moment), so the first request does not wait.
    pub(crate) fn warm(self) {
        let _ = self.bpe();
    }

    /// Tokens in `text` (special-token text counts as ordinary text).
    pub(crate) fn count(self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        self.bpe().encode_ordinary(text).len() as u64
    }

    /// Tokens of one message in a chat prompt (its 3-token frame included).
    pub(crate) fn message(self, m: &Message) -> u64 {
        let mut n = 3 + self.count(&m.role);
        match &m.content {
            Some(Value::String(s)) => n += self.count(s),
            Some(Value::Array(parts)) => {
                for p in parts {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        n += self.count(t);
                    }
                }
            }
            _ => {}
        }
        if let Some(name) = &m.name {
            n += 1 + self.count(name);
        }
        if let Some(calls) = &m.tool_calls {
            for c in calls {
                n += self.count(&c.to_string());
            }
        }
        if let Some(id) = &m.tool_call_id {
            n += self.count(id);
        }
        n
    }

    /// Tokens of a whole chat prompt: its messages, its tools, the reply's priming.
    pub(crate) fn prompt(self, chat: &ChatRequest) -> u64 {
        let mut n = 3;
        for m in &chat.messages {
            n += self.message(m);
        }
        if let Some(tools) = &chat.tools {
            for t in tools {
                n += self.count(&t.to_string());
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_map_to_their_encodings_and_unknown_ones_to_o200k() {
        assert_eq!(Encoding::for_model("gpt-4o-mini"), Encoding::O200k);
        assert_eq!(Encoding::for_model("openai/gpt-4.1"), Encoding::O200k);
        assert_eq!(Encoding::for_model("o3-mini"), Encoding::O200k);
        assert_eq!(Encoding::for_model("gpt-4-turbo"), Encoding::Cl100k);
        assert_eq!(Encoding::for_model("gpt-3.5-turbo"), Encoding::Cl100k);
        assert_eq!(Encoding::for_model("llama-3-70b"), Encoding::O200k);
    }

    #[test]
    fn counts_match_the_published_tokenizers() {
        // Reference counts from OpenAI's tiktoken.
        assert_eq!(Encoding::Cl100k.count("hello world"), 2);
        assert_eq!(Encoding::O200k.count("hello world"), 2);
        assert_eq!(Encoding::Cl100k.count("tiktoken is great!"), 6);
        // The cookbook's frame: 3 per message + role + content, + 3 for the reply.
        let chat = ChatRequest::new("gpt-4o", vec![Message::user("hello world")]);
        assert_eq!(Encoding::O200k.prompt(&chat), 3 + 3 + 1 + 2);
    }
}
