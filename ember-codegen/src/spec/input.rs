//! Typed request input on a route (issue 15): `body:` and `query:` as written.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

/// A route's `body:`: a type path (JSON), or the long form with a format.
#[derive(Debug)]
pub enum BodyValue {
    /// `body: NewTask` (JSON).
    Short(String),
    /// `body: { type: NewTask, format: form }`.
    Long(BodyLong),
}

/// The long form of `body:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyLong {
    /// The Rust type the body deserializes into.
    #[serde(rename = "type")]
    pub ty: Spanned<String>,
    /// `json` (the default) or `form` (`application/x-www-form-urlencoded`).
    pub format: Option<Spanned<String>>,
}

/// The keys of `body:`'s long form, for suggestions.
pub(crate) const BODY_KEYS: &[&str] = &["type", "format"];

/// The body formats.
pub(crate) const BODY_FORMATS: &[&str] = &["json", "form"];

impl<'de> Deserialize<'de> for BodyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BodyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Rust type path or a mapping with `type` and `format`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BodyValue, E> {
                Ok(BodyValue::Short(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BodyValue, A::Error> {
                BodyLong::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(BodyValue::Long)
            }
        }
        d.deserialize_any(V)
    }
}
