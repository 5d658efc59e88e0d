//! Conversation context: the gateway remembers a conversation's turns, keyed by a
//! conversation id, and prepends them when a client sends only its new turn.
//!
//! * The id comes from a header (`X-Conversation-Id`) or a top-level body field (removed
//!   before the request is forwarded). A request without one is forwarded as it is.
//! * **Full history or new turn?** Let `H` be the stored turns (everything but the system
//!   prompt). If `H` is empty, or the request's non-system messages contain `H` as a
//!   contiguous run (compared by role, content and name), the client sent its history:
//!   the request is forwarded as it is, and what follows the last such run is recorded as
//!   new. Otherwise the client sent only new turns: the request goes upstream as
//!   `system + H + its messages` (its own leading system message, if any, replacing and
//!   updating the stored one).
//! * The new turns and the assistant's answer are recorded together when the answer ends
//!   (a stream cut short — the client gone, or the upstream failing — records what was
//!   generated, marked partial). A failed call records nothing.
//! * Caps: at most `max_messages` turns and `max_tokens` tokens of turns (the system
//!   prompt is kept and not counted); the oldest turns go first, and a history always
//!   starts with a user turn. Conversations expire `ttl` after their last update.
//! * Stores: memory (shared by the workers, at most [`memory::MAX_CONVERSATIONS`]) or
//!   Redis (shared by instances; one Lua script appends and trims atomically). A Redis
//!   failure is a context miss (logged by the registry), never an error to the client.

mod conversation;
mod memory;
mod redis;

pub use conversation::{Conversation, conversation, save_conversation};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::store::{RedisAt, StoreSpec};
use super::tokens::Encoding;
use super::wire::{ChatRequest, Message};
use crate::http::request::Request;

/// Where the conversation id comes from.
#[derive(Debug, Clone, Copy)]
pub enum IdSource {
    /// A request header.
    Header(&'static str),
    /// A top-level field of the JSON body (removed before forwarding).
    Body(&'static str),
}

/// `ai.context` as compiled.
#[derive(Debug, Clone, Copy)]
pub struct ContextSpec {
    /// Where the id is read.
    pub id: IdSource,
    /// Where conversations live.
    pub store: StoreSpec,
    /// How long a conversation lives after its last update.
    pub ttl: Duration,
    /// The most turns kept.
    pub max_messages: u32,
    /// The most tokens of turns kept.
    pub max_tokens: u32,
}

/// One stored message. Serialized with `t` first (the Redis script reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Its tokens.
    pub(crate) t: u64,
    /// The message.
    pub(crate) m: Message,
    /// An answer cut short.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) p: bool,
}

/// A conversation as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct History {
    /// The system prompt, if one was sent.
    pub(crate) system: Option<Entry>,
    /// The turns, oldest first.
    pub(crate) turns: Vec<Entry>,
}

/// The context at run time.
#[derive(Debug)]
pub(crate) struct Context {
    spec: &'static ContextSpec,
    memory: memory::Conversations,
    redis: Option<RedisAt>,
}

/// What a request adds to its conversation once the answer is known.
#[derive(Debug)]
pub(crate) struct Pending {
    id: String,
    /// A new system prompt to store.
    system: Option<Entry>,
    /// The client's new turns.
    turns: Vec<Entry>,
    enc: Encoding,
}

fn same(a: &Message, b: &Message) -> bool {
    a.role == b.role && a.content == b.content && a.name == b.name
}

fn is_system(m: &Message) -> bool {
    m.role == "system" || m.role == "developer"
}

/// Merges the stored history into the client's messages (see the module's docs): the
/// messages to forward, the new turns, and a new system prompt (if the client's differs).
pub(crate) fn merge(
    stored: &History,
    msgs: Vec<Message>,
) -> (Vec<Message>, Vec<Message>, Option<Message>) {
    let lead = msgs.iter().take_while(|m| is_system(m)).count();
    let sys = msgs[..lead].first().cloned();
    let new_sys = sys.filter(|s| stored.system.as_ref().is_none_or(|e| !same(&e.m, s)));
    let rest = &msgs[lead..];
    let h = &stored.turns;
    if h.is_empty() {
        let turns = rest.to_vec();
        return (msgs, turns, new_sys);
    }
    let k = h.len();
    let found = (0..rest.len().saturating_sub(k - 1))
        .rev()
        .find(|&i| rest[i..i + k].iter().zip(h).all(|(a, e)| same(a, &e.m)));
    if let Some(i) = found {
        let turns = rest[i + k..].to_vec();
        return (msgs, turns, new_sys);
    }
    let mut out = Vec::with_capacity(msgs.len() + k + 1);
    if lead > 0 {
        out.extend_from_slice(&msgs[..lead]);
    } else if let Some(s) = &stored.system {
        out.push(s.m.clone());
    }
    out.extend(h.iter().map(|e| e.m.clone()));
    let turns = rest.to_vec();
    out.extend(msgs.into_iter().skip(lead));
    (out, turns, new_sys)
}

/// Drops the oldest turns until at most `max_messages` and `max_tokens` remain, then any
/// leading turn that is not a user's.
pub(crate) fn trim(turns: &mut Vec<Entry>, max_messages: usize, max_tokens: u64) {
    let mut total: u64 = turns.iter().map(|e| e.t).sum();
    let mut cut = 0;
    while cut < turns.len() && (turns.len() - cut > max_messages || total > max_tokens) {
        total -= turns[cut].t;
        cut += 1;
    }
    while cut < turns.len() && turns[cut].m.role != "user" {
        cut += 1;
    }
    turns.drain(..cut);
}

impl Context {
    /// The context of `spec`.
    pub(crate) fn resolve(spec: &'static ContextSpec) -> Context {
        let redis = match &spec.store {
            StoreSpec::Memory => None,
            StoreSpec::Redis(r) => Some(RedisAt::resolve(r, "ai.context")),
        };
        Context {
            spec,
            memory: memory::Conversations::new(),
            redis,
        }
    }

    /// The conversation id of a request (taking a body field out of `chat`).
    pub(crate) fn id(&self, req: &Request<'_>, chat: &mut ChatRequest) -> Option<String> {
        let id = match self.spec.id {
            IdSource::Header(h) => req.header_str(h).map(str::to_owned),
            IdSource::Body(f) => match chat.extra.remove(f) {
                Some(serde_json::Value::String(s)) => Some(s),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            },
        };
        id.map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s.len() <= 256)
    }

    /// The conversation id of a request for a user AI handler (a body field is read
    /// from the JSON body, which stays as it is).
    pub(crate) fn id_of(&self, req: &Request<'_>) -> Option<String> {
        let id = match self.spec.id {
            IdSource::Header(h) => req.header_str(h).map(str::to_owned),
            IdSource::Body(f) => {
                match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(
                    req.body(),
                )
                .ok()?
                .remove(f)?
                {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            }
        };
        id.map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s.len() <= 256)
    }

    /// The stored history of `id` (empty when there is none or the store failed).
    pub(crate) async fn load(&self, id: &str) -> History {
        match &self.redis {
            None => self.memory.load(id),
            Some(r) => redis::load(r, id).await.unwrap_or_default(),
        }
    }

    /// Prepends the history of conversation `id` to `chat` when the client sent only new
    /// turns; what to record when the answer ends.
    pub(crate) async fn prepare(
        &self,
        id: String,
        chat: &mut ChatRequest,
        enc: Encoding,
    ) -> Pending {
        let stored = self.load(&id).await;
        let msgs = std::mem::take(&mut chat.messages);
        let (forward, turns, system) = merge(&stored, msgs);
        chat.messages = forward;
        let entry = |m: Message| Entry {
            t: enc.message(&m),
            m,
            p: false,
        };
        Pending {
            id,
            system: system.map(entry),
            turns: turns.into_iter().map(entry).collect(),
            enc,
        }
    }

    /// Appends entries (and a new system prompt) to conversation `id`, trimmed.
    pub(crate) async fn append(&self, id: &str, system: Option<Entry>, turns: Vec<Entry>) {
        let max_m = self.spec.max_messages as usize;
        let max_t = u64::from(self.spec.max_tokens);
        let ttl = self.spec.ttl;
        match &self.redis {
            None => self.memory.append(id, system, turns, max_m, max_t, ttl),
            Some(r) => {
                let _ = redis::append(r, id, system, turns, max_m, max_t, ttl).await;
            }
        }
    }

    /// Forgets conversation `id`.
    pub(crate) async fn clear(&self, id: &str) {
        match &self.redis {
            None => self.memory.clear(id),
            Some(r) => {
                let _ = redis::clear(r, id).await;
            }
        }
    }

    /// Records the new turns and the answer (`content`, `partial`) of a finished request.
    pub(crate) fn record(&'static self, pending: Pending, content: &str, partial: bool) {
        let Pending {
            id,
            system,
            mut turns,
            enc,
        } = pending;
        if !content.is_empty() || !partial {
            let m = Message::assistant(content);
            turns.push(Entry {
                t: enc.message(&m),
                m,
                p: partial,
            });
        }
        if self.redis.is_none() {
            self.memory.append(
                &id,
                system,
                turns,
                self.spec.max_messages as usize,
                u64::from(self.spec.max_tokens),
                self.spec.ttl,
            );
        } else if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::spawn_local(async move { self.append(&id, system, turns).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(m: Message) -> Entry {
        Entry { t: 5, m, p: false }
    }

    fn stored() -> History {
        History {
            system: Some(e(Message::system("be brief"))),
            turns: vec![e(Message::user("hi")), e(Message::assistant("hello"))],
        }
    }

    #[test]
    fn a_new_turn_gets_the_history_prepended() {
        let (fwd, turns, sys) = merge(&stored(), vec![Message::user("how are you")]);
        let texts: Vec<_> = fwd.iter().map(|m| m.text().unwrap_or("")).collect();
        assert_eq!(texts, ["be brief", "hi", "hello", "how are you"]);
        assert_eq!(turns, vec![Message::user("how are you")]);
        assert!(sys.is_none());
    }

    #[test]
    fn a_full_history_is_not_duplicated() {
        let msgs = vec![
            Message::system("be brief"),
            Message::user("hi"),
            Message::assistant("hello"),
            Message::user("and now"),
        ];
        let (fwd, turns, sys) = merge(&stored(), msgs.clone());
        assert_eq!(fwd, msgs);
        assert_eq!(turns, vec![Message::user("and now")]);
        assert!(sys.is_none());
        // A client that kept more than the (trimmed) store still matches.
        let mut longer = vec![Message::user("older"), Message::assistant("reply")];
        longer.extend(msgs[1..].iter().cloned());
        let (fwd, turns, _) = merge(&stored(), longer.clone());
        assert_eq!((fwd, turns), (longer, vec![Message::user("and now")]));
    }

    #[test]
    fn a_new_system_prompt_replaces_the_stored_one() {
        let (fwd, _, sys) = merge(
            &stored(),
            vec![Message::system("be verbose"), Message::user("x")],
        );
        assert_eq!(fwd[0].text(), Some("be verbose"));
        assert_eq!(fwd.len(), 4);
        assert_eq!(sys, Some(Message::system("be verbose")));
    }

    #[test]
    fn trimming_drops_the_oldest_turns_and_starts_with_a_user_turn() {
        let mut t: Vec<Entry> = ["u1", "a1", "u2", "a2", "u3"]
            .iter()
            .map(|s| {
                e(if s.starts_with('u') {
                    Message::user(*s)
                } else {
                    Message::assistant(*s)
                })
            })
            .collect();
        trim(&mut t, 4, 1000);
        assert_eq!(t[0].m.text(), Some("u2"));
        trim(&mut t, 10, 12);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].m.text(), Some("u3"));
    }
}
