//! Request ids: accept a well-formed one from the client, else make one, without
//! allocating (a generated id lives in a small buffer on the connection's stack).

use std::sync::OnceLock;

use crate::http::request::Header;

/// The longest id accepted from a client.
pub(crate) const MAX_LEN: usize = 128;
/// Length of a generated id: 8 hex digits of process prefix, `-`, 4 of worker, `-`, 12 of
/// counter.
const GEN_LEN: usize = 8 + 1 + 4 + 1 + 12;

/// Whether a client's id may be kept: 1 to [`MAX_LEN`] bytes of letters, digits and
/// `-_.:+/=@` (what UUIDs, ULIDs, base64 and trace ids use; nothing that could break a log
/// line or a header).
pub(crate) fn well_formed(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= MAX_LEN
        && v.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=' | b'@')
        })
}

/// The value of header `name` (compared case-insensitively), the first one sent.
pub(crate) fn find<'h>(headers: &[Header<'h>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// A random prefix for this process's generated ids (so two instances behind one load
/// balancer do not hand out the same ids).
fn prefix() -> u32 {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    *PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        if getrandom::getrandom(&mut b).is_err() {
            // No entropy source: the time and pid still differ between instances.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            return t ^ std::process::id().rotate_left(16);
        }
        u32::from_le_bytes(b)
    })
}

/// Room for one generated id.
#[derive(Debug)]
pub(crate) struct IdBuf([u8; GEN_LEN]);

impl IdBuf {
    /// An empty buffer.
    #[inline]
    pub(crate) fn new() -> Self {
        IdBuf([0; GEN_LEN])
    }

    /// Writes the id for `worker`'s `n`th request: `PPPPPPPP-WWWW-NNNNNNNNNNNN` in hex.
    pub(crate) fn generate(&mut self, worker: u16, n: u64) -> &str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut put = |at: usize, width: usize, v: u64| {
            for i in 0..width {
                self.0[at + i] = HEX[((v >> (4 * (width - 1 - i))) & 0xf) as usize];
            }
        };
        put(0, 8, u64::from(prefix()));
        put(9, 4, u64::from(worker));
        put(14, 12, n);
        self.0[8] = b'-';
        self.0[13] = b'-';
        // Hex digits and dashes only.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_accepted() {
        assert!(well_formed(b"abc-123"));
        assert!(well_formed(b"3f2a6c1e-9b7d-4c1e-8f00-1234567890ab"));
        assert!(well_formed(&[b'a'; MAX_LEN]));
        assert!(!well_formed(&[b'a'; MAX_LEN + 1]));
        assert!(!well_formed(b""));
        assert!(!well_formed(b"a b"));
        assert!(!well_formed(b"a\"b"));
        assert!(!well_formed("é".as_bytes()));
    }

    #[test]
    fn generated_ids_differ_by_counter_and_worker() {
        let (mut a, mut b) = (IdBuf::new(), IdBuf::new());
        let x = a.generate(1, 7).to_owned();
        let y = b.generate(1, 8).to_owned();
        assert_ne!(x, y);
        assert_eq!(x.len(), GEN_LEN);
        assert!(well_formed(x.as_bytes()));
        assert!(x.ends_with("-0001-000000000007"), "{x}");
    }
}
