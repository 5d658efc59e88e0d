//! The spec as written: `ember.yaml` deserialized with every value's location kept.
//!
//! These types mirror the YAML one to one; [`crate::validate`] turns them into a checked
//! [`crate::plan::Plan`]. Sections that later releases implement are parsed only so that
//! they can be refused with a located "not supported yet" error, never silently ignored.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
pub use serde_saphyr::Spanned;

/// The whole `ember.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The application's name.
    pub app: Option<Spanned<String>>,
    /// The Rust module handler paths are relative to (default `crate::handlers`).
    pub handlers: Option<Spanned<String>>,
    /// Server settings.
    pub server: Option<Spanned<ServerSpec>>,
    /// `METHOD /path: handler` entries, in order.
    pub routes: Option<Spanned<Entries<Spanned<String>, Spanned<RouteValue>>>>,
    /// Reserved: route groups.
    pub groups: Option<Spanned<IgnoredAny>>,
    /// Reserved: caches.
    pub caches: Option<Spanned<IgnoredAny>>,
    /// Reserved: middleware.
    pub middleware: Option<Spanned<IgnoredAny>>,
    /// Reserved: AI routes.
    pub ai: Option<Spanned<IgnoredAny>>,
    /// Reserved: included files.
    pub include: Option<Spanned<IgnoredAny>>,
}

/// The top-level keys, for suggestions.
pub(crate) const TOP_KEYS: &[&str] = &[
    "app",
    "handlers",
    "server",
    "routes",
    "groups",
    "caches",
    "middleware",
    "ai",
    "include",
];

/// `server:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// `host:port`.
    pub listen: Option<Spanned<String>>,
    /// `auto` or a count.
    pub workers: Option<Spanned<WorkersValue>>,
    /// `auto`, `io_uring` or `tokio`.
    pub backend: Option<Spanned<String>>,
    /// Reserved: io_uring buffer settings.
    pub io_uring: Option<Spanned<IgnoredAny>>,
    /// Reserved: limits.
    pub limits: Option<Spanned<IgnoredAny>>,
    /// Reserved: shutdown grace.
    pub shutdown_grace: Option<Spanned<IgnoredAny>>,
}

/// The keys of `server:`, for suggestions.
pub(crate) const SERVER_KEYS: &[&str] = &[
    "listen",
    "workers",
    "backend",
    "io_uring",
    "limits",
    "shutdown_grace",
];

/// `workers: auto` or `workers: 4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkersValue {
    /// `auto`.
    Auto,
    /// A count (validated to be ≥ 1 later).
    Count(i64),
    /// Anything else, kept for the error message.
    Invalid(String),
}

impl<'de> Deserialize<'de> for WorkersValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WorkersValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`auto` or a number of workers")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WorkersValue, E> {
                Ok(if v == "auto" {
                    WorkersValue::Auto
                } else {
                    WorkersValue::Invalid(v.to_owned())
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WorkersValue, E> {
                Ok(i64::try_from(v)
                    .map(WorkersValue::Count)
                    .unwrap_or(WorkersValue::Invalid(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WorkersValue, E> {
                Ok(WorkersValue::Count(v))
            }
        }
        d.deserialize_any(V)
    }
}

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
    /// Reserved: per-route limits.
    pub limits: Option<Spanned<IgnoredAny>>,
    /// Reserved: cache.
    pub cache: Option<Spanned<IgnoredAny>>,
    /// Reserved: middleware.
    pub middleware: Option<Spanned<IgnoredAny>>,
}

/// The keys of a long-form route, for suggestions.
pub(crate) const ROUTE_KEYS: &[&str] = &[
    "handler",
    "name",
    "summary",
    "limits",
    "cache",
    "middleware",
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

/// A YAML mapping kept as ordered entries (spans survive, duplicates are visible).
#[derive(Debug)]
pub struct Entries<K, V>(pub Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Vis<K, V> {
            type Value = Entries<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(Entries(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Entries(Vec::new()))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}
