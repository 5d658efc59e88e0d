//! One server-sent event and its encoding (sans-IO: bytes in a buffer).

use std::borrow::Cow;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

/// One server-sent event: data, and optionally an event type, an id, a reconnection delay
/// and a comment.
///
/// Fields are kept as given and encoded once, when the event is sent, in this order:
/// comment, `event`, `id`, `retry`, `data`, then the blank line that dispatches it. Text
/// with line breaks (LF, CR or CRLF) becomes one line per line: one `data:` line each for
/// data (the client joins them with `\n` again), one `:` line each for a comment.
///
/// ```
/// use std::time::Duration;
/// use ember_runtime::Event;
///
/// let e = Event::data("first\nsecond").event("update").id("42");
/// assert_eq!(e.to_bytes(), "event: update\nid: 42\ndata: first\ndata: second\n\n");
///
/// let e = Event::json(&serde_json::json!({ "n": 1 }))?.retry(Duration::from_secs(3));
/// assert_eq!(e.to_bytes(), "retry: 3000\ndata: {\"n\":1}\n\n");
///
/// assert_eq!(Event::comment("ping").to_bytes(), ": ping\n\n");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    comment: Option<Cow<'static, str>>,
    event: Option<Cow<'static, str>>,
    id: Option<Cow<'static, str>>,
    retry: Option<Duration>,
    data: Option<Cow<'static, str>>,
}

impl Event {
    /// An event carrying `text` as its data (`data:` lines; a client's `onmessage` gets it
    /// unless [`Event::event`] names another type).
    pub fn data(text: impl Into<Cow<'static, str>>) -> Event {
        Event {
            data: Some(text.into()),
            ..Event::default()
        }
    }

    /// An event whose data is `value` serialized as JSON (compact: one `data:` line).
    ///
    /// A value serde cannot serialize (a map with non-string keys, a failing `Serialize`
    /// impl) is an error, never a panic.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Event, serde_json::Error> {
        serde_json::to_string(value).map(Event::data)
    }

    /// A comment (`: text` lines): clients ignore it; it keeps idle connections open
    /// through proxies and is handy for debugging.
    pub fn comment(text: impl Into<Cow<'static, str>>) -> Event {
        Event {
            comment: Some(text.into()),
            ..Event::default()
        }
    }

    /// Sets the event type (`event:`): a browser's `EventSource` dispatches it to
    /// listeners of that name instead of `onmessage`.
    ///
    /// A name containing CR or LF could forge other fields, so it is refused: the event
    /// keeps its previous type (if any) and a warning is logged.
    pub fn event(mut self, name: impl Into<Cow<'static, str>>) -> Event {
        let name = name.into();
        if is_field_value(&name) {
            self.event = Some(name);
        } else {
            tracing::warn!("SSE event type with a line break or NUL refused: {name:?}");
        }
        self
    }

    /// Sets the event id (`id:`): the client remembers it and sends it back as
    /// `Last-Event-ID` when it reconnects (see `Request::last_event_id`).
    ///
    /// An id containing CR, LF or NUL (which clients ignore) is refused like a bad
    /// [`Event::event`] name.
    pub fn id(mut self, id: impl Into<Cow<'static, str>>) -> Event {
        let id = id.into();
        if is_field_value(&id) {
            self.id = Some(id);
        } else {
            tracing::warn!("SSE event id with a line break or NUL refused: {id:?}");
        }
        self
    }

    /// Sets how long the client waits before reconnecting after the stream ends or breaks
    /// (`retry:`, in whole milliseconds).
    pub fn retry(mut self, delay: Duration) -> Event {
        self.retry = Some(delay);
        self
    }

    /// The encoded event, as sent on the wire.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }

    /// Bytes this event will take encoded, near enough to reserve room once.
    pub(crate) fn size_hint(&self) -> usize {
        let len = |f: &Option<Cow<'static, str>>| f.as_deref().map_or(0, str::len);
        len(&self.comment) + len(&self.event) + len(&self.id) + len(&self.data) + 48
    }

    /// Appends the encoded event to `out`.
    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.size_hint());
        if let Some(comment) = &self.comment {
            lines(out, b": ", comment);
        }
        if let Some(event) = &self.event {
            line(out, b"event: ", event.as_bytes());
        }
        if let Some(id) = &self.id {
            line(out, b"id: ", id.as_bytes());
        }
        if let Some(retry) = self.retry {
            let mut ms = itoa::Buffer::new();
            line(out, b"retry: ", ms.format(retry.as_millis()).as_bytes());
        }
        if let Some(data) = &self.data {
            lines(out, b"data: ", data);
        }
        out.put_u8(b'\n');
    }
}

/// Whether `s` can be a single-line field value (no line break, no NUL).
fn is_field_value(s: &str) -> bool {
    !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// One `prefix value\n` line.
fn line(out: &mut BytesMut, prefix: &[u8], value: &[u8]) {
    out.put_slice(prefix);
    out.put_slice(value);
    out.put_u8(b'\n');
}

/// One `prefix line\n` per line of `text`, split at LF, CR and CRLF.
fn lines(out: &mut BytesMut, prefix: &[u8], text: &str) {
    let mut rest = text.as_bytes();
    while let Some(i) = rest.iter().position(|&b| b == b'\r' || b == b'\n') {
        line(out, prefix, &rest[..i]);
        let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[i + skip..];
    }
    line(out, prefix, rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(e: &Event) -> String {
        String::from_utf8(e.to_bytes().to_vec()).expect("utf8")
    }

    #[test]
    fn data_lines_split_at_every_kind_of_line_break() {
        assert_eq!(wire(&Event::data("one")), "data: one\n\n");
        assert_eq!(
            wire(&Event::data("a\nb\r\nc\rd")),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        // A trailing break is an empty last line, so the client gets the break back.
        assert_eq!(wire(&Event::data("a\n")), "data: a\ndata: \n\n");
        assert_eq!(wire(&Event::data("\r\n\r\n")), "data: \ndata: \ndata: \n\n");
        // CR then LF as separate breaks only when not adjacent.
        assert_eq!(wire(&Event::data("a\n\rb")), "data: a\ndata: \ndata: b\n\n");
        assert_eq!(wire(&Event::data("")), "data: \n\n");
        // A leading space survives (the client strips only the one after the colon).
        assert_eq!(wire(&Event::data(" x")), "data:  x\n\n");
    }

    #[test]
    fn fields_come_in_a_fixed_order() {
        let e = Event::data("d")
            .retry(Duration::from_millis(1500))
            .id("7")
            .event("tick");
        assert_eq!(wire(&e), "event: tick\nid: 7\nretry: 1500\ndata: d\n\n");
        let e = Event::comment("two\nlines").id("x");
        assert_eq!(wire(&e), ": two\n: lines\nid: x\n\n");
        assert_eq!(wire(&Event::default()), "\n");
        assert_eq!(wire(&Event::default().id("")), "id: \n\n");
    }

    #[test]
    fn line_breaks_cannot_forge_fields() {
        let e = Event::data("ok").event("a\ndata: forged");
        assert_eq!(wire(&e), "data: ok\n\n");
        let e = Event::data("ok").event("good").event("bad\rname");
        assert_eq!(wire(&e), "event: good\ndata: ok\n\n");
        let e = Event::data("ok").id("1\r\nevent: x");
        assert_eq!(wire(&e), "data: ok\n\n");
        let e = Event::data("ok").id("nul\0");
        assert_eq!(wire(&e), "data: ok\n\n");
        // Data and comments cannot forge fields either: every line gets its prefix.
        assert_eq!(
            wire(&Event::data("x\nevent: forged\n\nid: 9")),
            "data: x\ndata: event: forged\ndata: \ndata: id: 9\n\n"
        );
        assert_eq!(
            wire(&Event::comment("c\ndata: forged")),
            ": c\n: data: forged\n\n"
        );
    }

    #[test]
    fn json_is_one_line_and_errors_are_errors() {
        let e = Event::json(&serde_json::json!({"text": "a\nb", "n": [1, 2]})).expect("json");
        assert_eq!(wire(&e), "data: {\"n\":[1,2],\"text\":\"a\\nb\"}\n\n");
        let mut bad = std::collections::BTreeMap::new();
        bad.insert((1, 2), 3);
        assert!(Event::json(&bad).is_err());
    }

    #[test]
    fn the_size_hint_covers_simple_events() {
        for e in [
            Event::data("hello").id("1").event("x"),
            Event::comment("c").retry(Duration::from_secs(u64::MAX / 4096)),
        ] {
            assert!(e.to_bytes().len() <= e.size_hint(), "{e:?}");
        }
    }
}
