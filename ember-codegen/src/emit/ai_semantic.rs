//! `ai.semantic_cache` in generated code (issue 14): one `const`-built `AI_SEMANTIC`
//! static that `AI_SPEC` points at; nothing when no model is cached.

use crate::code::{Code, Millis, OptStr, Str, close, open, w};
use crate::plan::ai_semantic::{EmbedderPlan, SemanticPlan};

/// How the generated code reaches the AI runtime.
const AI: &str = "::ember_runtime::__private::ai";

/// `AI_SPEC`'s `semantic_cache` field's value.
pub(super) fn field(s: Option<&SemanticPlan>) -> &'static str {
    if s.is_some() {
        "Some(&AI_SEMANTIC)"
    } else {
        "None"
    }
}

/// The `AI_SEMANTIC` static, when there is a semantic cache.
pub(super) fn emit_static(c: &mut Code, s: Option<&SemanticPlan>) {
    let Some(s) = s else {
        return;
    };
    c.blank();
    w!(
        c,
        "/// `ai.semantic_cache`: the gateway's semantic cache and the models it serves."
    );
    open!(
        c,
        "static AI_SEMANTIC: {AI}::SemanticSpec = {AI}::SemanticSpec {{"
    );
    match &s.embedder {
        EmbedderPlan::Embedded => w!(c, "embedder: {AI}::EmbedderSpec::Embedded,"),
        EmbedderPlan::Upstream {
            base_url,
            base_url_env,
            model,
            api_key_env,
            timeout,
        } => {
            open!(c, "embedder: {AI}::EmbedderSpec::Upstream {{");
            w!(c, "base_url: {},", OptStr(base_url.as_deref()));
            w!(c, "base_url_env: {},", OptStr(base_url_env.as_deref()));
            w!(c, "model: {},", Str(model));
            w!(c, "api_key_env: {},", OptStr(api_key_env.as_deref()));
            w!(c, "timeout: {},", Millis(*timeout));
            close!(c, "}},");
        }
    }
    w!(c, "threshold: {:?},", s.threshold);
    w!(c, "ttl: {},", Millis(s.ttl));
    w!(c, "max_entries: {},", s.max_entries);
    match &s.redis {
        None => w!(c, "store: {AI}::SemanticStoreSpec::Memory,"),
        Some((url, prefix, timeout)) => {
            open!(c, "store: {AI}::SemanticStoreSpec::Redis {{");
            w!(c, "url: {},", Str(url));
            w!(c, "prefix: {},", Str(prefix));
            w!(c, "timeout: {},", Millis(*timeout));
            close!(c, "}},");
        }
    }
    open!(c, "models: &[");
    for m in &s.models {
        w!(
            c,
            "{AI}::ModelCache {{ model: {}, threshold: {:?}, any_temperature: {} }},",
            Str(&m.model),
            m.threshold,
            m.any_temperature
        );
    }
    close!(c, "],");
    close!(c, "}};");
}

#[cfg(test)]
mod tests {
    fn code(yaml: &str) -> String {
        let plan = crate::compile(yaml, "t.yaml", &mut |_| unreachable!(), &|_| None)
            .unwrap_or_else(|d| panic!("{d}"));
        crate::emit(&plan, &crate::EmitOptions::default())
    }

    const UP: &str = "upstreams: [ { base_url: http://h/v1, model: x } ]";

    #[test]
    fn a_cached_model_gets_the_static_with_defaults() {
        let c = code(&format!(
            "ai:\n  models:\n    m: {{ semantic_cache: true, {UP} }}\n    n: {{ {UP} }}\n"
        ));
        assert!(c.contains("semantic_cache: Some(&AI_SEMANTIC),"), "{c}");
        assert!(
            c.contains("embedder: ::ember_runtime::__private::ai::EmbedderSpec::Embedded,"),
            "{c}"
        );
        assert!(c.contains("threshold: 0.92,"), "{c}");
        assert!(c.contains("max_entries: 10000,"), "{c}");
        assert!(
            c.contains("model: \"m\", threshold: 0.92, any_temperature: false"),
            "{c}"
        );
        assert!(!c.contains("model: \"n\", threshold"), "{c}");
    }

    #[test]
    fn settings_and_redis_are_carried_over() {
        let c = code(&format!(
            "ai:\n  semantic_cache:\n    threshold: 0.9\n    ttl: 10m\n    store: redis\n    redis: {{ url: 'redis://h:1', prefix: 'p:' }}\n    embedder: {{ base_url: http://e/v1, model: emb }}\n  models:\n    m: {{ semantic_cache: {{ threshold: 0.97, any_temperature: true }}, {UP} }}\n"
        ));
        assert!(
            c.contains("model: \"m\", threshold: 0.97, any_temperature: true"),
            "{c}"
        );
        assert!(
            c.contains("ttl: ::core::time::Duration::from_millis(600000),"),
            "{c}"
        );
        assert!(c.contains("url: \"redis://h:1\","), "{c}");
        assert!(c.contains("prefix: \"p:\","), "{c}");
        assert!(c.contains("model: \"emb\","), "{c}");
    }

    #[test]
    fn no_cached_model_no_static() {
        let c = code(&format!(
            "ai:\n  semantic_cache: {{ threshold: 0.9 }}\n  models:\n    m: {{ semantic_cache: false, {UP} }}\n"
        ));
        assert!(c.contains("semantic_cache: None,"), "{c}");
        assert!(!c.contains("AI_SEMANTIC"), "{c}");
    }
}
