//! Watches an answer the gateway relays and reports what it said once it ends.
//!
//! Conversation context records the assistant's turn, token limits settle the reservation
//! against the reported usage, the semantic cache stores the answer: all of them need the
//! same summary of an answer, whether it came as one JSON body or as a stream of SSE
//! events, and whether the stream ran to `[DONE]`, failed upstream, or lost its client.
//! A [`Tap`] collects that summary on the side of the relay (the bytes relayed are not
//! touched) and hands one [`Finished`] to each sink, once. A tap without sinks parses
//! nothing.

use serde::Deserialize;

use super::events;
use super::wire::Usage;

/// What an answer said, reported once when it ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Finished {
    /// The first choice's text (the deltas joined, for a stream).
    pub content: String,
    /// The first choice's `finish_reason`, when the answer gave one.
    pub finish_reason: Option<String>,
    /// The usage the upstream reported, when it did (a stream reports it only with
    /// `stream_options.include_usage`).
    pub usage: Option<Usage>,
    /// The answer did not end normally: the client went away, or the upstream failed
    /// after the first token, before `[DONE]`.
    pub partial: bool,
    /// The answer was a stream.
    pub stream: bool,
}

/// Something that wants the summary of an answer.
pub(crate) type Sink = Box<dyn FnOnce(&Finished)>;

/// The summary of one answer in the making, and who gets it.
pub(crate) struct Tap {
    sinks: Vec<Sink>,
    got: Finished,
    /// `data: [DONE]` was seen.
    done: bool,
    /// The sinks were called.
    reported: bool,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("sinks", &self.sinks.len())
            .field("got", &self.got)
            .field("done", &self.done)
            .field("reported", &self.reported)
            .finish()
    }
}

/// The parts of a `chat.completion` body a tap reads.
#[derive(Deserialize)]
struct FullBody<'a> {
    #[serde(default, borrow)]
    choices: Vec<FullChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct FullChoice<'a> {
    #[serde(default, borrow)]
    message: Option<Text<'a>>,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// The parts of a `chat.completion.chunk` a tap reads.
#[derive(Deserialize)]
struct ChunkBody<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    delta: Option<Text<'a>>,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// A message or delta's `content` (text only: array content parts are not collected).
#[derive(Deserialize)]
struct Text<'a> {
    #[serde(default, borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
}

impl Tap {
    /// A tap for an answer that is (`stream`) or is not a stream.
    pub(crate) fn new(stream: bool) -> Tap {
        Tap {
            sinks: Vec::new(),
            got: Finished {
                stream,
                ..Finished::default()
            },
            done: false,
            reported: false,
        }
    }

    /// Adds a sink: it is called once, when the answer ends.
    pub(crate) fn on_finish(&mut self, sink: impl FnOnce(&Finished) + 'static) {
        self.sinks.push(Box::new(sink));
    }

    /// Whether nobody listens (then nothing is parsed).
    pub(crate) fn is_idle(&self) -> bool {
        self.sinks.is_empty()
    }

    /// A whole `chat.completion` body: reads it and reports at once.
    pub(crate) fn full(&mut self, body: &[u8]) {
        if !self.is_idle()
            && let Ok(full) = serde_json::from_slice::<FullBody<'_>>(body)
        {
            if let Some(first) = full.choices.into_iter().next() {
                if let Some(text) = first.message.and_then(|m| m.content) {
                    self.got.content.push_str(&text);
                }
                self.got.finish_reason = first.finish_reason;
            }
            self.got.usage = full.usage;
        }
        self.done = true;
        self.finish(false);
    }

    /// One SSE event of a stream, as relayed (the raw bytes of the event).
    pub(crate) fn event(&mut self, event: &[u8]) {
        if self.is_idle() || self.reported {
            return;
        }
        let Some(data) = events::data(event) else {
            return;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.done = true;
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<ChunkBody<'_>>(data) else {
            return;
        };
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.and_then(|d| d.content) {
                self.got.content.push_str(&text);
            }
            if choice.finish_reason.is_some() {
                self.got.finish_reason = choice.finish_reason;
            }
        }
        if chunk.usage.is_some() {
            self.got.usage = chunk.usage;
        }
    }

    /// The stream ended: normally (`[DONE]` seen) or not.
    pub(crate) fn end(&mut self) {
        let partial = !self.done;
        self.finish(partial);
    }

    fn finish(&mut self, partial: bool) {
        if self.reported {
            return;
        }
        self.reported = true;
        self.got.partial = partial;
        for sink in std::mem::take(&mut self.sinks) {
            sink(&self.got);
        }
    }
}

impl Drop for Tap {
    /// A tap dropped before its answer ended (the client went away): reports what came so
    /// far, marked partial.
    fn drop(&mut self) {
        self.finish(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn watched(stream: bool) -> (Tap, Rc<RefCell<Vec<Finished>>>) {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut tap = Tap::new(stream);
        let s = seen.clone();
        tap.on_finish(move |f| s.borrow_mut().push(f.clone()));
        (tap, seen)
    }

    fn chunk(text: &str) -> Vec<u8> {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
            serde_json::to_string(text).unwrap()
        )
        .into_bytes()
    }

    #[test]
    fn a_full_body_is_read_and_reported_once() {
        let (mut tap, seen) = watched(false);
        tap.full(br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#);
        drop(tap);
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].content, "Hi there");
        assert_eq!(seen[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(seen[0].usage.as_ref().map(|u| u.total_tokens), Some(9));
        assert!(!seen[0].partial && !seen[0].stream);
    }

    #[test]
    fn a_stream_joins_its_deltas_and_takes_the_usage_chunk() {
        let (mut tap, seen) = watched(true);
        tap.event(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
        tap.event(&chunk("Hel"));
        tap.event(&chunk("lo \"you\"\n"));
        tap.event(b": keep-alive\n\n");
        tap.event(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        );
        tap.event(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n");
        tap.event(b"data: [DONE]\n\n");
        tap.end();
        drop(tap);
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].content, "Hello \"you\"\n");
        assert_eq!(seen[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(seen[0].usage.as_ref().map(|u| u.completion_tokens), Some(4));
        assert!(!seen[0].partial && seen[0].stream);
    }

    #[test]
    fn a_stream_cut_short_is_partial() {
        // Ended without [DONE] (an upstream failure after the first token).
        let (mut tap, seen) = watched(true);
        tap.event(&chunk("half"));
        tap.end();
        assert!(seen.borrow()[0].partial);
        // Dropped mid-stream (the client went away).
        let (mut tap, seen) = watched(true);
        tap.event(&chunk("so far"));
        drop(tap);
        let seen = seen.borrow();
        assert_eq!(
            (seen[0].content.as_str(), seen[0].partial),
            ("so far", true)
        );
    }

    #[test]
    fn an_idle_tap_parses_nothing() {
        let mut tap = Tap::new(true);
        assert!(tap.is_idle());
        tap.event(&chunk("ignored"));
        assert!(tap.got.content.is_empty());
    }
}
