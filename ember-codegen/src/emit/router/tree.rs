//! The segment trie written as nested functions over the path's bytes.

use super::Node;
use crate::code::{Byte, Code, Doc, Str, close, open, w};

/// A static edge after merging chains: its text (segments joined by `/`) and the node at
/// its end.
struct Edge<'a> {
    text: String,
    node: &'a Node,
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
    pub(super) fn has_children(&self) -> bool {
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
    pub(super) fn write(&self, c: &mut Code, names: &[String]) {
        let (on, lit) = (self.on, Str(&self.lit));
        match self.kind {
            TestKind::End(ep) => {
                if self.lit.is_empty() {
                    open!(c, "if {on}.is_empty() {{");
                } else {
                    open!(c, "if {on} == {lit} {{");
                }
                w!(c, "return Some(Endpoint::{});", names[ep]);
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
fn byte_dispatch(c: &mut Code, mut tests: Vec<Test>, names: &[String]) {
    if tests.len() <= MAX_SEQUENTIAL {
        for t in &tests {
            t.write(c, names);
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
        t.write(c, names);
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
        byte_dispatch(c, group, names);
        close!(c, "}}");
    }
    w!(c, "_ => {{}}");
    close!(c, "}}");
}

/// Writes the node functions.
pub(super) struct Emitter<'n> {
    /// The `Endpoint` variant of each endpoint.
    pub(super) names: &'n [String],
    /// Whether some node splits off a segment (a parameter or a hashed dispatch).
    pub(super) uses_split: bool,
}

impl Emitter<'_> {
    /// Writes the function of `node`, called with `rest` = the path past the `/` that ends
    /// the node's pattern, and those of the nodes below it. `depth` is the index of the
    /// node's parameter, if it has one.
    pub(super) fn node(&mut self, c: &mut Code, node: &Node, depth: usize) {
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
        let tests: Vec<Test> = edges
            .iter()
            .flat_map(|e| edge_tests(&e.text, e.node, "rest"))
            .collect();
        byte_dispatch(c, tests, self.names);
        if let Some(child) = &param {
            w!(c, "let (seg, tail) = split_segment(rest);");
            open!(c, "if !seg.is_empty() {{");
            w!(c, "p[{depth}] = seg;");
            for t in edge_tests(&child.text, child.node, "tail") {
                t.write(c, self.names);
            }
            close!(c, "}}");
        }
        self.uses_split |= param.is_some();
        match node.catch_all {
            Some(ep) => {
                w!(c, "p[{depth}] = rest;");
                w!(c, "Some(Endpoint::{})", self.names[ep]);
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
