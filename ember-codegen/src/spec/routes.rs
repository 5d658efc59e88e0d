//! `routes:` and `groups:` as written, and the method keywords of a route key.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::{Entries, LimitsSpec, MwList, Scalar};
use std::fmt;

/// A route group (`groups:` at the top level or inside another group).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The path prefix of every route in the group (`/admin`, `/orgs/{org}`).
    pub prefix: Spanned<String>,
    /// A name for the group.
    pub name: Option<Spanned<String>>,
    /// Limits for the group's routes (route-level keys only).
    pub limits: Option<Spanned<LimitsSpec>>,
    /// The group's routes.
    pub routes: Option<Spanned<Entries<Spanned<String>, Spanned<RouteValue>>>>,
    /// Nested groups.
    pub groups: Option<Spanned<Vec<Spanned<GroupSpec>>>>,
    /// Middleware, outermost first (see [`crate::spec::middleware`]).
    pub middleware: Option<Spanned<MwList>>,
    /// The cache for the group's GET routes (`NAME`, or `off`).
    pub cache: Option<Spanned<Scalar>>,
    /// The session of the group's routes (`NAME`, or `off`; issue 15).
    pub session: Option<Spanned<Scalar>>,
}

/// The keys of a group, for suggestions.
pub(crate) const GROUP_KEYS: &[&str] = &[
    "prefix",
    "name",
    "limits",
    "routes",
    "groups",
    "middleware",
    "cache",
    "session",
];

/// A route's value: a handler path, or the long form.
#[derive(Debug)]
pub enum RouteValue {
    /// `GET /x: handler`.
    Short(String),
    /// `GET /x: { handler: …, name: …, summary: … }`.
    Long(Box<RouteLong>),
}

/// The long form of a route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteLong {
    /// The handler path.
    pub handler: Spanned<String>,
    /// A name for the route (used in generated identifiers and tooling).
    pub name: Option<Spanned<String>>,
    /// A one-line description.
    pub summary: Option<Spanned<String>>,
    /// Limits for this route (route-level keys only).
    pub limits: Option<Spanned<LimitsSpec>>,
    /// The cache for this (GET) route: `NAME`, or `off` to opt out of its group's.
    pub cache: Option<Spanned<Scalar>>,
    /// Middleware, outermost first (see [`crate::spec::middleware`]).
    pub middleware: Option<Spanned<MwList>>,
    /// The session its handler gets (`NAME`, or `off` to opt out of its group's; issue 15).
    pub session: Option<Spanned<Scalar>>,
    // typed input (issue 15)
    /// The type the request body deserializes into (see [`crate::spec::input`]).
    pub body: Option<Spanned<super::input::BodyValue>>,
    /// The type the query string deserializes into.
    pub query: Option<Spanned<String>>,
    /// Whether the `body` and `query` values are validated (`garde::Validate`).
    pub validate: Option<Spanned<bool>>,
}

/// The keys of a long-form route, for suggestions.
pub(crate) const ROUTE_KEYS: &[&str] = &[
    "handler",
    "name",
    "summary",
    "limits",
    "cache",
    "middleware",
    "session",
    // typed input (issue 15)
    "body",
    "query",
    "validate",
];

impl<'de> Deserialize<'de> for RouteValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RouteValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a handler path or a mapping with `handler`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RouteValue, E> {
                Ok(RouteValue::Short(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RouteValue, A::Error> {
                RouteLong::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|l| RouteValue::Long(Box::new(l)))
            }
        }
        d.deserialize_any(V)
    }
}

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
