//! The `Date` header value, formatted once a second per thread rather than per response.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) const DATE_LEN: usize = 29;

thread_local! {
    static CACHED: Cell<(u64, [u8; DATE_LEN])> = const { Cell::new((0, [0; DATE_LEN])) };
}

/// Refreshes this thread's cached `Date` if the second has changed. Workers call this
/// from a once-a-second timer; [`current`] also calls it lazily the first time.
pub(crate) fn refresh() {
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHED.with(|c| {
        if c.get().0 != secs {
            let mut buf = [0u8; DATE_LEN];
            let s = httpdate::fmt_http_date(now);
            let n = s.len().min(DATE_LEN);
            buf[..n].copy_from_slice(&s.as_bytes()[..n]);
            c.set((secs, buf));
        }
    });
}

/// The cached `Date` value for this thread.
pub(crate) fn current() -> [u8; DATE_LEN] {
    let (secs, buf) = CACHED.with(|c| c.get());
    if secs == 0 {
        refresh();
        return CACHED.with(|c| c.get().1);
    }
    buf
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_is_imf_fixdate() {
        let d = super::current();
        let s = std::str::from_utf8(&d).expect("ascii");
        assert!(s.ends_with(" GMT"), "{s}");
        assert!(httpdate::parse_http_date(s).is_ok(), "{s}");
    }
}
