//! `middleware:` lists as written (top level, group or route), and the options each kind
//! accepts.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::Entries;

/// A `middleware:` list as written.
pub type MwList = Vec<Spanned<MwEntry>>;

/// One list entry: a single-key mapping `kind: options`.
pub type MwEntry = Entries<Spanned<String>, Spanned<MwValue>>;

/// An option value: a scalar (kept as text), a list or a mapping.
#[derive(Debug)]
pub enum MwValue {
    /// A string, number or boolean, as text.
    Scalar(String),
    /// A list.
    List(Vec<Spanned<MwValue>>),
    /// A mapping.
    Map(Entries<Spanned<String>, Spanned<MwValue>>),
}

impl<'de> Deserialize<'de> for MwValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MwValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value, a list or a mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MwValue, E> {
                Ok(MwValue::Map(Entries(Vec::new())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MwValue, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(MwValue::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<MwValue, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(MwValue::Map(Entries(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The middleware kinds, for suggestions.
pub const KINDS: &[&str] = &["cors", "bearer", "api_key", "rate_limit", "hook", "skip"];

pub(crate) const CORS_KEYS: &[&str] = &[
    "name",
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "allow_credentials",
    "max_age",
    "expose_headers",
];
pub(crate) const BEARER_KEYS: &[&str] = &["name", "tokens_env", "tokens_file", "verify", "realm"];
pub(crate) const API_KEY_KEYS: &[&str] = &[
    "name",
    "header",
    "query",
    "keys_env",
    "keys_file",
    "verify",
    "realm",
];
pub(crate) const RATE_KEYS: &[&str] = &[
    "name",
    "rate",
    "burst",
    "key",
    "trusted_proxies",
    "store",
    "redis_url",
    "prefix",
    "max_keys",
    "timeout",
];
pub(crate) const HOOK_KEYS: &[&str] = &["name", "before", "extend", "after"];
