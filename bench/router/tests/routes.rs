//! Every request path of every route set reaches its own route with the right parameters,
//! through each generator strategy; and matchit and path-tree agree, so that the benchmark
//! compares routers doing the same work.

use ember_router_bench::{deep_static, expected_params, github, many_static, to_path_tree, wide};

macro_rules! check {
    ($set:ident :: $m:ident) => {{
        use $set::$m::__ember_router::{ENDPOINT_PATHS, N, find};
        let name = concat!(stringify!($set), "::", stringify!($m));
        let routes = $set::routes();
        let paths = $set::paths();
        assert_eq!(routes.len(), paths.len(), "{name}");
        for (route, path) in routes.iter().zip(&paths) {
            let mut p = [""; N];
            let e = find(path, &mut p).unwrap_or_else(|| panic!("{name}: {path} matched nothing"));
            assert_eq!(ENDPOINT_PATHS[e.index()], *route, "{name}: {path}");
            let want = expected_params(route);
            assert_eq!(&p[..want.len()], &want[..], "{name}: {path}");
            // A path that is one of these plus a segment matches nothing (no catch-alls).
            let longer = format!("{path}/x/y/z");
            assert_eq!(find(&longer, &mut p), None, "{name}: {longer}");
        }
    }};
}

macro_rules! strategies {
    ($($set:ident),*) => {$(
        #[test]
        fn $set() {
            check!($set::auto);
            check!($set::match_);
            check!($set::whole_path);
        }
    )*};
}

strategies!(github, wide, deep_static, many_static);

#[test]
fn github_set_is_the_shared_data() {
    assert_eq!(github::routes().len(), 130);
    assert_eq!(github::paths().len(), 130);
}

#[test]
fn peers_agree() {
    for (routes, paths) in [
        (github::routes(), github::paths()),
        (wide::routes(), wide::paths()),
        (deep_static::routes(), deep_static::paths()),
        (many_static::routes(), many_static::paths()),
    ] {
        let mut mi = matchit::Router::new();
        let mut pt = path_tree::PathTree::new();
        for (i, r) in routes.iter().enumerate() {
            mi.insert(*r, i).expect("matchit insert");
            let _ = pt.insert(&to_path_tree(r), i);
        }
        for (i, path) in paths.iter().enumerate() {
            let want = expected_params(routes[i]);
            let m = mi.at(path).expect("matchit match");
            assert_eq!(*m.value, i, "matchit: {path}");
            let got: Vec<&str> = m.params.iter().map(|(_, v)| v).collect();
            assert_eq!(got, want, "matchit: {path}");
            let (v, pp) = pt.find(path).expect("path-tree match");
            assert_eq!(*v, i, "path-tree: {path}");
            let got: Vec<&str> = pp.params().iter().map(|(_, v)| *v).collect();
            assert_eq!(got, want, "path-tree: {path}");
        }
    }
}
