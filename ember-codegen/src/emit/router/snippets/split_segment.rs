// `split_segment` of the generated router: copied verbatim into generated code, and
// compiled into the generator's tests.

/// Splits `rest` at its first `/`: the segment, and the rest from that `/` on (empty at the
/// end of the path). Looks at eight bytes at a time.
#[inline(always)]
fn split_segment(rest: &str) -> (&str, &str) {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const SLASHES: u64 = u64::from_ne_bytes([b'/'; 8]);
    /// The index of the lowest `/` byte of `w`, if any.
    #[inline(always)]
    fn slash(w: u64) -> Option<usize> {
        // Exact for the lowest match: borrows only run upwards from it.
        let x = w ^ SLASHES;
        let found = x.wrapping_sub(ONES) & !x & HIGH;
        (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
    }
    let b = rest.as_bytes();
    let mut i = 0;
    let end = loop {
        match b.get(i..).and_then(|r| r.first_chunk::<8>()) {
            Some(w) => match slash(u64::from_le_bytes(*w)) {
                Some(k) => break i + k,
                None => i += 8,
            },
            None => {
                break b[i..]
                    .iter()
                    .position(|&c| c == b'/')
                    .map_or(b.len(), |k| i + k);
            }
        }
    };
    rest.split_at_checked(end).unwrap_or((rest, ""))
}
