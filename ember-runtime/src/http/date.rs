//! The `Date` header, formatted once a second per thread rather than per response, kept
//! together with `Server` as the two header lines every response starts with.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) const DATE_LEN: usize = 29;
/// `Server: ember\r\nDate: ` before the date.
const PREFIX: &[u8; 21] = b"Server: ember\r\nDate: ";
/// `Server: ember\r\nDate: <date>\r\n`.
pub(crate) const PREAMBLE_LEN: usize = PREFIX.len() + DATE_LEN + 2;

thread_local! {
    static CACHED: Cell<(u64, [u8; PREAMBLE_LEN])> = const { Cell::new((0, [0; PREAMBLE_LEN])) };
}

/// Refreshes this thread's cached lines if the second has changed. Workers call this from
/// their timer tick; [`preamble`] also calls it lazily the first time.
pub(crate) fn refresh() {
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHED.with(|c| {
        if c.get().0 != secs {
            let mut buf = [0u8; PREAMBLE_LEN];
            buf[..PREFIX.len()].copy_from_slice(PREFIX);
            let s = httpdate::fmt_http_date(now);
            let n = s.len().min(DATE_LEN);
            buf[PREFIX.len()..PREFIX.len() + n].copy_from_slice(&s.as_bytes()[..n]);
            buf[PREAMBLE_LEN - 2..].copy_from_slice(b"\r\n");
            c.set((secs, buf));
        }
    });
}

/// `Server: ember\r\nDate: <date>\r\n` for this thread.
pub(crate) fn preamble() -> [u8; PREAMBLE_LEN] {
    let (secs, buf) = CACHED.with(|c| c.get());
    if secs == 0 {
        refresh();
        return CACHED.with(|c| c.get().1);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_carries_an_imf_fixdate() {
        let p = preamble();
        let s = std::str::from_utf8(&p).expect("ascii");
        assert!(
            s.starts_with("Server: ember\r\nDate: ") && s.ends_with(" GMT\r\n"),
            "{s:?}"
        );
        let date = &s[PREFIX.len()..PREFIX.len() + DATE_LEN];
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }
}
