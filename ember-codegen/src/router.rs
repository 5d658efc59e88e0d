//! The path matcher: a segment trie compiled into nested functions over `&str`.
//!
//! Input: the routes. Output: the items of a `find(path, &mut params) -> Option<Endpoint>`
//! function (generated inside the router module, next to a `const N` = most parameters of
//! any route), and the endpoints, each with the routes (indices) that end there.
//!
//! Matching rules: a path is split at `/`; static segments win over a parameter, a
//! parameter (never empty) over a catch-all (the rest, possibly empty), with backtracking
//! when a more specific branch fails further down. Parameters are positional: the k-th
//! parameter on the matched path is written to `params[k]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::path::Segment;
use crate::plan::RoutePlan;

/// A node of the segment trie.
#[derive(Default)]
struct Node {
    id: usize,
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

/// Builds the matcher for `routes`.
pub(crate) fn build(routes: &[RoutePlan]) -> Matcher {
    // Build the trie and the endpoints.
    let mut root = Node::default();
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut next_id = 1;
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
                                ..Node::default()
                            };
                            next_id += 1;
                            node.statics.push((text.clone(), child));
                            node.statics.len() - 1
                        }
                    };
                    node = &mut node.statics[idx].1;
                }
                Segment::Param { .. } => {
                    if node.param.is_none() {
                        node.param = Some(Box::new(Node {
                            id: next_id,
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
    let mut node_fns = Vec::new();
    emit_node(&root, 0, &mut node_fns);
    let items = quote! {
        /// Matches a raw path, filling `p` with the parameters' raw text in path order.
        #[inline]
        pub fn find<'p>(path: &'p str, p: &mut [&'p str; N]) -> Option<Endpoint> {
            n0(path.strip_prefix('/'), p)
        }

        #(#node_fns)*
    };
    Matcher {
        items,
        endpoints,
        max_params,
    }
}

fn emit_node(node: &Node, depth: usize, out: &mut Vec<TokenStream>) {
    let name = format_ident!("n{}", node.id);
    let on_end = match node.end {
        Some(ep) => {
            let v = format_ident!("E{ep}");
            quote! { return Some(Endpoint::#v) }
        }
        None => quote! { return None },
    };
    let needs_split = !node.statics.is_empty() || node.param.is_some();
    let split = if needs_split {
        quote! {
            let (seg, tail) = match rest.find('/') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
        }
    } else {
        quote! {}
    };
    let statics = if node.statics.is_empty() {
        quote! {}
    } else {
        let arms = node.statics.iter().map(|(text, child)| {
            let f = format_ident!("n{}", child.id);
            quote! { #text => if let Some(e) = #f(tail, p) { return Some(e); } }
        });
        quote! { match seg { #(#arms)* _ => {} } }
    };
    let param = match &node.param {
        Some(child) => {
            let f = format_ident!("n{}", child.id);
            quote! {
                if !seg.is_empty() {
                    p[#depth] = seg;
                    if let Some(e) = #f(tail, p) { return Some(e); }
                }
            }
        }
        None => quote! {},
    };
    let catch_all = match node.catch_all {
        Some(ep) => {
            let v = format_ident!("E{ep}");
            quote! { p[#depth] = rest; return Some(Endpoint::#v); }
        }
        None => quote! { None },
    };
    out.push(quote! {
        #[inline]
        fn #name<'p>(rest: Option<&'p str>, p: &mut [&'p str; N]) -> Option<Endpoint> {
            let Some(rest) = rest else { #on_end };
            #split
            #statics
            #param
            #catch_all
        }
    });
    for (_, child) in &node.statics {
        emit_node(child, depth, out);
    }
    if let Some(child) = &node.param {
        emit_node(child, depth + 1, out);
    }
}
