//! The spec as written: `ember.yaml` deserialized with every value's location kept.
//!
//! These types mirror the YAML one to one; `validate` turns them into a checked
//! [`crate::plan::Plan`].

pub mod ai;
// semantic cache (semcache, issue 14)
pub mod ai_semantic;
pub mod caches;
// typed input (issue 15)
pub mod input;
pub mod limits;
pub mod middleware;
// openapi (issue 16, api)
pub mod openapi;
// observe (obs, issue 16)
pub mod observe;
pub mod routes;
pub mod server;
pub mod sessions;
// scale (issues 16.3, 18): the shared `redis:` connection and `probes:`
pub mod scale;

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
pub use serde_saphyr::Spanned;

use crate::diag::{self, Diagnostic};
use ai::{
    AI_KEYS, AI_ROUTE_KEYS, COOLDOWN_KEYS, COST_KEYS, MODEL_KEYS, RETRY_KEYS, ROUTER_KEYS,
    UPSTREAM_KEYS,
};
// ai state (issue 14): ai.context and ai.limits.
use ai::{CONTEXT_KEYS, TOKEN_LIMITS_KEYS};
pub use caches::*;
pub use limits::*;
pub use middleware::{MwEntry, MwList, MwValue};
pub use routes::*;
pub use server::*;
pub use sessions::*;

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
    /// Route groups: a prefix and settings shared by their routes.
    pub groups: Option<Spanned<Vec<Spanned<GroupSpec>>>>,
    /// Named caches that routes and groups refer to with `cache: NAME`.
    pub caches: Option<Spanned<Entries<Spanned<String>, Spanned<CacheSpec>>>>,
    /// Middleware, outermost first (see [`crate::spec::middleware`]).
    pub middleware: Option<Spanned<middleware::MwList>>,
    /// AI routes, models and the model router (see [`crate::spec::ai`]).
    pub ai: Option<Spanned<ai::AiSpec>>,
    /// Further spec files whose `routes`, `groups` and `include` are merged in.
    pub include: Option<Spanned<Include>>,
    /// Cookie keys (issue 15): where signed and private cookies get their keys.
    pub cookies: Option<Spanned<CookiesSpec>>,
    /// Named session configurations (issue 15) that routes use with `session: NAME`.
    pub sessions: Option<Spanned<Entries<Spanned<String>, Spanned<SessionSpec>>>>,
    // openapi (issue 16, api)
    /// Where the generated OpenAPI document and its docs page are served.
    pub openapi: Option<Spanned<openapi::OpenApiSpec>>,
    // observe (obs, issue 16)
    /// The access log.
    pub access_log: Option<Spanned<observe::AccessLogSpec>>,
    /// Request ids.
    pub request_id: Option<Spanned<observe::RequestIdSpec>>,
    /// The Prometheus metrics route.
    pub metrics: Option<Spanned<observe::MetricsSpec>>,
    /// The Redis connection shared by Redis-backed features (scale, issue 18).
    pub redis: Option<Spanned<scale::RedisSpec>>,
    /// Generated health probes (scale, issue 16.3).
    pub probes: Option<Spanned<scale::ProbesSpec>>,
}

/// `include: file.yaml` or `include: [a.yaml, b.yaml]`.
#[derive(Debug)]
pub enum Include {
    /// One path (its span is the enclosing `Spanned`).
    One(String),
    /// A list of paths.
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for Include {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Include;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file path or a list of file paths")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Include, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(Include::Many(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Include, E> {
                Ok(Include::One(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar written as a string or a number (`16KiB`, `4096`, `30s`), kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl AsRef<str> for Scalar {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                // YAML 1.1 reads a plain `off`/`on` as a boolean.
                Ok(Scalar(if v { "on" } else { "off" }.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
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
    // cookies & sessions (issue 15)
    "cookies",
    "sessions",
    // openapi (issue 16, api)
    "openapi",
    // observe (obs, issue 16)
    "access_log",
    "request_id",
    "metrics",
    // scale (issues 16.3, 18)
    "redis",
    "probes",
];

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

/// Parses one spec source; a YAML error is a diagnostic in file `file`.
pub(crate) fn parse_file(source: &str, file: usize) -> Result<Spec, Diagnostic> {
    // Repeated keys reach the spec's own visitors, which report both locations.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options::<Spec>(source, options)
        .map_err(|e| yaml_error(&e, source).in_file(file))
}

/// Turns a serde-saphyr error into a located diagnostic with a suggestion where one fits.
pub(crate) fn yaml_error(e: &serde_saphyr::Error, source: &str) -> Diagnostic {
    let full = e.without_snippet().to_string();
    // serde-saphyr appends " at line L, column C"; the location goes in the snippet instead.
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    };
    let mut d = Diagnostic::new(message.clone());
    if let Some(loc) = e.location() {
        let (line, col) = (loc.line() as usize, loc.column() as usize);
        if line > 0 {
            let start = diag::offset_of(source, line, col);
            let end = source[start..]
                .find([':', '\n', ',', '}'])
                .map(|n| start + n.max(1))
                .unwrap_or(source.len());
            d = d.at(
                start..end.max(start + 1).min(source.len().max(start + 1)),
                "here",
            );
        }
    }
    if let Some((field, _)) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    {
        {
            let candidates: Vec<&str> = TOP_KEYS
                .iter()
                .chain(SERVER_KEYS)
                .chain(ROUTE_KEYS)
                .chain(GROUP_KEYS)
                .chain(LIMIT_KEYS)
                .chain(URING_KEYS)
                .chain(CACHE_KEYS)
                .chain(REMOTE_KEYS)
                .chain(KEY_KEYS)
                .chain(AI_KEYS)
                .chain(ROUTER_KEYS)
                .chain(MODEL_KEYS)
                .chain(RETRY_KEYS)
                .chain(COOLDOWN_KEYS)
                .chain(UPSTREAM_KEYS)
                .chain(COST_KEYS)
                .chain(AI_ROUTE_KEYS)
                .chain(CONTEXT_KEYS)
                .chain(TOKEN_LIMITS_KEYS)
                .chain(COOKIES_KEYS)
                .chain(SESSION_KEYS)
                .chain(SESSION_COOKIE_KEYS)
                .chain(input::BODY_KEYS)
                // openapi (issue 16, api)
                .chain(openapi::OPENAPI_KEYS)
                // observe (obs, issue 16)
                .chain(observe::ACCESS_LOG_KEYS)
                .chain(observe::REQUEST_ID_KEYS)
                .chain(observe::METRICS_KEYS)
                // semantic cache (semcache, issue 14)
                .chain(ai_semantic::SEMANTIC_KEYS)
                .chain(ai_semantic::EMBEDDER_KEYS)
                .chain(ai_semantic::MODEL_CACHE_KEYS)
                .chain(scale::REDIS_KEYS)
                .chain(scale::PROBES_KEYS)
                .copied()
                .filter(|c| message.contains(c))
                .collect();
            if let Some(s) = diag::did_you_mean(field, &candidates) {
                d = d.help(format!("did you mean `{s}`?"));
            }
        }
    }
    d
}
