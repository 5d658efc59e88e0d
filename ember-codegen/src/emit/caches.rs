//! The caches the spec declares, built once per process.

use crate::code::{Code, Millis, Str, close, open, w};
use crate::plan::{CacheKind, Plan, RoutePlan};

/// The app's caches: one process-wide instance, made on first use.
pub(super) fn emit_caches(c: &mut Code, plan: &Plan) {
    if plan.caches.is_empty() {
        return;
    }
    w!(c, "/// The caches declared in the spec (`App::caches()`).");
    open!(
        c,
        "pub static CACHES: ::std::sync::LazyLock<::ember_runtime::__private::cache::Caches> = ::std::sync::LazyLock::new(|| {{"
    );
    open!(
        c,
        "::ember_runtime::__private::cache::Caches::new(::std::vec!["
    );
    for cache in &plan.caches {
        let name = Str(&cache.name);
        let mut calls = Vec::new();
        let head = match &cache.kind {
            CacheKind::Ttl => {
                format!("::ember_runtime::__private::cache::CacheConfig::memory({name})")
            }
            CacheKind::Static => {
                format!("::ember_runtime::__private::cache::CacheConfig::memory_static({name})")
            }
            CacheKind::Redis(r) | CacheKind::Memcached(r) => {
                let ctor = if matches!(cache.kind, CacheKind::Redis(_)) {
                    "redis"
                } else {
                    "memcached"
                };
                if !r.prefix.is_empty() {
                    calls.push(format!(".prefix({})", Str(&r.prefix)));
                }
                calls.push(format!(".timeout({})", Millis(r.timeout)));
                format!(
                    "::ember_runtime::__private::cache::CacheConfig::{ctor}({name}, {}, {})",
                    Str(&r.template),
                    Str(&r.value)
                )
            }
        };
        if let Some(t) = cache.ttl {
            calls.push(format!(".ttl({})", Millis(t)));
        }
        if let Some(n) = cache.max_entries {
            calls.push(format!(".max_entries({n})"));
        }
        if let Some(n) = cache.max_bytes {
            calls.push(format!(".max_bytes({n})"));
        }
        c.chain(&head, &calls, ",");
    }
    close!(c, "])");
    close!(c, "}});");
}

/// A marker type whose name says which route and spec line a handler belongs to, e.g.
/// `route_GET_users_id__at_ember_yaml_line_12`: rustc prints it in signature errors.
pub(super) fn route_marker(route: &RoutePlan) -> String {
    let clean = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            let c = if c.is_ascii_alphanumeric() { c } else { '_' };
            if !(c == '_' && out.ends_with('_')) {
                out.push(c);
            }
        }
        out.trim_matches('_').to_owned()
    };
    let file = route.file.rsplit('/').next().unwrap_or(&route.file);
    let path = clean(&route.path);
    let path = if path.is_empty() {
        "root".to_owned()
    } else {
        path
    };
    format!(
        "route_{}_{}__at_{}_line_{}",
        route.method.keyword(),
        path,
        clean(file),
        route.line
    )
}
