//! The path matcher: a segment trie compiled into straight-line Rust over the path's bytes.
//!
//! Input: the routes. Output: the items of a `find(path, &mut params) -> Option<Endpoint>`
//! function (generated inside the router module, next to a `const N` = most parameters of
//! any route), and the endpoints, each with the routes (indices) that end there.
//!
//! Matching rules: a path is split at `/`; static segments win over a parameter, a
//! parameter (never empty) over a catch-all (the rest, possibly empty), with backtracking
//! when a more specific branch fails further down. Parameters are positional: the k-th
//! parameter on the matched path is written to `params[k]`.
//!
//! # Generated code
//!
//! `find` strips the leading `/` and calls `n0`. Every trie node that the path can go on
//! past becomes a function `nK(rest, p)`, where `rest` is the path after the `/` that ends
//! the node's pattern (its doc comment says which). A node tries, in order:
//!
//! 1. its static children: each is a literal compared whole, `rest == "events"` where a
//!    route ends, `rest.strip_prefix("events/")` where routes go on, without looking for
//!    the next `/` first. A chain of nodes with a single static child and nothing else is
//!    one literal (`"git/refs/"`). With more than a few literals, a `match` on a byte of
//!    `rest` picks the candidates first: on the first byte, or, when the literals share a
//!    prefix, on the first byte where they differ; recursively.
//! 2. its parameter: `split_segment` finds the next `/` eight bytes at a time; a non-empty
//!    segment goes to `p[k]`, and the node's child continues on the rest (its end, a
//!    literal chain, or its function).
//! 3. its catch-all: `p[k] = rest`.
//!
//! Each step returns as soon as something below it matched, so a failure falls through to
//! the next, less specific step: that is the backtracking.
//!
//! Two perfect-hash techniques are there too, for where they win (see [`Strategy`]): a
//! whole-path table of the fully static routes (`static_route`: one hash of the path, one
//! comparison; those routes then leave the trie), and segment tables at wide nodes (the
//! segment's slot, then one comparison). The hash is cheap, not SipHash: the length and the
//! first, middle and last eight bytes, mixed by multiplications; the slot comes from a seed
//! and a per-bucket "pilot" that the generator searched until no two keys collide (the
//! CHD / PTHash construction).
//!
//! `EMBER_ROUTER_STRATEGY` (`auto`, `match`, `table`, `whole-path`, `hash-nodes`) overrides
//! the strategy at generation time, for the benchmarks in `bench/router/`; it is not a
//! stable interface.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use crate::path::Segment;
use crate::plan::RoutePlan;

/// A node of the segment trie.
#[derive(Default, Debug)]
struct Node {
    id: usize,
    /// The route prefix that leads here, with a trailing `/` (for the generated docs).
    pattern: String,
    /// Static children in spec order.
    statics: Vec<(String, Node)>,
    /// The parameter child (names do not matter for matching: parameters are positional).
    param: Option<Box<Node>>,
    /// Endpoint when the path ends at this node.
    end: Option<usize>,
    /// Endpoint of a catch-all at this node.
    catch_all: Option<usize>,
}

/// A path that routes end at, with the routes (by method) it carries.
pub(crate) struct Endpoint {
    /// Indices of the routes that end here.
    pub(crate) routes: Vec<usize>,
}

/// The generated matcher.
pub(crate) struct Matcher {
    /// Items to place in the router module: `find` and its helpers.
    pub(crate) items: TokenStream,
    /// Endpoints in `Endpoint::E{i}` order.
    pub(crate) endpoints: Vec<Endpoint>,
    /// The most parameters any route has (at least 1).
    pub(crate) max_params: usize,
}

/// How the generated matcher dispatches among static alternatives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Strategy {
    /// Look fully static routes up first, as whole paths, in a perfect-hash table, when
    /// there are at least this many of them (`None`: never).
    whole_path_min_routes: Option<usize>,
    /// Dispatch by perfect hash of the segment at nodes with at least this many static
    /// children (`None`: always by `match` on bytes of the path).
    hash_min_fan_out: Option<usize>,
}

impl Strategy {
    /// What measured fastest (`bench/router/RESULTS.md`): byte `match`es everywhere, and
    /// the whole-path table once there are many fully static routes (130 of them were
    /// still faster through the trie; 500 were twice as fast through the table). Hashing
    /// segments lost on every route set measured, a 189-way fan-out included.
    pub(crate) const AUTO: Strategy = Strategy {
        whole_path_min_routes: Some(256),
        hash_min_fan_out: None,
    };
    /// `match` on bytes everywhere, no table.
    pub(crate) const MATCH: Strategy = Strategy {
        whole_path_min_routes: None,
        hash_min_fan_out: None,
    };
    /// Perfect hashes wherever they apply: the whole-path table, and every node with two
    /// or more static children.
    pub(crate) const TABLE: Strategy = Strategy {
        whole_path_min_routes: Some(1),
        hash_min_fan_out: Some(2),
    };
    /// `MATCH` plus the whole-path table.
    pub(crate) const WHOLE_PATH: Strategy = Strategy {
        whole_path_min_routes: Some(1),
        hash_min_fan_out: None,
    };
    /// `TABLE` without the whole-path table.
    pub(crate) const HASH_NODES: Strategy = Strategy {
        whole_path_min_routes: None,
        hash_min_fan_out: Some(2),
    };

    /// `EMBER_ROUTER_STRATEGY`: `auto` (the default), `match`, `table`, `whole-path` or
    /// `hash-nodes`.
    fn from_env() -> Strategy {
        match std::env::var("EMBER_ROUTER_STRATEGY").as_deref() {
            Ok("match") => Strategy::MATCH,
            Ok("table") => Strategy::TABLE,
            Ok("whole-path") => Strategy::WHOLE_PATH,
            Ok("hash-nodes") => Strategy::HASH_NODES,
            _ => Strategy::AUTO,
        }
    }
}

/// Builds the matcher for `routes`.
pub(crate) fn build(routes: &[RoutePlan]) -> Matcher {
    build_with(routes, Strategy::from_env())
}

/// Builds the matcher for `routes` with the given strategy.
fn build_with(routes: &[RoutePlan], strategy: Strategy) -> Matcher {
    // Build the trie and the endpoints.
    let mut root = Node {
        pattern: "/".to_owned(),
        ..Node::default()
    };
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut next_id = 1;
    // Fully static routes' paths and endpoints, for the whole-path table.
    let mut static_paths: Vec<(String, usize)> = Vec::new();
    for (ri, route) in routes.iter().enumerate() {
        let mut node = &mut root;
        let n = route.segments.len();
        for (si, seg) in route.segments.iter().enumerate() {
            let last = si + 1 == n;
            match seg {
                Segment::Static(text) => {
                    let pos = node.statics.iter().position(|(t, _)| t == text);
                    let idx = match pos {
                        Some(i) => i,
                        None => {
                            let child = Node {
                                id: next_id,
                                pattern: format!("{}{text}/", node.pattern),
                                ..Node::default()
                            };
                            next_id += 1;
                            node.statics.push((text.clone(), child));
                            node.statics.len() - 1
                        }
                    };
                    node = &mut node.statics[idx].1;
                }
                Segment::Param { name, .. } => {
                    if node.param.is_none() {
                        node.param = Some(Box::new(Node {
                            id: next_id,
                            pattern: format!("{}{{{name}}}/", node.pattern),
                            ..Node::default()
                        }));
                        next_id += 1;
                    }
                    node = node.param.as_deref_mut().expect("just set");
                }
                Segment::CatchAll { .. } => {
                    let ep = *node.catch_all.get_or_insert_with(|| {
                        endpoints.push(Endpoint { routes: Vec::new() });
                        endpoints.len() - 1
                    });
                    endpoints[ep].routes.push(ri);
                }
            }
            if last && !matches!(seg, Segment::CatchAll { .. }) {
                let ep = *node.end.get_or_insert_with(|| {
                    endpoints.push(Endpoint { routes: Vec::new() });
                    endpoints.len() - 1
                });
                endpoints[ep].routes.push(ri);
                let all_static = route
                    .segments
                    .iter()
                    .all(|s| matches!(s, Segment::Static(_)));
                if all_static && !static_paths.iter().any(|(_, e)| *e == ep) {
                    static_paths.push((route.path.clone(), ep));
                }
            }
        }
    }
    let max_params = routes
        .iter()
        .map(|r| {
            r.segments
                .iter()
                .filter(|s| !matches!(s, Segment::Static(_)))
                .count()
        })
        .max()
        .unwrap_or(0)
        .max(1);

    let mut em = Emitter {
        strategy,
        fns: Vec::new(),
        uses_split: false,
        uses_hash: false,
    };
    let mut static_table = None;
    if strategy
        .whole_path_min_routes
        .is_some_and(|min| !static_paths.is_empty() && static_paths.len() >= min)
    {
        let keys: Vec<&[u8]> = static_paths.iter().map(|(p, _)| p.as_bytes()).collect();
        if let Some(phf) = Phf::search(&keys) {
            // A path equal to a fully static route always ends at that route (each of its
            // segments is the most specific choice), so the trie can forget those ends.
            forget_static_ends(&mut root);
            static_table = Some(emit_static_table(&static_paths, &phf));
            em.uses_hash = true;
        }
    }
    prune(&mut root);
    em.node(&root, 0);
    let Emitter {
        fns,
        uses_split,
        uses_hash,
        ..
    } = em;

    let find = match &static_table {
        Some(_) => quote! {
            /// Matches a raw path, filling `p` with the parameters' raw text in path order.
            #[inline(always)]
            pub fn find<'p>(path: &'p str, p: &mut [&'p str; N]) -> Option<Endpoint> {
                let rest = path.strip_prefix('/')?;
                if let Some(e) = static_route(path.as_bytes()) {
                    return Some(e);
                }
                n0(rest, p)
            }
        },
        None => quote! {
            /// Matches a raw path, filling `p` with the parameters' raw text in path order.
            #[inline(always)]
            pub fn find<'p>(path: &'p str, p: &mut [&'p str; N]) -> Option<Endpoint> {
                let rest = path.strip_prefix('/')?;
                n0(rest, p)
            }
        },
    };
    let split = uses_split.then(|| {
        quote! {
            /// Splits `rest` at its first `/`: the segment, and the rest from that `/` on
            /// (empty at the end of the path). Looks at eight bytes at a time.
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
                        None => break b[i..].iter().position(|&c| c == b'/').map_or(b.len(), |k| i + k),
                    }
                };
                rest.split_at_checked(end).unwrap_or((rest, ""))
            }
        }
    });
    let hash = uses_hash.then(|| {
        let (k1, k2, k3) = (
            Literal::u64_unsuffixed(K1),
            Literal::u64_unsuffixed(K2),
            Literal::u64_unsuffixed(K3),
        );
        quote! {
            /// Hash of a segment or path for the perfect-hash tables: its length and its
            /// first, middle and last eight bytes (overlapping loads of four, or single
            /// bytes, when it is shorter), mixed.
            #[inline(always)]
            fn hash(x: &[u8]) -> u64 {
                let n = x.len();
                let (a, b, c) = match (x.first_chunk::<8>(), x.last_chunk::<8>()) {
                    (Some(a), Some(b)) => {
                        let m = x.get(n / 2 - 4..).and_then(|m| m.first_chunk::<8>()).unwrap_or(a);
                        (u64::from_le_bytes(*a), u64::from_le_bytes(*b), u64::from_le_bytes(*m))
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
                a.wrapping_mul(#k1) ^ b.rotate_left(23).wrapping_mul(#k2) ^ c.rotate_left(47) ^ n as u64
            }

            /// The slot of hash `h` in a perfect-hash table of `2^bits` slots: `seed` spreads
            /// the keys over buckets, and the generator searched each bucket's pilot so that
            /// no two keys share a slot.
            #[inline(always)]
            fn slot(h: u64, seed: u64, pilots: &[u16], bits: u32) -> usize {
                let g = h.wrapping_mul(seed);
                let pilot = u64::from(pilots[(g >> 32) as usize % pilots.len()]);
                ((g ^ pilot.wrapping_mul(#k1)).wrapping_mul(#k3) >> (64 - bits)) as usize
            }
        }
    });

    let items = quote! {
        #find
        #static_table
        #(#fns)*
        #split
        #hash
    };
    Matcher {
        items,
        endpoints,
        max_params,
    }
}

/// Drops the ends that only fully static routes reach (they are in the whole-path table).
fn forget_static_ends(node: &mut Node) {
    node.end = None;
    for (_, child) in &mut node.statics {
        forget_static_ends(child);
    }
}

/// Removes children that no longer lead to an endpoint; returns whether `node` does.
fn prune(node: &mut Node) -> bool {
    node.statics.retain_mut(|(_, child)| prune(child));
    if node.param.as_deref_mut().is_some_and(|c| !prune(c)) {
        node.param = None;
    }
    node.end.is_some()
        || node.catch_all.is_some()
        || node.param.is_some()
        || !node.statics.is_empty()
}

/// `hash` of the generated code, at generation time: the length and the first, middle and
/// last eight bytes of `x` (overlapping loads of four, or single bytes, when shorter): keys
/// of at most 24 bytes that differ differ in one of those words before mixing. (A
/// collision after mixing only makes `Phf::search` fail, and the node use `match`.)
fn key_hash(x: &[u8]) -> u64 {
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

/// Mixing constants of `hash` and `slot` (shared with the generated code).
const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;
const K3: u64 = 0xff51_afd7_ed55_8ccd;

/// A perfect hash for one table: the parameters of the generated `slot`. The keys' hashes
/// times `seed` fall into buckets (`pilots.len()` of them, a power of two); each bucket's
/// pilot was searched so that its keys land in free slots of a table of `2^bits`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Phf {
    seed: u64,
    bits: u32,
    pilots: Vec<u16>,
}

impl Phf {
    /// The generated `slot`, at generation time.
    fn slot_of_hash(seed: u64, bits: u32, pilots: &[u16], h: u64) -> usize {
        let g = h.wrapping_mul(seed);
        let pilot = u64::from(pilots[(g >> 32) as usize % pilots.len()]);
        ((g ^ pilot.wrapping_mul(K1)).wrapping_mul(K3) >> (64 - bits)) as usize
    }

    /// The slot of key `x`.
    fn slot(&self, x: &[u8]) -> usize {
        Phf::slot_of_hash(self.seed, self.bits, &self.pilots, key_hash(x))
    }

    /// Searches a perfect hash of `keys` (distinct) into a table at most 3/4 full.
    fn search(keys: &[&[u8]]) -> Option<Phf> {
        let hashes: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
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
    fn pilots(hashes: &[u64], seed: u64, bits: u32, buckets: usize) -> Option<Vec<u16>> {
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
                    .map(|&h| Phf::slot_of_hash(seed, bits, &pilots, h))
                    .collect();
                let distinct = slots
                    .iter()
                    .enumerate()
                    .all(|(i, s)| !slots[..i].contains(s));
                distinct && slots.iter().all(|&s| !taken[s])
            })?;
            pilots[b] = found;
            for &h in &members[b] {
                taken[Phf::slot_of_hash(seed, bits, &pilots, h)] = true;
            }
        }
        Some(pilots)
    }

    /// The call of the generated `slot` on the hash of `x`, with the pilots in `table`
    /// (a const that `pilots_const` emits).
    fn call(&self, x: TokenStream, table: &Ident) -> TokenStream {
        let seed = Literal::u64_unsuffixed(self.seed);
        let bits = Literal::u32_unsuffixed(self.bits);
        quote! { slot(hash(#x), #seed, &#table, #bits) }
    }

    /// The const holding the pilots.
    fn pilots_const(&self, table: &Ident) -> TokenStream {
        let len = Literal::usize_unsuffixed(self.pilots.len());
        let pilots = self.pilots.iter().map(|&p| Literal::u16_unsuffixed(p));
        quote! {
            const #table: [u16; #len] = [#(#pilots),*];
        }
    }
}

fn emit_static_table(static_paths: &[(String, usize)], phf: &Phf) -> TokenStream {
    let mut slots: Vec<TokenStream> = vec![quote! { (b"", None) }; 1 << phf.bits];
    for (path, ep) in static_paths {
        let bytes = Literal::byte_string(path.as_bytes());
        let e = endpoint(*ep);
        slots[phf.slot(path.as_bytes())] = quote! { (#bytes, Some(#e)) };
    }
    let len = Literal::usize_unsuffixed(slots.len());
    let table = format_ident!("STATIC_PILOTS");
    let pilots = phf.pilots_const(&table);
    let slot = phf.call(quote!(b), &table);
    quote! {
        /// The fully static routes, at the slot of their whole path's perfect hash.
        const STATIC_ROUTES: [(&[u8], Option<Endpoint>); #len] = [#(#slots),*];
        #pilots

        /// The fully static route that is exactly this path, if any.
        #[inline(always)]
        fn static_route(b: &[u8]) -> Option<Endpoint> {
            let (path, e) = STATIC_ROUTES[#slot];
            if b == path { e } else { None }
        }
    }
}

/// A static edge after merging chains: its text (segments joined by `/`) and the node at
/// its end.
struct Edge<'a> {
    text: String,
    node: &'a Node,
}

impl Edge<'_> {
    /// The first segment (what a hashed dispatch compares).
    fn head(&self) -> &str {
        self.text.split('/').next().unwrap_or("")
    }

    /// The segments after the first, with their leading `/` (empty if none).
    fn tail(&self) -> &str {
        &self.text[self.head().len()..]
    }
}

/// Follows `node` down while it has a single static child and nothing else.
fn merge_chain<'a>(text: &str, mut node: &'a Node) -> Edge<'a> {
    let mut text = text.to_owned();
    while node.end.is_none()
        && node.catch_all.is_none()
        && node.param.is_none()
        && node.statics.len() == 1
    {
        let (t, child) = &node.statics[0];
        text.push('/');
        text.push_str(t);
        node = child;
    }
    Edge { text, node }
}

impl Node {
    /// Whether the path can go on past this node (it has children or a catch-all).
    fn has_children(&self) -> bool {
        !self.statics.is_empty() || self.param.is_some() || self.catch_all.is_some()
    }
}

fn endpoint(ep: usize) -> TokenStream {
    let v = format_ident!("E{ep}");
    quote! { Endpoint::#v }
}

/// The call of `node`'s function on `rest`, returning if it matched.
fn call_node(node: &Node, rest: &TokenStream) -> TokenStream {
    let f = format_ident!("n{}", node.id);
    quote! {
        if let Some(e) = #f(#rest, p) {
            return Some(e);
        }
    }
}

/// The tests that `on` (a `&str`) starts with the literal `text` and then ends there (if
/// `node` is an endpoint) or goes on past a `/` into `node`: each with the literal it
/// compares (whose first byte a dispatch can switch on).
fn edge_tests(text: &str, node: &Node, on: &TokenStream) -> Vec<Test> {
    let mut tests = Vec::new();
    if let Some(ep) = node.end {
        let e = endpoint(ep);
        let test = if text.is_empty() {
            quote! { #on.is_empty() }
        } else {
            quote! { #on == #text }
        };
        tests.push((
            text.as_bytes().to_vec(),
            quote! {
                if #test {
                    return Some(#e);
                }
            },
        ));
    }
    if node.has_children() {
        let with_slash = format!("{text}/");
        let call = call_node(node, &quote!(rest));
        tests.push((
            with_slash.as_bytes().to_vec(),
            quote! {
                if let Some(rest) = #on.strip_prefix(#with_slash) {
                    #call
                }
            },
        ));
    }
    tests
}

/// A test of `rest` (or `tail`): the literal it compares, and its code.
type Test = (Vec<u8>, TokenStream);

/// At most this many tests run one after the other; more are split by a `match` on a byte.
const MAX_SEQUENTIAL: usize = 3;

/// Tests of `rest` against literals, dispatched by `match` on the byte at which the
/// literals first differ (the first byte, or the one after their common prefix), then
/// recursively within each arm while an arm has more than [`MAX_SEQUENTIAL`] tests.
/// Each test still compares its whole literal: the dispatch only picks the candidates.
fn byte_dispatch(mut tests: Vec<Test>) -> TokenStream {
    if tests.len() <= MAX_SEQUENTIAL {
        return tests.into_iter().map(|(_, t)| t).collect();
    }
    let first = tests[0].0.clone();
    let at = tests.iter().fold(first.len(), |n, (lit, _)| {
        n.min(lit.iter().zip(&first).take_while(|(a, b)| a == b).count())
    });
    // A literal that is all common prefix may be followed by anything: test it first.
    let short: Vec<TokenStream> = tests
        .iter()
        .filter(|(lit, _)| lit.len() == at)
        .map(|(_, t)| t.clone())
        .collect();
    tests.retain(|(lit, _)| lit.len() > at);
    let mut groups: Vec<(u8, Vec<Test>)> = Vec::new();
    for (lit, code) in tests {
        let byte = lit[at];
        match groups.iter_mut().find(|(b, _)| *b == byte) {
            Some((_, g)) => g.push((lit, code)),
            None => groups.push((byte, vec![(lit, code)])),
        }
    }
    groups.sort_by_key(|(b, _)| *b);
    let arms = groups.into_iter().map(|(byte, group)| {
        let byte = Literal::byte_character(byte);
        let inner = byte_dispatch(group);
        quote! {
            Some(#byte) => {
                #inner
            }
        }
    });
    let byte = match at {
        0 => quote! { rest.as_bytes().first() },
        _ => {
            let at = Literal::usize_unsuffixed(at);
            quote! { rest.as_bytes().get(#at) }
        }
    };
    quote! {
        #(#short)*
        match #byte {
            #(#arms)*
            _ => {}
        }
    }
}

/// Emits the node functions.
struct Emitter {
    strategy: Strategy,
    /// The node functions, parents first.
    fns: Vec<TokenStream>,
    /// Whether some node splits off a segment (a parameter or a hashed dispatch).
    uses_split: bool,
    /// Whether some table uses `hash`.
    uses_hash: bool,
}

impl Emitter {
    /// Emits the function of `node`, called with `rest` = the path past the `/` that ends
    /// the node's pattern, and those of the nodes below it. `depth` is the index of the
    /// node's parameter, if it has one.
    fn node(&mut self, node: &Node, depth: usize) {
        let name = format_ident!("n{}", node.id);
        let edges: Vec<Edge<'_>> = node
            .statics
            .iter()
            .map(|(t, c)| merge_chain(t, c))
            .collect();
        // A parameter's child may be a chain of single static segments too.
        let param = node.param.as_deref().map(|c| merge_chain("", c));
        let rest = quote!(rest);
        let tail = quote!(tail);
        let mut body = Vec::new();
        // Edges whose first segment is empty (a trailing slash, `//`) are never hashed.
        let (empty, full): (Vec<&Edge<'_>>, Vec<&Edge<'_>>) =
            edges.iter().partition(|e| e.head().is_empty());
        let keys: Vec<&[u8]> = full.iter().map(|e| e.head().as_bytes()).collect();
        let phf = match self.strategy.hash_min_fan_out {
            Some(min) if full.len() >= min => Phf::search(&keys),
            _ => None,
        };
        let mut split = false;
        match phf {
            Some(phf) => {
                let tests: Vec<_> = empty
                    .iter()
                    .flat_map(|e| edge_tests(&e.text, e.node, &rest))
                    .collect();
                if !tests.is_empty() {
                    body.push(byte_dispatch(tests));
                }
                body.push(quote! { let (seg, tail) = split_segment(rest); });
                split = true;
                self.uses_hash = true;
                let mut arms: Vec<(usize, TokenStream)> = full
                    .iter()
                    .map(|e| {
                        let slot = phf.slot(e.head().as_bytes());
                        let head = e.head();
                        let inner: TokenStream = edge_tests(e.tail(), e.node, &tail)
                            .into_iter()
                            .map(|(_, t)| t)
                            .collect();
                        let slot_lit = Literal::usize_unsuffixed(slot);
                        (
                            slot,
                            quote! {
                                #slot_lit if seg == #head => {
                                    #inner
                                }
                            },
                        )
                    })
                    .collect();
                arms.sort_by_key(|(slot, _)| *slot);
                let arms = arms.into_iter().map(|(_, a)| a);
                let table = format_ident!("PILOTS_N{}", node.id);
                body.push(phf.pilots_const(&table));
                let hash = phf.call(quote!(seg.as_bytes()), &table);
                body.push(quote! {
                    match #hash {
                        #(#arms)*
                        _ => {}
                    }
                });
            }
            None => {
                let tests: Vec<_> = edges
                    .iter()
                    .flat_map(|e| edge_tests(&e.text, e.node, &rest))
                    .collect();
                if !tests.is_empty() {
                    body.push(byte_dispatch(tests));
                }
            }
        }
        let index = Literal::usize_unsuffixed(depth);
        if let Some(child) = &param {
            if !split {
                body.push(quote! { let (seg, tail) = split_segment(rest); });
            }
            let next: TokenStream = edge_tests(&child.text, child.node, &tail)
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            body.push(quote! {
                if !seg.is_empty() {
                    p[#index] = seg;
                    #next
                }
            });
        }
        self.uses_split |= split || param.is_some();
        let last = match node.catch_all {
            Some(ep) => {
                let e = endpoint(ep);
                quote! {
                    p[#index] = rest;
                    Some(#e)
                }
            }
            None => quote! { None },
        };
        let doc = format!(" The path after `{}`.", node.pattern);
        self.fns.push(quote! {
            #[doc = #doc]
            #[inline(always)]
            fn #name<'p>(rest: &'p str, p: &mut [&'p str; N]) -> Option<Endpoint> {
                #(#body)*
                #last
            }
        });
        for e in &edges {
            if e.node.has_children() {
                self.node(e.node, depth);
            }
        }
        if let Some(child) = param.as_ref().filter(|c| c.node.has_children()) {
            self.node(child.node, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::parse_path;
    use crate::plan::MethodSel;

    fn plans(paths: &[&str]) -> Vec<RoutePlan> {
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| RoutePlan {
                method: MethodSel::Get,
                path: (*p).to_owned(),
                segments: parse_path(p).unwrap_or_else(|e| panic!("{p}: {}", e.message)),
                handler: format!("crate::h{i}"),
                name: None,
                summary: None,
                limits: Default::default(),
                file: "test.yaml".to_owned(),
                line: i + 1,
                cache: None,
                middleware: Vec::new(),
            })
            .collect()
    }

    const STRATEGIES: [(&str, Strategy); 5] = [
        ("auto", Strategy::AUTO),
        ("match", Strategy::MATCH),
        ("table", Strategy::TABLE),
        ("whole_path", Strategy::WHOLE_PATH),
        ("hash_nodes", Strategy::HASH_NODES),
    ];

    /// A route set and the expected match of each path: the route (or `None`) and the
    /// parameters.
    struct Case {
        routes: &'static [&'static str],
        lookups: &'static [(&'static str, Option<&'static str>, &'static [&'static str])],
    }

    /// The matching rules, one behaviour per line.
    const SEMANTICS: Case = Case {
        routes: &[
            "/",
            "/a",
            "/a/",
            "/a/b",
            "/a/{x}",
            "/a/{x}/c",
            "/a/b/d",
            "/f/{*rest}",
            "/f/static",
            "/g/{x}/{y}",
            "/g/{x}/{*rest}",
            "/h/{x}/i",
            "/h/j/k",
            "/lit/a/b/c",
            "/lit/a/b/c/",
            "/users/{id}",
            "/users/me",
            "/users/{id}/posts/{post}",
            "/user",
            "/userinfo",
            "/u/{id}/x/{*rest}",
        ],
        lookups: &[
            // Root, and paths that do not start with `/`.
            ("/", Some("/"), &[]),
            ("", None, &[]),
            ("a", None, &[]),
            ("//", None, &[]),
            // Static beats a parameter; a trailing slash is a distinct route.
            ("/a", Some("/a"), &[]),
            ("/a/", Some("/a/"), &[]),
            ("/a/b", Some("/a/b"), &[]),
            ("/a/bb", Some("/a/{x}"), &["bb"]),
            ("/a/x", Some("/a/{x}"), &["x"]),
            ("/a/b/d", Some("/a/b/d"), &[]),
            // Backtracking from the static branch `b` into the parameter branch.
            ("/a/b/c", Some("/a/{x}/c"), &["b"]),
            ("/a/x/c", Some("/a/{x}/c"), &["x"]),
            ("/a/b/d/", None, &[]),
            ("/a/x/", None, &[]),
            ("/a/x/d", None, &[]),
            // Parameters are never empty.
            ("/a//c", None, &[]),
            ("/g//y", None, &[]),
            // A catch-all takes the rest, slashes included, possibly empty; never the
            // node itself without its `/`.
            ("/f/", Some("/f/{*rest}"), &[""]),
            ("/f", None, &[]),
            ("/f/x", Some("/f/{*rest}"), &["x"]),
            ("/f/a/b/c", Some("/f/{*rest}"), &["a/b/c"]),
            ("/f/static", Some("/f/static"), &[]),
            ("/f/static/", Some("/f/{*rest}"), &["static/"]),
            ("/f/static/x", Some("/f/{*rest}"), &["static/x"]),
            ("/f//", Some("/f/{*rest}"), &["/"]),
            // A parameter beats a catch-all; an empty segment falls to the catch-all.
            ("/g/1/2", Some("/g/{x}/{y}"), &["1", "2"]),
            ("/g/1/", Some("/g/{x}/{*rest}"), &["1", ""]),
            ("/g/1/2/3", Some("/g/{x}/{*rest}"), &["1", "2/3"]),
            ("/g/1", None, &[]),
            // Backtracking at the first segment of a two-level branch.
            ("/h/j/k", Some("/h/j/k"), &[]),
            ("/h/j/i", Some("/h/{x}/i"), &["j"]),
            ("/h/z/i", Some("/h/{x}/i"), &["z"]),
            ("/h/j", None, &[]),
            // Chains of single static segments.
            ("/lit/a/b/c", Some("/lit/a/b/c"), &[]),
            ("/lit/a/b/c/", Some("/lit/a/b/c/"), &[]),
            ("/lit/a/b", None, &[]),
            ("/lit/a/b/cc", None, &[]),
            ("/lit/a/bb/c", None, &[]),
            // Prefixes of one another.
            ("/user", Some("/user"), &[]),
            ("/users", None, &[]),
            ("/userinfo", Some("/userinfo"), &[]),
            ("/users/me", Some("/users/me"), &[]),
            ("/users/mee", Some("/users/{id}"), &["mee"]),
            (
                "/users/me/posts/9",
                Some("/users/{id}/posts/{post}"),
                &["me", "9"],
            ),
            // Long and non-ASCII parameters (the eight-bytes-at-a-time search).
            (
                "/users/abcdefghijklmnopqrstuvwxyz/posts/0123456789abcdef",
                Some("/users/{id}/posts/{post}"),
                &["abcdefghijklmnopqrstuvwxyz", "0123456789abcdef"],
            ),
            ("/users/abcdefgh", Some("/users/{id}"), &["abcdefgh"]),
            (
                "/users/abcdefg/posts/12345678",
                Some("/users/{id}/posts/{post}"),
                &["abcdefg", "12345678"],
            ),
            (
                "/users/ünïcødé—ok/posts/日本",
                Some("/users/{id}/posts/{post}"),
                &["ünïcødé—ok", "日本"],
            ),
            ("/users/%2F", Some("/users/{id}"), &["%2F"]),
            ("/u/1/x/", Some("/u/{id}/x/{*rest}"), &["1", ""]),
            ("/u/1/x/y/z", Some("/u/{id}/x/{*rest}"), &["1", "y/z"]),
            ("/u/1/x", None, &[]),
        ],
    };

    /// A catch-all at the root takes every path that nothing else takes.
    const ROOT_CATCH_ALL: Case = Case {
        routes: &["/{*all}", "/x", "/x/{id}"],
        lookups: &[
            ("/", Some("/{*all}"), &[""]),
            ("/x", Some("/x"), &[]),
            ("/x/1", Some("/x/{id}"), &["1"]),
            ("/x/", Some("/{*all}"), &["x/"]),
            ("/x/1/2", Some("/{*all}"), &["x/1/2"]),
            ("/y", Some("/{*all}"), &["y"]),
            ("x", None, &[]),
        ],
    };

    /// A wide fan-out, so that every strategy builds its tables.
    const WIDE: Case = Case {
        routes: &[
            "/api/stages",
            "/api/statuses",
            "/api/steps",
            "/api/stores",
            "/api/streams",
            "/api/subscriptions",
            "/api/suppliers",
            "/api/surveys",
            "/api/sessions",
            "/api/settings",
            "/api/s",
            "/api/st",
            "/api/stat",
            "/api/{name}",
            "/api/stages/{id}",
            "/api/statuses/{id}/history",
            "/api/a-very-long-resource-name-indeed",
        ],
        lookups: &[
            ("/api/stages", Some("/api/stages"), &[]),
            ("/api/statuses", Some("/api/statuses"), &[]),
            ("/api/s", Some("/api/s"), &[]),
            ("/api/st", Some("/api/st"), &[]),
            ("/api/sta", Some("/api/{name}"), &["sta"]),
            ("/api/stat", Some("/api/stat"), &[]),
            ("/api/stats", Some("/api/{name}"), &["stats"]),
            ("/api/stages/7", Some("/api/stages/{id}"), &["7"]),
            (
                "/api/statuses/7/history",
                Some("/api/statuses/{id}/history"),
                &["7"],
            ),
            ("/api/statuses/7", None, &[]),
            (
                "/api/a-very-long-resource-name-indeed",
                Some("/api/a-very-long-resource-name-indeed"),
                &[],
            ),
            (
                "/api/a-very-long-resource-name-indeeD",
                Some("/api/{name}"),
                &["a-very-long-resource-name-indeeD"],
            ),
            ("/api/", None, &[]),
            ("/api", None, &[]),
        ],
    };

    /// Compiles the generated matcher of each case under each strategy into one program
    /// (with `rustc`, debug assertions and overflow checks on), runs it, and checks every
    /// lookup.
    #[test]
    fn generated_code_follows_the_matching_rules() {
        let cases = [
            ("semantics", &SEMANTICS),
            ("root", &ROOT_CATCH_ALL),
            ("wide", &WIDE),
        ];
        let mut modules = Vec::new();
        let mut calls = Vec::new();
        let mut expected = Vec::new();
        for (case_name, case) in &cases {
            let routes = plans(case.routes);
            for (strategy_name, strategy) in STRATEGIES {
                let m = build_with(&routes, strategy);
                let module = format_ident!("{case_name}_{strategy_name}");
                let variants = (0..m.endpoints.len()).map(|i| format_ident!("E{i}"));
                let n = m.max_params;
                let items = &m.items;
                modules.push(quote! {
                    #[allow(warnings)]
                    mod #module {
                        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
                        pub enum Endpoint { #(#variants,)* }
                        pub const N: usize = #n;
                        #items
                    }
                });
                for (path, want, params) in case.lookups {
                    calls.push(quote! {
                        run::<{ #module::N }>(|p| #module::find(#path, p).map(|e| e as usize));
                    });
                    let want = want.map(|w| {
                        let ep = m
                            .endpoints
                            .iter()
                            .position(|e| case.routes[e.routes[0]] == w)
                            .expect("expected route exists");
                        format!("{ep} {}", params.join("|"))
                    });
                    expected.push((
                        format!("{case_name}/{strategy_name} {path:?}"),
                        want.unwrap_or_else(|| "none".to_owned()),
                        params.len(),
                    ));
                }
            }
        }
        let program = quote! {
            #(#modules)*

            /// Prints `endpoint p0|p1|…` (all N parameters) or `none`, one line per lookup.
            fn run<const N: usize>(find: impl Fn(&mut [&'static str; N]) -> Option<usize>) {
                let mut p = [""; N];
                match find(&mut p) {
                    Some(e) => println!("{e} {}", p.join("|")),
                    None => println!("none"),
                }
            }

            fn main() {
                #(#calls)*
            }
        };
        let dir = std::env::temp_dir().join(format!("ember-router-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let src = dir.join("matcher.rs");
        std::fs::write(&src, program.to_string()).expect("write program");
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let exe = dir.join("matcher");
        let out = std::process::Command::new(&rustc)
            .args([
                "--edition",
                "2021",
                "-C",
                "debug-assertions=on",
                "-C",
                "overflow-checks=on",
                "-o",
            ])
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("run rustc");
        assert!(
            out.status.success(),
            "the generated matchers do not compile:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = std::process::Command::new(&exe)
            .output()
            .expect("run the program");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let stdout = String::from_utf8(run.stdout).expect("utf-8");
        let got: Vec<&str> = stdout.lines().collect();
        assert_eq!(got.len(), expected.len());
        let mut failures = Vec::new();
        for (line, (what, want, k)) in got.iter().zip(&expected) {
            // Only the matched route's parameters are meaningful.
            let got = match line.split_once(' ') {
                Some((e, params)) => {
                    let params: Vec<&str> = params.split('|').take(*k).collect();
                    format!("{e} {}", params.join("|"))
                }
                None => (*line).to_owned(),
            };
            if &got != want {
                failures.push(format!("{what}: got `{got}`, want `{want}`"));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn code(routes: &[&str], strategy: Strategy) -> String {
        build_with(&plans(routes), strategy).items.to_string()
    }

    #[test]
    fn statics_are_compared_as_whole_literals_without_a_split() {
        let c = code(&["/users/me", "/users/{id}", "/events"], Strategy::AUTO);
        assert!(c.contains(r#"rest == "events""#), "{c}");
        assert!(c.contains(r#"rest . strip_prefix ("users/")"#), "{c}");
        assert!(c.contains(r#"rest == "me""#), "{c}");
        assert!(c.contains("split_segment (rest)"), "{c}");
        // The default strategy needs no hash.
        assert!(!c.contains("fn hash"), "{c}");
    }

    #[test]
    fn chains_of_single_segments_are_one_literal() {
        let c = code(&["/a/b/c/d", "/x/{id}/y/z"], Strategy::AUTO);
        assert!(c.contains(r#"rest == "a/b/c/d""#), "{c}");
        assert!(c.contains(r#"tail == "/y/z""#), "{c}");
        // Nothing to split without a parameter or a table.
        let c = code(&["/a/b", "/c"], Strategy::AUTO);
        assert!(!c.contains("split_segment"), "{c}");
    }

    #[test]
    fn wide_fan_outs_dispatch_on_the_first_differing_byte() {
        let c = code(
            &[
                "/stages",
                "/statuses",
                "/steps",
                "/stores",
                "/streams",
                "/subs",
            ],
            Strategy::AUTO,
        );
        // All start with `s`: the first dispatch is on the second byte.
        assert!(c.contains("rest . as_bytes () . get (1)"), "{c}");
        assert!(c.contains("rest . as_bytes () . get (2)"), "{c}");
    }

    #[test]
    fn tables_are_perfect_and_deterministic() {
        let words: Vec<String> = (0..300).map(|i| format!("resource-{i:03}")).collect();
        let keys: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let phf = Phf::search(&keys).expect("a perfect hash");
        let mut slots: Vec<usize> = keys.iter().map(|k| phf.slot(k)).collect();
        assert!(slots.iter().all(|&s| s < 1 << phf.bits));
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), keys.len(), "collision");
        assert_eq!(Phf::search(&keys), Some(phf));
        // Short keys that differ in one byte hash apart; equal keys cannot be separated.
        let short: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"ab",
            b"ba",
            b"abc",
            b"abcd",
            b"abce",
            b"0123456789abcdefghijklmn",
        ];
        let mut h: Vec<u64> = short.iter().map(|k| key_hash(k)).collect();
        h.sort_unstable();
        h.dedup();
        assert_eq!(h.len(), short.len());
        assert_eq!(Phf::search(&[b"x", b"x"]), None);
    }

    #[test]
    fn auto_uses_the_whole_path_table_only_for_many_static_routes() {
        let many: Vec<String> = (0..300).map(|i| format!("/page/{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let c = code(&many, Strategy::AUTO);
        assert!(c.contains("fn static_route"), "{c}");
        // The trie forgets what the table holds.
        assert!(!c.contains(r#"strip_prefix ("page/")"#), "{c}");
        let c = code(&many[..100], Strategy::AUTO);
        assert!(!c.contains("fn static_route"), "{c}");
    }

    #[test]
    fn generation_is_deterministic() {
        let routes = SEMANTICS.routes;
        for (_, strategy) in STRATEGIES {
            assert_eq!(code(routes, strategy), code(routes, strategy));
        }
    }
}
