//! Perfect-hash tables the generator searches at build time (CHD / PTHash construction),
//! and their generated lookups.

use super::{K1, hash, slot};
use crate::code::ByteStr;
use crate::code::{Code, close, open, w};

/// A perfect hash for one table: the parameters of the generated `slot`. The keys' hashes
/// times `seed` fall into buckets (`pilots.len()` of them, a power of two); each bucket's
/// pilot was searched so that its keys land in free slots of a table of `2^bits`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Phf {
    pub(super) seed: u64,
    pub(super) bits: u32,
    pub(super) pilots: Vec<u16>,
}

impl Phf {
    /// The slot of key `x`.
    pub(super) fn slot(&self, x: &[u8]) -> usize {
        slot(hash(x), self.seed, &self.pilots, self.bits)
    }

    /// Searches a perfect hash of `keys` (distinct) into a table at most 3/4 full.
    pub(super) fn search(keys: &[&[u8]]) -> Option<Phf> {
        let hashes: Vec<u64> = keys.iter().map(|k| hash(k)).collect();
        let mut sorted = hashes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != hashes.len() || hashes.is_empty() {
            return None;
        }
        let n = hashes.len();
        let bits = (n * 4)
            .div_ceil(3)
            .next_power_of_two()
            .trailing_zeros()
            .max(1);
        let buckets = n.div_ceil(4).next_power_of_two();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..32 {
            // splitmix64 for the seed (odd).
            state = state.wrapping_add(K1);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let seed = (z ^ (z >> 31)) | 1;
            if let Some(pilots) = Phf::pilots(&hashes, seed, bits, buckets) {
                return Some(Phf { seed, bits, pilots });
            }
        }
        None
    }

    /// Finds a pilot per bucket, largest buckets first, or `None`.
    pub(super) fn pilots(hashes: &[u64], seed: u64, bits: u32, buckets: usize) -> Option<Vec<u16>> {
        let mut members: Vec<Vec<u64>> = vec![Vec::new(); buckets];
        for &h in hashes {
            let g = h.wrapping_mul(seed);
            members[(g >> 32) as usize % buckets].push(h);
        }
        let mut order: Vec<usize> = (0..buckets).collect();
        order.sort_by_key(|&b| std::cmp::Reverse(members[b].len()));
        let mut taken = vec![false; 1 << bits];
        let mut pilots = vec![0u16; buckets];
        for b in order {
            if members[b].is_empty() {
                break;
            }
            let found = (0..=u16::MAX).find(|&pilot| {
                pilots[b] = pilot;
                let slots: Vec<usize> = members[b]
                    .iter()
                    .map(|&h| slot(h, seed, &pilots, bits))
                    .collect();
                let distinct = slots
                    .iter()
                    .enumerate()
                    .all(|(i, s)| !slots[..i].contains(s));
                distinct && slots.iter().all(|&s| !taken[s])
            })?;
            pilots[b] = found;
            for &h in &members[b] {
                taken[slot(h, seed, &pilots, bits)] = true;
            }
        }
        Some(pilots)
    }

    /// The call of the generated `slot` on the hash of `x`, with the pilots in `table`
    /// (a const that `pilots_const` writes).
    pub(super) fn call(&self, x: &str, table: &str) -> String {
        format!("slot(hash({x}), {}, &{table}, {})", self.seed, self.bits)
    }

    /// Writes the const holding the pilots.
    pub(super) fn pilots_const(&self, c: &mut Code, table: &str) {
        let pilots: Vec<String> = self.pilots.iter().map(u16::to_string).collect();
        w!(
            c,
            "const {table}: [u16; {}] = [{}];",
            self.pilots.len(),
            pilots.join(", ")
        );
    }
}

/// The whole-path table of the fully static routes and its lookup, `static_route`.
pub(super) fn emit_static_table(
    c: &mut Code,
    static_paths: &[(String, usize)],
    phf: &Phf,
    names: &[String],
) {
    let mut slots: Vec<Option<(&str, usize)>> = vec![None; 1 << phf.bits];
    for (path, ep) in static_paths {
        slots[phf.slot(path.as_bytes())] = Some((path, *ep));
    }
    w!(
        c,
        "/// The fully static routes, at the slot of their whole path's perfect hash."
    );
    open!(
        c,
        "const STATIC_ROUTES: [(&[u8], Option<Endpoint>); {}] = [",
        slots.len()
    );
    for s in &slots {
        match s {
            Some((path, ep)) => w!(
                c,
                "({}, Some(Endpoint::{})),",
                ByteStr(path.as_bytes()),
                names[*ep]
            ),
            None => w!(c, "(b\"\", None),"),
        }
    }
    close!(c, "];");
    phf.pilots_const(c, "STATIC_PILOTS");
    c.blank();
    w!(
        c,
        "/// The fully static route that is exactly this path, if any."
    );
    w!(c, "#[inline(always)]");
    open!(c, "fn static_route(b: &[u8]) -> Option<Endpoint> {{");
    w!(
        c,
        "let (path, e) = STATIC_ROUTES[{}];",
        phf.call("b", "STATIC_PILOTS")
    );
    w!(c, "if b == path {{ e }} else {{ None }}");
    close!(c, "}}");
}
