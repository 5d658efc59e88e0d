//! [`Conversation`]: what a user AI handler declared with `conversation: true` gets — the
//! stored history of the request's conversation, and changes saved after the handler.

use super::{Context, Entry};
use crate::ai::model::{Ai, Model};
use crate::ai::tokens::Encoding;
use crate::ai::wire::Message;
use crate::http::request::Request;

/// A conversation of `ai.context`, as a user AI handler sees it (`&mut Conversation`):
/// its history (system prompt first, then the turns, oldest first), to which the handler
/// adds messages; the additions (or a [`clear`](Conversation::clear)) are saved when the
/// handler returns. A request without a conversation id gets an empty conversation that
/// is not saved.
///
/// ```ignore
/// use ember_runtime::ai::{AiError, ChatRequest, Conversation, Message, Model};
///
/// pub async fn remember(chat: ChatRequest, model: &'static Model, conv: &mut Conversation)
///     -> Result<String, AiError> {
///     let mut req = chat.clone();
///     req.messages = conv.history().to_vec();
///     req.messages.extend(chat.messages.iter().cloned());
///     let answer = model.complete(req).await?;
///     let text = answer.text().unwrap_or("").to_owned();
///     for m in chat.messages { conv.add_message(m); }
///     conv.add_message(Message::assistant(text.clone()));
///     Ok(text)
/// }
/// ```
#[derive(Debug)]
pub struct Conversation {
    ctx: Option<&'static Context>,
    id: Option<String>,
    history: Vec<Message>,
    added: Vec<Message>,
    cleared: bool,
    enc: Encoding,
}

impl Conversation {
    /// The conversation id the request named, if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The messages so far: the stored system prompt and turns, then what was added.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// Adds a message (a user turn, the assistant's answer, or a system prompt, which
    /// replaces the stored one); saved when the handler returns.
    pub fn add_message(&mut self, message: Message) {
        self.history.push(message.clone());
        self.added.push(message);
    }

    /// Forgets the stored conversation (and what was added so far); saved when the
    /// handler returns.
    pub fn clear(&mut self) {
        self.history.clear();
        self.added.clear();
        self.cleared = true;
    }
}

/// Loads the conversation of `req` for a user AI handler of `model`.
pub async fn conversation(
    ai: &'static Ai,
    req: &Request<'_>,
    model: &'static Model,
) -> Conversation {
    let ctx = ai.context.as_ref();
    let id = ctx.and_then(|c| c.id_of(req));
    let mut history = Vec::new();
    if let (Some(c), Some(id)) = (ctx, &id) {
        let h = c.load(id).await;
        history.extend(h.system.map(|e| e.m));
        history.extend(h.turns.into_iter().map(|e| e.m));
    }
    Conversation {
        ctx,
        id,
        history,
        added: Vec::new(),
        cleared: false,
        enc: model.enc,
    }
}

/// Saves what a handler changed in its conversation.
pub async fn save_conversation(conv: Conversation) {
    let (Some(ctx), Some(id)) = (conv.ctx, conv.id.as_deref()) else {
        return;
    };
    if conv.cleared {
        ctx.clear(id).await;
    }
    if conv.added.is_empty() {
        return;
    }
    let mut system = None;
    let mut turns = Vec::new();
    for m in conv.added {
        let e = Entry {
            t: conv.enc.message(&m),
            m,
            p: false,
        };
        if e.m.role == "system" || e.m.role == "developer" {
            system = Some(e);
        } else {
            turns.push(e);
        }
    }
    ctx.append(id, system, turns).await;
}
