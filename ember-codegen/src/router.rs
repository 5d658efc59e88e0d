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

use crate::code::{Byte, ByteStr, Code, Doc, Str, close, open, w};

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

/// The matcher to generate; [`Matcher::write`] writes its code.
pub(crate) struct Matcher {
    /// Endpoints in `Endpoint::E{i}` order.
    pub(crate) endpoints: Vec<Endpoint>,
    /// The most parameters any route has (at least 1).
    pub(crate) max_params: usize,
    /// The trie, without what the whole-path table holds.
    root: Node,
    /// The fully static routes' paths and endpoints, with their perfect hash, when they
    /// are looked up as whole paths first.
    static_table: Option<(Vec<(String, usize)>, Phf)>,
    strategy: Strategy,
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
            static_table = Some((static_paths, phf));
        }
    }
    prune(&mut root);
    Matcher {
        endpoints,
        max_params,
        root,
        static_table,
        strategy,
    }
}

impl Matcher {
    /// Writes the matcher's items: `find` and its helpers.
    pub(crate) fn write(&self, c: &mut Code) {
        w!(
            c,
            "/// Matches a raw path, filling `p` with the parameters' raw text in path order."
        );
        w!(c, "#[inline(always)]");
        open!(
            c,
            "pub fn find<'p>(path: &'p str, p: &mut [&'p str; N]) -> Option<Endpoint> {{"
        );
        w!(c, "let rest = path.strip_prefix('/')?;");
        if self.static_table.is_some() {
            open!(c, "if let Some(e) = static_route(path.as_bytes()) {{");
            w!(c, "return Some(e);");
            close!(c, "}}");
        }
        w!(c, "n0(rest, p)");
        close!(c, "}}");
        if let Some((paths, phf)) = &self.static_table {
            c.blank();
            emit_static_table(c, paths, phf);
        }
        let mut em = Emitter {
            strategy: self.strategy,
            uses_split: false,
            uses_hash: self.static_table.is_some(),
        };
        em.node(c, &self.root, 0);
        if em.uses_split {
            c.blank();
            c.snippet(SPLIT_SEGMENT);
        }
        if em.uses_hash {
            c.blank();
            c.snippet(HASH_FNS);
        }
    }
}

/// Text of `split_segment`, for generated code.
const SPLIT_SEGMENT: &str = include_str!("snippets/split_segment.rs");
/// Text of `hash` and `slot` (and their constants), for generated code.
const HASH_FNS: &str = include_str!("snippets/hash.rs");

// `hash` and `slot` at generation time: the very functions the generated code gets.
include!("snippets/hash.rs");

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
    /// The slot of key `x`.
    fn slot(&self, x: &[u8]) -> usize {
        slot(hash(x), self.seed, &self.pilots, self.bits)
    }

    /// Searches a perfect hash of `keys` (distinct) into a table at most 3/4 full.
    fn search(keys: &[&[u8]]) -> Option<Phf> {
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
    fn call(&self, x: &str, table: &str) -> String {
        format!("slot(hash({x}), {}, &{table}, {})", self.seed, self.bits)
    }

    /// Writes the const holding the pilots.
    fn pilots_const(&self, c: &mut Code, table: &str) {
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
fn emit_static_table(c: &mut Code, static_paths: &[(String, usize)], phf: &Phf) {
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
            Some((path, ep)) => w!(c, "({}, Some(Endpoint::E{ep})),", ByteStr(path.as_bytes())),
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

/// A test of `rest` (or `tail`) against a literal: the literal's bytes (whose first byte a
/// dispatch can switch on) and what the test does.
struct Test {
    /// The literal compared.
    lit: String,
    /// The variable tested: `rest` or `tail`.
    on: &'static str,
    /// `None`: the path must end with the literal, at this endpoint. `Some(node)`: the
    /// literal ends with `/` and the rest goes on into that node's function.
    kind: TestKind,
}

/// What a [`Test`] does when its literal matches.
#[derive(Clone, Copy)]
enum TestKind {
    /// The path ends here, at this endpoint.
    End(usize),
    /// The path goes on into this node's function (`nK`).
    Descend(usize),
}

impl Test {
    /// Writes the test.
    fn write(&self, c: &mut Code) {
        let (on, lit) = (self.on, Str(&self.lit));
        match self.kind {
            TestKind::End(ep) => {
                if self.lit.is_empty() {
                    open!(c, "if {on}.is_empty() {{");
                } else {
                    open!(c, "if {on} == {lit} {{");
                }
                w!(c, "return Some(Endpoint::E{ep});");
                close!(c, "}}");
            }
            TestKind::Descend(id) => {
                open!(c, "if let Some(rest) = {on}.strip_prefix({lit}) {{");
                open!(c, "if let Some(e) = n{id}(rest, p) {{");
                w!(c, "return Some(e);");
                close!(c, "}}");
                close!(c, "}}");
            }
        }
    }
}

/// The tests that `on` starts with the literal `text` and then ends there (if `node` is an
/// endpoint) or goes on past a `/` into `node`.
fn edge_tests(text: &str, node: &Node, on: &'static str) -> Vec<Test> {
    let mut tests = Vec::new();
    if let Some(ep) = node.end {
        tests.push(Test {
            lit: text.to_owned(),
            on,
            kind: TestKind::End(ep),
        });
    }
    if node.has_children() {
        tests.push(Test {
            lit: format!("{text}/"),
            on,
            kind: TestKind::Descend(node.id),
        });
    }
    tests
}

/// At most this many tests run one after the other; more are split by a `match` on a byte.
const MAX_SEQUENTIAL: usize = 3;

/// Tests of `rest` against literals, dispatched by `match` on the byte at which the
/// literals first differ (the first byte, or the one after their common prefix), then
/// recursively within each arm while an arm has more than [`MAX_SEQUENTIAL`] tests.
/// Each test still compares its whole literal: the dispatch only picks the candidates.
fn byte_dispatch(c: &mut Code, mut tests: Vec<Test>) {
    if tests.len() <= MAX_SEQUENTIAL {
        for t in &tests {
            t.write(c);
        }
        return;
    }
    let first = tests[0].lit.clone().into_bytes();
    let at = tests.iter().fold(first.len(), |n, t| {
        n.min(
            t.lit
                .bytes()
                .zip(&first)
                .take_while(|(a, b)| a == *b)
                .count(),
        )
    });
    // A literal that is all common prefix may be followed by anything: test it first.
    for t in tests.iter().filter(|t| t.lit.len() == at) {
        t.write(c);
    }
    tests.retain(|t| t.lit.len() > at);
    let mut groups: Vec<(u8, Vec<Test>)> = Vec::new();
    for t in tests {
        let byte = t.lit.as_bytes()[at];
        match groups.iter_mut().find(|(b, _)| *b == byte) {
            Some((_, g)) => g.push(t),
            None => groups.push((byte, vec![t])),
        }
    }
    groups.sort_by_key(|(b, _)| *b);
    match at {
        0 => open!(c, "match rest.as_bytes().first() {{"),
        _ => open!(c, "match rest.as_bytes().get({at}) {{"),
    }
    for (byte, group) in groups {
        open!(c, "Some({}) => {{", Byte(byte));
        byte_dispatch(c, group);
        close!(c, "}}");
    }
    w!(c, "_ => {{}}");
    close!(c, "}}");
}

/// Writes the node functions.
struct Emitter {
    strategy: Strategy,
    /// Whether some node splits off a segment (a parameter or a hashed dispatch).
    uses_split: bool,
    /// Whether some table uses `hash`.
    uses_hash: bool,
}

impl Emitter {
    /// Writes the function of `node`, called with `rest` = the path past the `/` that ends
    /// the node's pattern, and those of the nodes below it. `depth` is the index of the
    /// node's parameter, if it has one.
    fn node(&mut self, c: &mut Code, node: &Node, depth: usize) {
        let edges: Vec<Edge<'_>> = node
            .statics
            .iter()
            .map(|(t, c)| merge_chain(t, c))
            .collect();
        // A parameter's child may be a chain of single static segments too.
        let param = node.param.as_deref().map(|c| merge_chain("", c));
        c.blank();
        w!(c, "/// The path after `{}`.", Doc(&node.pattern));
        w!(c, "#[inline(always)]");
        open!(
            c,
            "fn n{}<'p>(rest: &'p str, p: &mut [&'p str; N]) -> Option<Endpoint> {{",
            node.id
        );
        // Edges whose first segment is empty (a trailing slash, `//`) are never hashed.
        let (empty, full): (Vec<&Edge<'_>>, Vec<&Edge<'_>>) =
            edges.iter().partition(|e| e.head().is_empty());
        let keys: Vec<&[u8]> = full.iter().map(|e| e.head().as_bytes()).collect();
        let phf = match self.strategy.hash_min_fan_out {
            Some(min) if full.len() >= min => Phf::search(&keys),
            _ => None,
        };
        let split = phf.is_some();
        match phf {
            Some(phf) => {
                let tests: Vec<Test> = empty
                    .iter()
                    .flat_map(|e| edge_tests(&e.text, e.node, "rest"))
                    .collect();
                byte_dispatch(c, tests);
                w!(c, "let (seg, tail) = split_segment(rest);");
                self.uses_hash = true;
                let table = format!("PILOTS_N{}", node.id);
                phf.pilots_const(c, &table);
                let mut arms: Vec<(usize, &Edge<'_>)> = full
                    .iter()
                    .map(|e| (phf.slot(e.head().as_bytes()), *e))
                    .collect();
                arms.sort_by_key(|(slot, _)| *slot);
                open!(c, "match {} {{", phf.call("seg.as_bytes()", &table));
                for (slot, e) in arms {
                    open!(c, "{slot} if seg == {} => {{", Str(e.head()));
                    for t in edge_tests(e.tail(), e.node, "tail") {
                        t.write(c);
                    }
                    close!(c, "}}");
                }
                w!(c, "_ => {{}}");
                close!(c, "}}");
            }
            None => {
                let tests: Vec<Test> = edges
                    .iter()
                    .flat_map(|e| edge_tests(&e.text, e.node, "rest"))
                    .collect();
                byte_dispatch(c, tests);
            }
        }
        if let Some(child) = &param {
            if !split {
                w!(c, "let (seg, tail) = split_segment(rest);");
            }
            open!(c, "if !seg.is_empty() {{");
            w!(c, "p[{depth}] = seg;");
            for t in edge_tests(&child.text, child.node, "tail") {
                t.write(c);
            }
            close!(c, "}}");
        }
        self.uses_split |= split || param.is_some();
        match node.catch_all {
            Some(ep) => {
                w!(c, "p[{depth}] = rest;");
                w!(c, "Some(Endpoint::E{ep})");
            }
            None => w!(c, "None"),
        }
        close!(c, "}}");
        for e in &edges {
            if e.node.has_children() {
                self.node(c, e.node, depth);
            }
        }
        if let Some(child) = param.as_ref().filter(|c| c.node.has_children()) {
            self.node(c, child.node, depth + 1);
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
        let mut program = Code::new();
        let mut calls = Vec::new();
        let mut expected = Vec::new();
        for (case_name, case) in &cases {
            let routes = plans(case.routes);
            for (strategy_name, strategy) in STRATEGIES {
                let m = build_with(&routes, strategy);
                let module = format!("{case_name}_{strategy_name}");
                w!(program, "#[allow(warnings)]");
                open!(program, "mod {module} {{");
                w!(program, "#[derive(Clone, Copy, Debug, PartialEq, Eq)]");
                let variants: Vec<String> =
                    (0..m.endpoints.len()).map(|i| format!("E{i},")).collect();
                w!(program, "pub enum Endpoint {{ {} }}", variants.join(" "));
                w!(program, "pub const N: usize = {};", m.max_params);
                m.write(&mut program);
                close!(program, "}}");
                for (path, want, params) in case.lookups {
                    calls.push(format!(
                        "run::<{{ {module}::N }}>(|p| {module}::find({}, p).map(|e| e as usize));",
                        Str(path)
                    ));
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
        program.text(
            r#"
            /// Prints `endpoint p0|p1|…` (all N parameters) or `none`, one line per lookup.
            fn run<const N: usize>(find: impl Fn(&mut [&'static str; N]) -> Option<usize>) {
                let mut p = [""; N];
                match find(&mut p) {
                    Some(e) => println!("{e} {}", p.join("|")),
                    None => println!("none"),
                }
            }
            "#,
        );
        open!(program, "fn main() {{");
        for call in &calls {
            w!(program, "{call}");
        }
        close!(program, "}}");
        let program = program.finish();
        let dir = std::env::temp_dir().join(format!("ember-router-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let src = dir.join("matcher.rs");
        std::fs::write(&src, program).expect("write program");
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
        let mut c = Code::new();
        build_with(&plans(routes), strategy).write(&mut c);
        c.finish()
    }

    #[test]
    fn statics_are_compared_as_whole_literals_without_a_split() {
        let c = code(&["/users/me", "/users/{id}", "/events"], Strategy::AUTO);
        assert!(c.contains(r#"rest == "events""#), "{c}");
        assert!(c.contains(r#"rest.strip_prefix("users/")"#), "{c}");
        assert!(c.contains(r#"rest == "me""#), "{c}");
        assert!(c.contains("split_segment(rest)"), "{c}");
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
        assert!(c.contains("rest.as_bytes().get(1)"), "{c}");
        assert!(c.contains("rest.as_bytes().get(2)"), "{c}");
    }

    include!("snippets/split_segment.rs");

    #[test]
    fn split_segment_finds_the_first_slash_at_any_offset() {
        let text = "abcdefghijklmnopqrstuvwxyz0123456789-ü/";
        for len in 0..text.len() {
            let Some(s) = text.get(..len) else { continue };
            for at in (0..=s.len()).filter(|&i| s.is_char_boundary(i)) {
                let path = format!("{}/{}", &s[..at], &s[at..]);
                let want = path.split_at(path.find('/').unwrap_or(path.len()));
                assert_eq!(split_segment(&path), want, "{path:?}");
            }
            let want = (s, "");
            assert_eq!(split_segment(s), want, "{s:?}");
        }
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
        let mut h: Vec<u64> = short.iter().map(|k| hash(k)).collect();
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
        assert!(!c.contains(r#"strip_prefix("page/")"#), "{c}");
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
