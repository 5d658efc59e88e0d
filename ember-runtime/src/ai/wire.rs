//! OpenAI's chat-completions wire types: the request body, the `chat.completion` answer and
//! the `chat.completion.chunk` stream events. Each keeps the fields it does not name in
//! `extra`, so what a client or an upstream sends passes through verbatim.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of `POST /v1/chat/completions`.
///
/// ```
/// use ember_runtime::ai::{ChatRequest, Message};
///
/// let req: ChatRequest = serde_json::from_str(
///     r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":7}"#,
/// ).unwrap();
/// assert_eq!(req.messages[0].text(), Some("hi"));
/// assert_eq!(req.extra["seed"], 7); // unknown fields are kept
/// let mine = ChatRequest::new("m", vec![Message::system("be brief"), Message::user("hi")]);
/// assert!(!mine.stream);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model the client asks for (the gateway replaces it with the upstream's). May be
    /// absent in a user AI route's body (the route names the model).
    #[serde(default)]
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Whether to answer with a stream of `chat.completion.chunk` events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Stream options (`include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// The most tokens to generate (legacy name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The most tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Tool (function) definitions, passed through as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    /// How the model may call tools, passed through as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request for `model` with `messages` and nothing else set.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            ..ChatRequest::default()
        }
    }
}

/// `stream_options` of a chat request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Ask for a last chunk carrying the token usage.
    #[serde(default)]
    pub include_usage: bool,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One message of a conversation (a request's `messages`, or a completion's `message`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    #[serde(default)]
    pub role: String,
    /// A string, an array of content parts, or absent (an assistant message with tool calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// An optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tool calls of an assistant message, passed through as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    fn with_role(role: &str, text: impl Into<String>) -> Self {
        Message {
            role: role.to_owned(),
            content: Some(Value::String(text.into())),
            ..Message::default()
        }
    }

    /// A `system` message.
    pub fn system(text: impl Into<String>) -> Self {
        Message::with_role("system", text)
    }

    /// A `user` message.
    pub fn user(text: impl Into<String>) -> Self {
        Message::with_role("user", text)
    }

    /// An `assistant` message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Message::with_role("assistant", text)
    }

    /// The content when it is a plain string.
    pub fn text(&self) -> Option<&str> {
        self.content.as_ref().and_then(Value::as_str)
    }
}

/// A `chat.completion` object: the answer to a non-streaming request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The completion's id.
    #[serde(default)]
    pub id: String,
    /// `chat.completion`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered (the upstream's name for it).
    #[serde(default)]
    pub model: String,
    /// The choices (one unless `n` was set).
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Completion {
    /// The first choice's text, if it has one.
    pub fn text(&self) -> Option<&str> {
        self.choices.first().and_then(|c| c.message.text())
    }
}

/// One choice of a [`Completion`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Its position.
    #[serde(default)]
    pub index: u32,
    /// The assistant's message.
    #[serde(default)]
    pub message: Message,
    /// `stop`, `length`, `tool_calls`, `content_filter`, …
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Every other field (`logprobs`, …), verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Token usage of a completion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
    /// Every other field (token details), verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `chat.completion.chunk` object: one event of a streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// The completion's id (the same in every chunk).
    #[serde(default)]
    pub id: String,
    /// `chat.completion.chunk`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds (the same in every chunk).
    #[serde(default)]
    pub created: u64,
    /// The model that answers.
    #[serde(default)]
    pub model: String,
    /// The deltas (empty in the usage chunk).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Token usage (the last chunk, with `stream_options.include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Chunk {
    /// The first choice's content delta, if it has one.
    pub fn text(&self) -> Option<&str> {
        self.choices
            .first()
            .and_then(|c| c.delta.content.as_deref())
    }
}

/// One choice of a [`Chunk`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Its position.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What one chunk adds to a choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The role (first chunk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// More text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool-call fragments keyed by `index`, passed through as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
