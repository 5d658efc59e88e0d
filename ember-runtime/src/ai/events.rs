//! Sans-IO splitting of an upstream's `text/event-stream` body into events.
//!
//! Bytes arrive in arbitrary reads; [`Splitter::next_event`] hands back each complete event
//! (its lines and the blank line that ends it) as a `Bytes` sliced from the read buffer, so
//! relaying an event copies nothing. Line ends may be LF, CRLF or CR (the SSE grammar).

use bytes::{Buf, Bytes, BytesMut};

/// Accumulates reads and splits off complete events.
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    buf: BytesMut,
    /// How far `buf` has been scanned without finding an event's end.
    scanned: usize,
    /// Whether the scan stopped just after a line end (so a second one ends the event).
    at_line_start: bool,
    /// The last event ended with a lone CR: an LF right after it belongs to it.
    skip_lf: bool,
}

impl Splitter {
    /// Adds bytes read from the upstream (copied).
    #[cfg(test)]
    pub(crate) fn push(&mut self, mut data: &[u8]) {
        if self.skip_lf && !data.is_empty() {
            self.skip_lf = false;
            if data[0] == b'\n' {
                data = &data[1..];
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// Adds bytes read from the upstream, owned (no copy when nothing is pending).
    pub(crate) fn push_bytes(&mut self, mut data: Bytes) {
        if self.skip_lf && !data.is_empty() {
            self.skip_lf = false;
            if data[0] == b'\n' {
                data.advance(1);
            }
        }
        if self.buf.is_empty() {
            // `BytesMut::from(Bytes)` reuses the allocation when it is unique.
            self.buf = BytesMut::from(data);
        } else {
            self.buf.extend_from_slice(&data);
        }
    }

    /// The next complete event, with its terminating blank line, if one is buffered.
    pub(crate) fn next_event(&mut self) -> Option<Bytes> {
        let bytes = &self.buf[..];
        let mut i = self.scanned;
        // At the very start of the buffer, a line end is an empty line (a stray one: skip).
        let mut at_line_start = if i == 0 { true } else { self.at_line_start };
        while i < bytes.len() {
            match bytes[i] {
                b'\n' | b'\r' => {
                    let crlf = bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n');
                    if bytes[i] == b'\r' && i + 1 == bytes.len() && !at_line_start {
                        // A CR at the end of what arrived: wait to see whether an LF follows.
                        break;
                    }
                    let end = i + if crlf { 2 } else { 1 };
                    if at_line_start {
                        // A blank line: the event (if any) ends here.
                        let lone_cr_at_end = bytes[i] == b'\r' && !crlf && end == bytes.len();
                        let event = self.buf.split_to(end).freeze();
                        if self.buf.is_empty() {
                            // Nothing left of this read: let go of its allocation now (the
                            // event holds it until relayed), not at the next read — a
                            // stream waiting for its next token keeps no buffer.
                            self.buf = BytesMut::new();
                        }
                        self.scanned = 0;
                        self.at_line_start = true;
                        self.skip_lf = lone_cr_at_end;
                        if event.len() == end - i {
                            // Nothing but a blank line: not an event.
                            return self.next_event();
                        }
                        return Some(event);
                    }
                    at_line_start = true;
                    i = end;
                }
                _ => {
                    at_line_start = false;
                    i += 1;
                }
            }
        }
        self.scanned = i;
        self.at_line_start = at_line_start;
        None
    }

    /// Whether bytes of an unfinished event are buffered.
    #[cfg(test)]
    pub(crate) fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// The value of an event's `data` field: its `data:` lines joined by LF, one optional
/// space after the colon removed. `None` for an event without data (a comment, say).
/// One `data:` line (the usual case) is borrowed, not copied.
pub(crate) fn data(event: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut found: Option<std::borrow::Cow<'_, [u8]>> = None;
    for line in lines(event) {
        let Some(rest) = line.strip_prefix(b"data") else {
            continue;
        };
        let value = match rest {
            [] => &[][..],
            [b':', b' ', v @ ..] | [b':', v @ ..] => v,
            _ => continue, // `dataX: …` is another field
        };
        found = Some(match found {
            None => std::borrow::Cow::Borrowed(value),
            Some(prev) => {
                let mut joined = prev.into_owned();
                joined.push(b'\n');
                joined.extend_from_slice(value);
                std::borrow::Cow::Owned(joined)
            }
        });
    }
    found
}

/// The lines of an event, without their line ends (and without the empty last line).
fn lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = event;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
        let line = &rest[..end];
        let skip = if end == rest.len() {
            0
        } else if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        Some(line)
    })
    .filter(|l| !l.is_empty())
}

/// Whether an event's data is OpenAI's error object (`{"error": …}`), which some upstreams
/// send inside a stream instead of an error status.
pub(crate) fn is_error(data: &[u8]) -> bool {
    let d = data.trim_ascii_start();
    d.starts_with(b"{") && d[1..].trim_ascii_start().starts_with(b"\"error\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(reads: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        for r in reads {
            s.push(r);
            while let Some(e) = s.next_event() {
                out.push(e.to_vec());
            }
        }
        out
    }

    #[test]
    fn one_event_per_blank_line() {
        let got = split_all(&[b"data: a\n\ndata: b\n\n: ping\n\ndata: [DONE]\n\n"]);
        assert_eq!(
            got,
            [
                &b"data: a\n\n"[..],
                b"data: b\n\n",
                b": ping\n\n",
                b"data: [DONE]\n\n"
            ]
        );
    }

    #[test]
    fn events_split_across_reads_at_every_byte() {
        let stream = b"data: {\"x\":1}\r\n\r\nevent: e\ndata: two\ndata: lines\n\ndata: z\r\r";
        // An event is relayed as soon as its blank line is seen: a CRLF blank line cut
        // after its CR goes out as CR (still a blank line) and the LF is dropped.
        let fields = |events: Vec<Vec<u8>>| -> Vec<(Vec<u8>, bool)> {
            events
                .iter()
                .map(|e| {
                    let d = data(e).map(|d| d.into_owned()).unwrap_or_default();
                    (
                        d,
                        e.ends_with(b"\n\n") || e.ends_with(b"\r") || e.ends_with(b"\r\n"),
                    )
                })
                .collect()
        };
        let whole = fields(split_all(&[stream]));
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1].0, b"two\nlines");
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(fields(split_all(&[a, b])), whole, "cut at {cut}");
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(fields(split_all(&bytewise)), whole);
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        assert_eq!(split_all(&[b"data: a\r\n\r\n"]), [b"data: a\r\n\r\n"]);
        assert_eq!(split_all(&[b"data: a\r\r", b"\ndata: b\n\n"]).len(), 2);
        // A CRLF split after its CR still ends one line, not two.
        assert_eq!(
            split_all(&[b"data: a\r", b"\ndata: b\r\n\r\n"]),
            [b"data: a\r\ndata: b\r\n\r\n"]
        );
    }

    #[test]
    fn partial_events_wait() {
        let mut s = Splitter::default();
        s.push(b"data: hal");
        assert_eq!(s.next_event(), None);
        assert!(s.has_partial());
        s.push(b"f\n");
        assert_eq!(s.next_event(), None);
        s.push(b"\n");
        assert_eq!(s.next_event().as_deref(), Some(&b"data: half\n\n"[..]));
        assert!(!s.has_partial());
    }

    #[test]
    fn owned_pushes_split_the_same() {
        let mut s = Splitter::default();
        s.push_bytes(Bytes::from_static(b"data: a\n\nda"));
        assert_eq!(s.next_event().as_deref(), Some(&b"data: a\n\n"[..]));
        s.push_bytes(Bytes::from_static(b"ta: b\n\n"));
        assert_eq!(s.next_event().as_deref(), Some(&b"data: b\n\n"[..]));
    }

    #[test]
    fn data_fields() {
        assert_eq!(data(b"data: x\n\n").as_deref(), Some(&b"x"[..]));
        assert_eq!(data(b"data:x\r\n\r\n").as_deref(), Some(&b"x"[..]));
        assert_eq!(
            data(b"event: e\ndata: a\ndata: b\n\n").as_deref(),
            Some(&b"a\nb"[..])
        );
        assert_eq!(data(b": comment\n\n"), None);
        assert_eq!(data(b"datum: no\n\n"), None);
        assert_eq!(data(b"data: [DONE]\n\n").as_deref(), Some(&b"[DONE]"[..]));
        assert!(is_error(br#"{ "error": {"message":"x"}}"#));
        assert!(!is_error(br#"{"id":"error"}"#));
    }
}
