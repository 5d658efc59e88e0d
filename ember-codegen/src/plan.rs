//! The checked spec: everything the generator needs, with spec lines for comments.

use crate::path::Segment;

/// Which methods a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MethodSel {
    /// `GET` (and `HEAD`, unless a `HEAD` route exists for the same path).
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `ANY`: every method not routed separately for the same path.
    Any,
}

/// The method keywords a route key may start with.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY",
];

impl MethodSel {
    /// Parses a method keyword.
    pub fn from_keyword(k: &str) -> Option<Self> {
        Some(match k {
            "GET" => MethodSel::Get,
            "HEAD" => MethodSel::Head,
            "POST" => MethodSel::Post,
            "PUT" => MethodSel::Put,
            "PATCH" => MethodSel::Patch,
            "DELETE" => MethodSel::Delete,
            "OPTIONS" => MethodSel::Options,
            "ANY" => MethodSel::Any,
            _ => return None,
        })
    }

    /// The keyword.
    pub fn keyword(self) -> &'static str {
        METHODS[self as usize]
    }
}

/// Server settings given in the spec (unset ones take the runtime's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerPlan {
    /// `host:port`.
    pub listen: Option<String>,
    /// `None` = auto.
    pub workers: Option<usize>,
    /// `auto`, `io_uring` or `tokio`.
    pub backend: Option<String>,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// The method.
    pub method: MethodSel,
    /// The path as written.
    pub path: String,
    /// The parsed path.
    pub segments: Vec<Segment>,
    /// The handler's full Rust path (`crate::handlers::hello`).
    pub handler: String,
    /// The optional route name.
    pub name: Option<String>,
    /// The optional summary.
    pub summary: Option<String>,
    /// The spec line the route is declared on.
    pub line: usize,
}

/// A validated spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The spec file's name, for the generated header.
    pub file: String,
    /// `app:`.
    pub app: String,
    /// Server settings.
    pub server: ServerPlan,
    /// Routes in spec order.
    pub routes: Vec<RoutePlan>,
}
