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
//! A perfect-hash technique is there too, for where it wins (see
//! [`RouterStrategy`](super::RouterStrategy)): a whole-path table of the fully static routes
//! (`static_route`: one hash of the path, one comparison; those routes then leave the
//! trie). The hash is cheap, not SipHash: the length and the first, middle and last eight
//! bytes, mixed by multiplications; the slot comes from a seed and a per-bucket "pilot"
//! that the generator searched until no two keys collide (the CHD / PTHash construction).

mod phf;
mod tree;

use super::RouterStrategy;
use crate::code::{Code, close, open, w};
use crate::path::Segment;
use crate::plan::{MethodSel, RoutePlan};
use phf::{Phf, emit_static_table};
use tree::Emitter;

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
    /// Endpoints in `Endpoint` order.
    pub(crate) endpoints: Vec<Endpoint>,
    /// Each endpoint's `Endpoint` variant (see [`endpoint_names`]).
    pub(crate) names: Vec<String>,
    /// The most parameters any route has (at least 1).
    pub(crate) max_params: usize,
    /// The trie, without what the whole-path table holds.
    root: Node,
    /// The fully static routes' paths and endpoints, with their perfect hash, when they
    /// are looked up as whole paths first.
    static_table: Option<(Vec<(String, usize)>, Phf)>,
}

/// Builds the matcher for `routes` with the given strategy.
pub(crate) fn build(routes: &[RoutePlan], strategy: RouterStrategy) -> Matcher {
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
        .whole_path_min_routes()
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
    let names = endpoint_names(&endpoints, routes);
    Matcher {
        names,
        endpoints,
        max_params,
        root,
        static_table,
    }
}

/// The `Endpoint` variant names: each endpoint's methods, then its path, in CamelCase
/// (`GET /users/{id}` → `GetUsersId`, `GET` and `POST /users` → `GetPostUsers`, `/` →
/// `Root`). Unique and deterministic: a name already taken gets `2`, `3`, … appended.
fn endpoint_names(endpoints: &[Endpoint], routes: &[RoutePlan]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(endpoints.len());
    for ep in endpoints {
        let mut methods: Vec<MethodSel> = ep.routes.iter().map(|&r| routes[r].method).collect();
        methods.sort();
        methods.dedup();
        let mut base = String::new();
        for m in methods {
            camel(&mut base, m.keyword());
        }
        let path = ep.routes.first().map_or("", |&r| routes[r].path.as_str());
        let before = base.len();
        let (mut in_param, mut in_type) = (false, false);
        let mut word = String::new();
        for ch in path.chars().chain(['/']) {
            if in_type {
                // `{id:u64}`: the type is not part of the name.
                in_type = ch != '}';
                in_param = in_type;
                continue;
            }
            if ch.is_ascii_alphanumeric() {
                word.push(ch);
                continue;
            }
            camel(&mut base, &word);
            word.clear();
            match ch {
                '{' => in_param = true,
                '}' => in_param = false,
                ':' if in_param => in_type = true,
                _ => {}
            }
        }
        if base.len() == before {
            base.push_str("Root");
        }
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}

/// Appends `word` to `out`, its first letter upper-case and the rest lower-case where the
/// word is all upper-case (`GET` → `Get`, `userId` → `UserId`).
fn camel(out: &mut String, word: &str) {
    let upper = word.chars().all(|c| !c.is_ascii_lowercase());
    for (i, c) in word.chars().enumerate() {
        match (i, upper) {
            (0, _) => out.push(c.to_ascii_uppercase()),
            (_, true) => out.push(c.to_ascii_lowercase()),
            (_, false) => out.push(c),
        }
    }
}

impl Matcher {
    /// Writes the matcher's items: `find` and the functions it calls. Returns which of
    /// the runtime's router helpers (`::ember_runtime::__private::router`) they use.
    pub(crate) fn write(&self, c: &mut Code) -> Helpers {
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
            emit_static_table(c, paths, phf, &self.names);
        }
        let mut em = Emitter {
            names: &self.names,
            uses_split: false,
        };
        em.node(c, &self.root, 0);
        Helpers {
            split_segment: em.uses_split,
            hash: self.static_table.is_some(),
        }
    }
}

/// Which of the runtime's router helpers generated code calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Helpers {
    /// `split_segment`.
    pub(crate) split_segment: bool,
    /// `hash` and `slot`.
    pub(crate) hash: bool,
}

impl Helpers {
    /// The `use` item that brings them into the generated router module, if any.
    pub(crate) fn use_item(self) -> Option<String> {
        let names: Vec<&str> = [
            (self.hash, "hash"),
            (self.hash, "slot"),
            (self.split_segment, "split_segment"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        match names.as_slice() {
            [] => None,
            [one] => Some(format!("use ::ember_runtime::__private::router::{one};")),
            many => Some(format!(
                "use ::ember_runtime::__private::router::{{{}}};",
                many.join(", ")
            )),
        }
    }
}

/// Text of `split_segment`: the copy in `ember-runtime/src/router_support.rs` must match
/// (`tests/router_support.rs`).
#[cfg(test)]
const SPLIT_SEGMENT: &str = include_str!("snippets/split_segment.rs");
/// Text of `hash` and `slot` (and their constants), likewise.
#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::Str;
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
                ai: None,
            })
            .collect()
    }

    const STRATEGIES: [(&str, RouterStrategy); 3] = [
        ("auto", RouterStrategy::Auto),
        ("match", RouterStrategy::Match),
        ("whole_path", RouterStrategy::WholePath),
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
                let m = build(&routes, strategy);
                let module = format!("{case_name}_{strategy_name}");
                w!(program, "#[allow(warnings)]");
                open!(program, "mod {module} {{");
                w!(program, "#[derive(Clone, Copy, Debug, PartialEq, Eq)]");
                let variants: Vec<String> = m.names.iter().map(|n| format!("{n},")).collect();
                w!(program, "pub enum Endpoint {{ {} }}", variants.join(" "));
                w!(program, "pub const N: usize = {};", m.max_params);
                let helpers = m.write(&mut program);
                // What generated code imports from `ember_runtime::__private::router`.
                if helpers.split_segment {
                    program.snippet(SPLIT_SEGMENT);
                }
                if helpers.hash {
                    program.snippet(HASH_FNS);
                }
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

    fn code(routes: &[&str], strategy: RouterStrategy) -> String {
        let mut c = Code::new();
        build(&plans(routes), strategy).write(&mut c);
        c.finish()
    }

    #[test]
    fn statics_are_compared_as_whole_literals_without_a_split() {
        let c = code(
            &["/users/me", "/users/{id}", "/events"],
            RouterStrategy::Auto,
        );
        assert!(c.contains(r#"rest == "events""#), "{c}");
        assert!(c.contains(r#"rest.strip_prefix("users/")"#), "{c}");
        assert!(c.contains(r#"rest == "me""#), "{c}");
        assert!(c.contains("split_segment(rest)"), "{c}");
        // The default strategy needs no hash.
        assert!(!c.contains("fn hash"), "{c}");
    }

    #[test]
    fn chains_of_single_segments_are_one_literal() {
        let c = code(&["/a/b/c/d", "/x/{id}/y/z"], RouterStrategy::Auto);
        assert!(c.contains(r#"rest == "a/b/c/d""#), "{c}");
        assert!(c.contains(r#"tail == "/y/z""#), "{c}");
        // Nothing to split without a parameter or a table.
        let c = code(&["/a/b", "/c"], RouterStrategy::Auto);
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
            RouterStrategy::Auto,
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
        let c = code(&many, RouterStrategy::Auto);
        assert!(c.contains("fn static_route"), "{c}");
        // The trie forgets what the table holds.
        assert!(!c.contains(r#"strip_prefix("page/")"#), "{c}");
        let c = code(&many[..100], RouterStrategy::Auto);
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
