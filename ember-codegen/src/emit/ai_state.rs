//! `ai.context` and `ai.limits` (issue 14) in generated code: two fields of `AI_SPEC`;
//! the runtime does the work.

use crate::code::{Code, Millis, OptStr, Str, close, open, w};
use crate::plan::{AiPlan, AiStorePlan, ContextIdPlan, TokenPer};

/// How the generated code reaches the AI runtime.
const AI: &str = "::ember_runtime::__private::ai";

fn store(s: &AiStorePlan) -> String {
    match s {
        AiStorePlan::Memory => format!("{AI}::StoreSpec::Memory"),
        AiStorePlan::Redis {
            url,
            prefix,
            timeout,
        } => format!(
            "{AI}::StoreSpec::Redis({AI}::RedisSpec {{ url: {}, prefix: {}, timeout: {} }})",
            Str(url),
            Str(prefix),
            Millis(*timeout)
        ),
    }
}

/// The `context:` and `limits:` fields of `AI_SPEC`.
pub(super) fn emit_fields(c: &mut Code, ai: &AiPlan) {
    match &ai.context {
        None => w!(c, "context: None,"),
        Some(ctx) => {
            open!(c, "context: Some(&{AI}::ContextSpec {{");
            match &ctx.id {
                ContextIdPlan::Header(h) => w!(c, "id: {AI}::IdSource::Header({}),", Str(h)),
                ContextIdPlan::Body(b) => w!(c, "id: {AI}::IdSource::Body({}),", Str(b)),
            }
            w!(c, "store: {},", store(&ctx.store));
            w!(c, "ttl: {},", Millis(ctx.ttl));
            w!(c, "max_messages: {},", ctx.max_messages);
            w!(c, "max_tokens: {},", ctx.max_tokens);
            close!(c, "}}),");
        }
    }
    match &ai.limits {
        None => w!(c, "limits: None,"),
        Some(l) => {
            open!(c, "limits: Some(&{AI}::LimitsSpec {{");
            w!(c, "tokens_per_minute: {},", l.tokens_per_minute);
            w!(
                c,
                "tokens_per_minute_env: {},",
                OptStr(l.tokens_per_minute_env.as_deref())
            );
            let per = match l.per {
                TokenPer::Ip => "Ip",
                TokenPer::ApiKey => "ApiKey",
                TokenPer::Identity => "Identity",
                TokenPer::Global => "Global",
            };
            w!(c, "per: {AI}::Per::{per},");
            w!(c, "max_prompt_tokens: {},", l.max_prompt_tokens);
            w!(
                c,
                "max_prompt_tokens_env: {},",
                OptStr(l.max_prompt_tokens_env.as_deref())
            );
            w!(c, "default_max_tokens: {},", l.default_max_tokens);
            w!(c, "store: {},", store(&l.store));
            close!(c, "}}),");
        }
    }
}
