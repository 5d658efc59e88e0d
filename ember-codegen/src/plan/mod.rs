//! The checked spec: everything the generator needs, with spec lines for comments.
//!
//! This stage walks the parsed spec, applies the `validate` rules, and records the
//! resolved decisions: each route's full path, typed parameters, limits, cache and
//! middleware chain.

pub mod caches;
pub mod limits;
pub mod middleware;
pub mod routes;
pub mod server;

use std::ops::{Deref, DerefMut};

use crate::ctx::Ctx;
use crate::diag::{Diagnostic, Diagnostics};
use crate::spec::Spec;
use std::ops::Range;

use caches::caches_plan;
use routes::{add_sections, check_conflicts};
use server::server_plan;

pub use caches::*;
pub use limits::*;
pub use middleware::{AuthPlan, CorsPlan, MwKind, MwPlan, RateKeyPlan, RatePlan};
pub use routes::*;
pub use server::*;

/// A validated spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The spec file's name, for the generated header.
    pub file: String,
    /// `app:`.
    pub app: String,
    /// Server settings.
    pub server: ServerPlan,
    /// Routes in spec order (included files after the including file's own).
    pub routes: Vec<RoutePlan>,
    /// Caches in spec order.
    pub caches: Vec<CachePlan>,
    /// Every spec file read (for `cargo::rerun-if-changed`), the root first.
    pub files: Vec<String>,
    /// Every environment variable the spec read (for `cargo::rerun-if-env-changed`).
    pub env_vars: Vec<String>,
}

/// Where a route came from, for conflict messages.
struct Origin {
    file: usize,
    span: Range<usize>,
}

/// What a group passes down to its routes.
#[derive(Clone, Copy, Default)]
struct Inherit {
    limits: LimitsPlan,
    cache: Option<usize>,
}

/// The plan stage's state: the shared [`Ctx`] (files, diagnostics, environment) and what
/// has been resolved so far. Derefs to the [`Ctx`], so validation rules take it as one.
pub(crate) struct Builder<'a, 'l> {
    cx: Ctx<'a, 'l>,
    pub(crate) handlers_mod: String,
    pub(crate) mw: middleware::MwState,
    routes: Vec<RoutePlan>,
    origins: Vec<Origin>,
    caches: Vec<CachePlan>,
    /// Caches declared with errors (already reported): references to them are not.
    bad_caches: Vec<String>,
}

impl<'a, 'l> Deref for Builder<'a, 'l> {
    type Target = Ctx<'a, 'l>;
    fn deref(&self) -> &Ctx<'a, 'l> {
        &self.cx
    }
}

impl<'a, 'l> DerefMut for Builder<'a, 'l> {
    fn deref_mut(&mut self) -> &mut Ctx<'a, 'l> {
        &mut self.cx
    }
}

/// Plans a parsed spec (and the files it includes, read through `cx`'s loader): every
/// check the rules make, then the resolved plan, or every diagnostic found.
pub(crate) fn plan(cx: Ctx<'_, '_>, spec: &Spec) -> Result<Plan, Diagnostics> {
    let mut cx = Builder {
        cx,
        handlers_mod: "crate::handlers".to_owned(),
        mw: Default::default(),
        routes: Vec::new(),
        origins: Vec::new(),
        caches: Vec::new(),
        bad_caches: Vec::new(),
    };
    if let Some(c) = &spec.caches {
        caches_plan(&mut cx, &c.value);
    }
    cx.reserved(0, &spec.ai, "ai", "ai");

    let app = spec
        .app
        .as_ref()
        .map(|a| a.value.clone())
        .unwrap_or_else(|| "app".to_owned());
    if let Some(h) = &spec.handlers {
        if !crate::code::is_path(&h.value) {
            let span = cx.span(0, h);
            let d = Diagnostic::new(format!("`{}` is not a Rust module path", h.value))
                .at(span, "expected something like `crate::handlers`");
            cx.error(0, d);
        }
        cx.handlers_mod = h.value.clone();
    }
    let server = match &spec.server {
        Some(s) => server_plan(&mut cx, &s.value),
        None => ServerPlan::default(),
    };
    middleware::enter(&mut cx, 0, &spec.middleware);
    add_sections(&mut cx, 0, spec);

    check_conflicts(&mut cx);
    let Builder {
        cx, routes, caches, ..
    } = cx;
    if cx.errors.is_empty() {
        Ok(Plan {
            file: cx.files[0].name.clone(),
            app,
            server,
            routes,
            caches,
            files: cx.files.iter().map(|f| f.name.clone()).collect(),
            env_vars: cx.env_read,
        })
    } else {
        Err(Diagnostics::new(cx.files, cx.errors))
    }
}
