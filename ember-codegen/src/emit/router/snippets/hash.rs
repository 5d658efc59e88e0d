// The perfect-hash functions of the generated router. This file is both compiled into the
// generator (which searches the tables with them) and copied verbatim into generated code
// (`emit/router/mod.rs` includes it twice), so the two can never disagree.

/// Mixing constants of `hash` and `slot`.
const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;
const K3: u64 = 0xff51_afd7_ed55_8ccd;

/// Hash of a segment or path for the perfect-hash tables: its length and its first,
/// middle and last eight bytes (overlapping loads of four, or single bytes, when it is
/// shorter), mixed. Keys of at most 24 bytes that differ differ in one of those words
/// before mixing; a collision after mixing only makes the table search fail.
#[inline(always)]
fn hash(x: &[u8]) -> u64 {
    let n = x.len();
    let (a, b, c) = match (x.first_chunk::<8>(), x.last_chunk::<8>()) {
        (Some(a), Some(b)) => {
            let m = x
                .get(n / 2 - 4..)
                .and_then(|m| m.first_chunk::<8>())
                .unwrap_or(a);
            (
                u64::from_le_bytes(*a),
                u64::from_le_bytes(*b),
                u64::from_le_bytes(*m),
            )
        }
        _ => match (x.first_chunk::<4>(), x.last_chunk::<4>()) {
            (Some(a), Some(b)) => (
                u64::from(u32::from_le_bytes(*a)),
                u64::from(u32::from_le_bytes(*b)),
                0,
            ),
            _ => (
                x.first().map_or(0, |&v| u64::from(v)),
                x.last().map_or(0, |&v| u64::from(v)),
                x.get(n / 2).map_or(0, |&v| u64::from(v)),
            ),
        },
    };
    a.wrapping_mul(K1) ^ b.rotate_left(23).wrapping_mul(K2) ^ c.rotate_left(47) ^ n as u64
}

/// The slot of hash `h` in a perfect-hash table of `2^bits` slots: `seed` spreads the keys
/// over buckets, and the generator searched each bucket's pilot so that no two keys share
/// a slot.
#[inline(always)]
fn slot(h: u64, seed: u64, pilots: &[u16], bits: u32) -> usize {
    let g = h.wrapping_mul(seed);
    let pilot = u64::from(pilots[(g >> 32) as usize % pilots.len()]);
    ((g ^ pilot.wrapping_mul(K1)).wrapping_mul(K3) >> (64 - bits)) as usize
}
