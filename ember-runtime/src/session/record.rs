//! What a session is made of, sans-IO: its id, its stored form, and the clock its TTLs
//! are measured on.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Random bytes in a session id (256 bits).
const ID_BYTES: usize = 32;
/// Characters of an id: `ID_BYTES` in unpadded URL-safe base64.
pub(crate) const ID_LEN: usize = 43;

/// Milliseconds since the Unix epoch (wall clock: stored sessions are read by other
/// processes, and by this one after a restart).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A new session id: 256 bits from the operating system's CSPRNG, URL-safe base64.
/// `None` only if the OS has no randomness to give (the session is then not created).
pub(crate) fn new_id() -> Option<String> {
    let mut bytes = [0u8; ID_BYTES];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)),
        Err(e) => {
            tracing::error!("session: no randomness for a session id: {e}");
            None
        }
    }
}

/// Whether `id` has the shape of an id [`new_id`] makes (anything else a client sends is
/// ignored without asking the store).
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A session as stored (JSON): in memory, in Redis, or encrypted in the cookie.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The id (kept inside the record by the cookie store only).
    #[serde(rename = "i", default, skip_serializing_if = "String::is_empty")]
    pub(crate) id: String,
    /// When the session was created (ms since the epoch): the absolute TTL counts from here.
    #[serde(rename = "c")]
    pub(crate) created: u64,
    /// When it was last used (ms): the idle TTL counts from here.
    #[serde(rename = "s")]
    pub(crate) seen: u64,
    /// The data.
    #[serde(rename = "d")]
    pub(crate) data: Map<String, Value>,
}

/// A session's lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ttls {
    /// Longest time between two uses (ms).
    pub(crate) idle: u64,
    /// Longest life from creation (ms).
    pub(crate) absolute: u64,
}

impl Ttls {
    /// Whether a session created at `created` and last used at `seen` is still alive at
    /// `now`.
    pub(crate) fn alive(&self, created: u64, seen: u64, now: u64) -> bool {
        now.saturating_sub(seen) < self.idle && now.saturating_sub(created) < self.absolute
    }

    /// How long a session created at `created` may be kept from `now` if unused: the
    /// idle TTL, cut short by the absolute one (at least 1 ms).
    pub(crate) fn keep_ms(&self, created: u64, now: u64) -> u64 {
        let left = self.absolute.saturating_sub(now.saturating_sub(created));
        self.idle.min(left).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_checked_by_shape() {
        let a = new_id().expect("an id");
        let b = new_id().expect("an id");
        assert_ne!(a, b);
        assert!(valid_id(&a) && valid_id(&b), "{a} {b}");
        assert!(!valid_id("short"));
        assert!(!valid_id(&format!("{}!", &a[1..])));
    }

    #[test]
    fn ttls_bound_idle_and_total_life() {
        let t = Ttls {
            idle: 100,
            absolute: 1000,
        };
        assert!(t.alive(0, 950, 1000 - 1));
        assert!(!t.alive(0, 950, 1000), "absolute");
        assert!(!t.alive(0, 100, 200), "idle");
        assert_eq!(t.keep_ms(0, 500), 100);
        assert_eq!(t.keep_ms(0, 950), 50);
        assert_eq!(t.keep_ms(0, 5000), 1);
    }

    #[test]
    fn records_are_compact_json() {
        let mut r = Record {
            created: 1,
            seen: 2,
            ..Record::default()
        };
        r.data.insert("user".into(), Value::from("ann"));
        let text = serde_json::to_string(&r).expect("json");
        assert_eq!(text, r#"{"c":1,"s":2,"d":{"user":"ann"}}"#);
        assert_eq!(serde_json::from_str::<Record>(&text).expect("back"), r);
    }
}
