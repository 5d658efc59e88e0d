//! Rules of `ai.semantic_cache` and of a model's `semantic_cache:` (issue 14): the
//! embedder (`embedded` or an embeddings upstream, never a literal API key), the threshold
//! (a cosine in (0, 1]), the TTL, the cap, and the store (`memory`, or `redis` with
//! `redis: { url }`).

use serde_saphyr::Spanned;

use super::ai::{base_url, env_name};
use super::caches::{Remote, remote};
use super::{count, duration, flag, refuse};
use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::Scalar;
use crate::spec::ai_semantic::{EmbedderSpec, EmbedderValue, ModelCacheValue, SemanticCacheSpec};

/// The built-in embedders' names.
pub(crate) const EMBEDDERS: &[&str] = &["embedded"];

/// A checked embedder (`timeout: None` = the default).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Embedder {
    Embedded,
    Upstream {
        base_url: Option<String>,
        base_url_env: Option<String>,
        model: String,
        api_key_env: Option<String>,
        timeout: Option<std::time::Duration>,
    },
}

/// A checked `ai.semantic_cache` (`None`: the default of that key).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checked {
    pub(crate) embedder: Embedder,
    pub(crate) threshold: Option<f32>,
    pub(crate) ttl: Option<std::time::Duration>,
    pub(crate) max_entries: Option<u64>,
    /// `None`: memory.
    pub(crate) redis: Option<Remote>,
}

/// Checks `ai.semantic_cache`; `None` when it has errors (all reported).
pub(crate) fn section(cx: &mut Ctx<'_, '_>, s: &Spanned<SemanticCacheSpec>) -> Option<Checked> {
    let errors = cx.errors.len();
    let v = &s.value;
    let embedder = match &v.embedder {
        None => Some(Embedder::Embedded),
        Some(e) => embedder(cx, e),
    };
    let threshold = v.threshold.as_ref().and_then(|t| threshold(cx, t));
    let ttl = v
        .ttl
        .as_ref()
        .and_then(|t| duration(cx, 0, t, false).flatten());
    let max_entries = v
        .max_entries
        .as_ref()
        .and_then(|m| count(cx, 0, m, 1..=10_000_000));
    let redis_store = match &v.store {
        None => false,
        Some(st) => match cx.scalar(0, st)?.as_str() {
            "memory" => false,
            "redis" => true,
            other => {
                let span = cx.span(0, st);
                let mut d = Diagnostic::new(format!("unknown semantic cache store `{other}`"))
                    .at(span, "expected `memory` or `redis`");
                if let Some(s) = did_you_mean(other, &["memory", "redis"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.error(0, d);
                false
            }
        },
    };
    let redis = match (&v.redis, redis_store) {
        (Some(r), true) => {
            let mut checked = remote(cx, r, "redis")?;
            // As written: the runtime reads `${VAR:-default}` again at start-up (so
            // instances can be pointed at their own prefix without a rebuild).
            checked.prefix = match &r.value.prefix {
                Some(p) => p.value.clone(),
                None => "ember:sem:".to_owned(),
            };
            Some(checked)
        }
        (None, true) => {
            let span = v.store.as_ref().map_or(0..0, |st| cx.span(0, st));
            let d = Diagnostic::new("the semantic cache is kept in Redis: it needs `redis:`")
                .at(span, "store: redis")
                .help("add `redis: { url: \"${REDIS_URL:-redis://127.0.0.1:6379}\" }`");
            cx.error(0, d);
            None
        }
        (r, false) => {
            refuse(
                cx,
                r,
                "redis",
                "the semantic cache is kept in memory",
                "write `store: redis`, or remove `redis:`",
            );
            None
        }
    };
    if cx.errors.len() > errors {
        return None;
    }
    Some(Checked {
        embedder: embedder?,
        threshold,
        ttl,
        max_entries,
        redis,
    })
}

/// Checks a threshold: a cosine similarity in (0, 1].
pub(crate) fn threshold(cx: &mut Ctx<'_, '_>, v: &Spanned<Scalar>) -> Option<f32> {
    let text = cx.scalar(0, v)?;
    match text.trim().parse::<f32>() {
        Ok(t) if t > 0.0 && t <= 1.0 => Some(t),
        _ => {
            let span = cx.span(0, v);
            let d = Diagnostic::new(format!("threshold `{text}` is not a similarity"))
                .at(span, "expected a cosine similarity above 0 and at most 1")
                .help("like `0.92`: the higher, the closer a prompt must be to hit");
            cx.error(0, d);
            None
        }
    }
}

fn embedder(cx: &mut Ctx<'_, '_>, e: &Spanned<EmbedderValue>) -> Option<Embedder> {
    match &e.value {
        EmbedderValue::Name(name) => {
            if name == "embedded" {
                return Some(Embedder::Embedded);
            }
            let span = cx.span(0, e);
            let mut d = Diagnostic::new(format!("unknown embedder `{name}`")).at(
                span,
                "expected `embedded`, or `{ base_url, model }` of an embeddings upstream",
            );
            if let Some(s) = did_you_mean(name, EMBEDDERS) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            cx.error(0, d);
            None
        }
        EmbedderValue::Upstream(u) => upstream(cx, u, cx.span(0, e)),
    }
}

fn upstream(
    cx: &mut Ctx<'_, '_>,
    u: &EmbedderSpec,
    at: std::ops::Range<usize>,
) -> Option<Embedder> {
    let errors = cx.errors.len();
    if let Some(k) = &u.api_key {
        let span = cx.key_span(0, k, "api_key");
        let d = Diagnostic::new("an API key cannot be written into the spec")
            .at(span, "it would end up in the repository and in the built program")
            .help("put the key in an environment variable and name it with `api_key_env: VAR`, not `api_key`");
        cx.error(0, d);
    }
    let model = match &u.model {
        Some(m) => cx.text(0, m).filter(|n| !n.trim().is_empty()),
        None => None,
    };
    if model.is_none() {
        let span = u.model.as_ref().map_or(at.clone(), |m| cx.span(0, m));
        let d = Diagnostic::new("an embeddings upstream needs `model`")
            .at(span, "the embedding model's name")
            .help("add `model: text-embedding-3-small` (whatever the upstream calls it)");
        cx.error(0, d);
    }
    let base = u.base_url.as_ref().and_then(|b| base_url(cx, b));
    let base_env = u.base_url_env.as_ref().and_then(|v| env_name(cx, v));
    let key_env = u.api_key_env.as_ref().and_then(|v| env_name(cx, v));
    if u.base_url.is_none() && u.base_url_env.is_none() {
        let d = Diagnostic::new("an embeddings upstream needs `base_url`, `base_url_env` or both")
            .at(at, "no address")
            .help("add `base_url: http://127.0.0.1:8000/v1` (the part before `/embeddings`)");
        cx.error(0, d);
    }
    let timeout = u
        .timeout
        .as_ref()
        .and_then(|t| duration(cx, 0, t, false).flatten());
    if cx.errors.len() > errors {
        return None;
    }
    Some(Embedder::Upstream {
        base_url: base,
        base_url_env: base_env,
        model: model?,
        api_key_env: key_env,
        timeout,
    })
}

/// A model's checked `semantic_cache:` (`None`: not cached, or errors reported).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ModelCache {
    pub(crate) threshold: Option<f32>,
    pub(crate) any_temperature: bool,
}

/// Checks a model's `semantic_cache:`; `None` when the model is not cached.
pub(crate) fn model(cx: &mut Ctx<'_, '_>, v: &Spanned<ModelCacheValue>) -> Option<ModelCache> {
    match &v.value {
        ModelCacheValue::Flag(text) => match text.as_str() {
            "true" | "on" | "yes" => Some(ModelCache {
                threshold: None,
                any_temperature: false,
            }),
            "false" | "off" | "no" => None,
            other => {
                let span = cx.span(0, v);
                let d = Diagnostic::new(format!("`{other}` is not a semantic cache setting"))
                    .at(span, "expected `true`, `false`, or `{ threshold: 0.95 }`");
                cx.error(0, d);
                None
            }
        },
        ModelCacheValue::Settings(s) => {
            let errors = cx.errors.len();
            let threshold = s.threshold.as_ref().and_then(|t| threshold(cx, t));
            let any_temperature = s
                .any_temperature
                .as_ref()
                .and_then(|a| flag(cx, a))
                .unwrap_or(false);
            (cx.errors.len() == errors).then_some(ModelCache {
                threshold,
                any_temperature,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::check_table;

    const UP: &str = "upstreams: [ { base_url: 'http://h/v1', model: x } ]";

    fn spec(section: &str, model: &str) -> String {
        format!("ai:\n{section}  models:\n    m: {{ {model}{UP} }}\n")
    }

    #[test]
    fn rules() {
        let cases: Vec<(String, &str, &str)> = vec![
            (spec("", "semantic_cache: true, "), "", ""),
            (spec("", "semantic_cache: off, "), "", ""),
            (
                spec(
                    "",
                    "semantic_cache: { threshold: 0.97, any_temperature: yes }, ",
                ),
                "",
                "",
            ),
            (
                spec(
                    "  semantic_cache: { embedder: embedded, threshold: 0.9, ttl: 5m, max_entries: 5, store: memory }\n",
                    "semantic_cache: true, ",
                ),
                "",
                "",
            ),
            (
                spec(
                    "  semantic_cache: { store: redis, redis: { url: 'redis://h:1', prefix: '${P:-x:}' } }\n",
                    "semantic_cache: true, ",
                ),
                "",
                "",
            ),
            (
                spec(
                    "  semantic_cache: { embedder: { base_url_env: E, model: emb, api_key_env: K, timeout: 2s } }\n",
                    "semantic_cache: true, ",
                ),
                "",
                "",
            ),
            (
                spec(
                    "  semantic_cache: { threshold: 0 }\n",
                    "semantic_cache: true, ",
                ),
                "2:32",
                "threshold `0` is not a similarity",
            ),
            (
                spec(
                    "  semantic_cache: { embedder: word2vec }\n",
                    "semantic_cache: true, ",
                ),
                "2:31",
                "unknown embedder `word2vec`",
            ),
            (
                spec(
                    "  semantic_cache: { embedder: { base_url: 'http://e/v1' } }\n",
                    "semantic_cache: true, ",
                ),
                "2:31",
                "an embeddings upstream needs `model`",
            ),
            (
                spec(
                    "  semantic_cache: { embedder: { model: e, base_url: 'http://e/v1', api_key: sk } }\n",
                    "semantic_cache: true, ",
                ),
                "2:68",
                "an API key cannot be written into the spec",
            ),
            (
                spec(
                    "  semantic_cache: { store: disk }\n",
                    "semantic_cache: true, ",
                ),
                "2:28",
                "unknown semantic cache store `disk`",
            ),
            (
                spec(
                    "  semantic_cache: { redis: { url: 'redis://h:1' } }\n",
                    "semantic_cache: true, ",
                ),
                "2:21",
                "`redis` makes no sense here",
            ),
            (
                spec(
                    "  semantic_cache: { store: redis, redis: { url: 'http://h' } }\n",
                    "semantic_cache: true, ",
                ),
                "2:49",
                "is not a redis address",
            ),
            (
                spec(
                    "  semantic_cache: { max_entries: 0 }\n",
                    "semantic_cache: true, ",
                ),
                "2:34",
                "invalid count `0`",
            ),
            (
                spec("", "semantic_cache: { threshold: 2 }, "),
                "3:39",
                "threshold `2` is not a similarity",
            ),
            (
                spec("", "semantic_cache: { any_temperature: sometimes }, "),
                "3:45",
                "`sometimes` is not a boolean",
            ),
            (
                spec("", "semantic_cache: { thresold: 0.9 }, "),
                "3:28",
                "thresold",
            ),
        ];
        let cases: Vec<(&str, &str, &str)> =
            cases.iter().map(|(y, a, m)| (y.as_str(), *a, *m)).collect();
        check_table(&cases);
    }
}
