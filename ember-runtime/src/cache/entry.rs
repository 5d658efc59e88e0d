//! A cached value: an encoded response (status, header block, body) or application data,
//! with its freshness, and the byte format remote stores keep it in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes};

use crate::http::response::Response;
use crate::http::status::StatusCode;

/// Milliseconds since the Unix epoch (wall clock, so that instances sharing a remote
/// store agree on freshness).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A stored response or data value.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The status (`0` for application data).
    pub(crate) status: u16,
    /// Encoded header lines, content type included: the stored form.
    pub(crate) headers: Bytes,
    /// The header block a HIT answers with: `headers` plus the policy's tag line
    /// (`X-Cache: HIT`), encoded once when the entry is made from a response, so a hit
    /// copies and allocates nothing. `None` when there is no tag, or for an entry read
    /// from a remote store.
    hit: Option<(&'static str, Bytes)>,
    /// The body (or the data).
    pub(crate) body: Bytes,
    /// Served as fresh until then (ms since the epoch; `u64::MAX`: forever).
    pub(crate) fresh_until: u64,
    /// Served as stale (while one refresh runs) until then.
    pub(crate) stale_until: u64,
    /// A background refresh is running.
    pub(crate) refreshing: AtomicBool,
    /// Read since the eviction clock last passed (second-chance eviction).
    pub(crate) referenced: AtomicBool,
}

/// How an entry may be served at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    Stale,
    Expired,
}

/// The first bytes of an entry in a remote store.
const MAGIC: &[u8; 4] = b"EMB1";
/// Magic, status, fresh-until, stale-until, header length.
const FIXED: usize = 4 + 2 + 8 + 8 + 4;

impl Entry {
    pub(crate) fn new(status: u16, headers: Bytes, body: Bytes, fresh: u64, stale: u64) -> Self {
        Entry {
            status,
            headers,
            hit: None,
            body,
            fresh_until: fresh,
            stale_until: stale.max(fresh),
            refreshing: AtomicBool::new(false),
            referenced: AtomicBool::new(false),
        }
    }

    /// The stored form of a handler's response: the status, every header line (content
    /// type first) as one block, and the body, moved (not copied). With `tag` (the
    /// policy's `X-Cache` header name), the HIT block is encoded too.
    pub(crate) fn from_response(
        r: Response,
        fresh: u64,
        stale: u64,
        tag: Option<&'static str>,
    ) -> Self {
        let status = r.status().as_u16();
        let lines = r.header_block();
        let mut block = Vec::with_capacity(lines.len() + 64);
        if let Some(ct) = r.content_type() {
            block.extend_from_slice(b"Content-Type: ");
            block.extend_from_slice(ct.as_bytes());
            block.extend_from_slice(b"\r\n");
        }
        block.extend_from_slice(lines);
        let hit = tag.map(|name| {
            let mut tagged = block.clone();
            push_line(&mut tagged, name, "HIT");
            (name, Bytes::from(tagged))
        });
        let mut e = Entry::new(status, Bytes::from(block), r.into_body(), fresh, stale);
        e.hit = hit;
        e
    }

    /// The response answering from this entry, with the tag line `tag: what` (`X-Cache:
    /// HIT`, `STALE`, `MISS`) when the policy has one. Shares the entry's bytes.
    pub(crate) fn response(&self, tag: Option<&'static str>, what: &'static str) -> Response {
        let status = self.status_code();
        match (tag, &self.hit) {
            (None, _) => Response::preencoded(status, self.headers.clone(), self.body.clone()),
            (Some(name), Some((hit_name, block))) if what == "HIT" && *hit_name == name => {
                Response::preencoded(status, block.clone(), self.body.clone())
            }
            (Some(name), _) => {
                Response::preencoded(status, self.headers.clone(), self.body.clone())
                    .header(name, what)
            }
        }
    }

    pub(crate) fn freshness(&self, now: u64) -> Freshness {
        if now < self.fresh_until {
            Freshness::Fresh
        } else if now < self.stale_until {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }

    /// Claims the single background refresh of a stale entry.
    pub(crate) fn claim_refresh(&self) -> bool {
        self.refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    pub(crate) fn release_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }

    pub(crate) fn touch(&self) {
        if !self.referenced.load(Ordering::Relaxed) {
            self.referenced.store(true, Ordering::Relaxed);
        }
    }

    /// Approximate memory held, for `max_bytes`.
    pub(crate) fn weight(&self, key_len: usize) -> usize {
        let hit = self.hit.as_ref().map_or(0, |(_, b)| b.len());
        key_len + self.headers.len() + hit + self.body.len() + 96
    }

    pub(crate) fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The bytes a remote store keeps.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED + self.headers.len() + self.body.len());
        out.extend_from_slice(MAGIC);
        out.put_u16(self.status);
        out.put_u64(self.fresh_until);
        out.put_u64(self.stale_until);
        out.put_u32(self.headers.len() as u32);
        out.extend_from_slice(&self.headers);
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads what [`Entry::encode`] wrote; `None` for anything else (a foreign value
    /// under our prefix is a miss, never a panic).
    pub(crate) fn decode(raw: Bytes) -> Option<Entry> {
        if raw.len() < FIXED || &raw[..4] != MAGIC {
            return None;
        }
        let mut head = &raw[4..FIXED];
        let status = head.get_u16();
        let fresh = head.get_u64();
        let stale = head.get_u64();
        let hlen = head.get_u32() as usize;
        if raw.len() - FIXED < hlen {
            return None;
        }
        let headers = raw.slice(FIXED..FIXED + hlen);
        let body = raw.slice(FIXED + hlen..);
        Some(Entry::new(status, headers, body, fresh, stale))
    }
}

/// Appends `name: value\r\n`.
fn push_line(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let e = Entry::new(
            200,
            Bytes::from_static(b"Content-Type: text/plain\r\n"),
            Bytes::from_static(b"hello"),
            10,
            20,
        );
        let d = Entry::decode(Bytes::from(e.encode())).expect("decodes");
        assert_eq!(d.status, 200);
        assert_eq!(&d.headers[..], b"Content-Type: text/plain\r\n");
        assert_eq!(&d.body[..], b"hello");
        assert_eq!((d.fresh_until, d.stale_until), (10, 20));
        assert_eq!(d.freshness(5), Freshness::Fresh);
        assert_eq!(d.freshness(15), Freshness::Stale);
        assert_eq!(d.freshness(25), Freshness::Expired);
        assert!(Entry::decode(Bytes::from_static(b"nope")).is_none());
        let mut bad = e.encode();
        bad.truncate(FIXED + 3);
        assert!(Entry::decode(Bytes::from(bad)).is_none());
    }

    /// Encodes an answer the way the connection would (HTTP/1.1 keep-alive).
    fn wire(r: &Response) -> String {
        use crate::http::response::{ConnectionHeader, Framing};
        let mut out = Vec::new();
        let framing = Framing {
            head_only: false,
            connection: ConnectionHeader::None,
            chunked: true,
        };
        r.encode(&mut out, framing);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn stores_the_response_and_answers_with_the_tag() {
        let handler = Response::text("hi").header("ETag", "\"v1\"");
        let e = Entry::from_response(handler, 10, 20, Some("X-Cache"));
        // The stored form (what a remote store keeps) has no tag line.
        assert_eq!(
            &e.headers[..],
            b"Content-Type: text/plain; charset=utf-8\r\nETag: \"v1\"\r\n"
        );
        assert_eq!(&e.body[..], b"hi");
        let from = Entry::decode(Bytes::from(e.encode())).expect("decodes");
        for (entry, what) in [
            (&e, "HIT"),
            (&e, "STALE"),
            (&e, "MISS"),
            (&from, "HIT"),
            (&from, "STALE"),
        ] {
            let text = wire(&entry.response(Some("X-Cache"), what));
            let tail = format!("ETag: \"v1\"\r\nX-Cache: {what}\r\n\r\nhi");
            assert!(text.ends_with(&tail), "{what}: {text:?}");
            assert_eq!(text.matches("Content-Type:").count(), 1, "{text:?}");
            assert_eq!(text.matches("X-Cache:").count(), 1, "{text:?}");
        }
        // A HIT on a local entry shares the pre-encoded block: no copy of the headers.
        let hit = e.response(Some("X-Cache"), "HIT");
        let block = &e.hit.as_ref().expect("tagged").1;
        assert_eq!(hit.header_block().as_ptr(), block.as_ptr());
        // No tag: the stored lines only.
        let untagged = Entry::from_response(Response::text("hi"), 10, 20, None);
        assert!(untagged.hit.is_none());
        let text = wire(&untagged.response(None, "HIT"));
        assert!(!text.contains("X-Cache"), "{text:?}");
        assert!(text.ends_with("Content-Type: text/plain; charset=utf-8\r\n\r\nhi"));
    }
}
