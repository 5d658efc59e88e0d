//! `ai.context` and `ai.limits` (issue 14): the gateway's conversation memory and token
//! limits, checked and with their defaults applied.
//!
//! Defaults: context id from header `X-Conversation-Id`, memory store, ttl 1h, 50
//! messages, 8000 tokens; limits per client IP, no per-minute budget and no prompt cap
//! unless set, 1024 tokens reserved for an answer without `max_tokens`, memory store.
//! Redis: `prefix` `ember:conv:` / `ember:tpm:`, `timeout` 100ms; `url` required unless the
//! spec has a top-level `redis:` (then that one, with its timeout, is the default).

use std::ops::Range;
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::ctx::Ctx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::spec::ai::{AiRedisSpec, ContextSpec, TokenLimitsSpec};
use crate::validate::ai::env_name;
use crate::validate::{count, duration};

/// Where AI state is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum AiStorePlan {
    /// In the process.
    Memory,
    /// In Redis.
    Redis {
        /// The URL as written (variables are read at run time).
        url: String,
        /// The key prefix.
        prefix: String,
        /// Each operation's timeout.
        timeout: Duration,
    },
}

/// Where a conversation id is read.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextIdPlan {
    /// A header.
    Header(String),
    /// A top-level body field.
    Body(String),
}

/// `ai.context`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextPlan {
    /// Where the id is read.
    pub id: ContextIdPlan,
    /// Where conversations live.
    pub store: AiStorePlan,
    /// Life after the last update.
    pub ttl: Duration,
    /// The most turns kept.
    pub max_messages: u32,
    /// The most tokens of turns kept.
    pub max_tokens: u32,
}

/// What a token budget belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPer {
    /// The client IP.
    Ip,
    /// The bearer API key.
    ApiKey,
    /// The authenticated identity.
    Identity,
    /// Everyone.
    Global,
}

/// The `per` names.
pub const TOKEN_PER: &[&str] = &["ip", "api_key", "identity", "global"];

/// `ai.limits`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLimitsPlan {
    /// Tokens per minute (0: no budget).
    pub tokens_per_minute: u64,
    /// Its run-time override.
    pub tokens_per_minute_env: Option<String>,
    /// What a budget belongs to.
    pub per: TokenPer,
    /// The longest prompt (0: no cap).
    pub max_prompt_tokens: u64,
    /// Its run-time override.
    pub max_prompt_tokens_env: Option<String>,
    /// Reserved for an answer without `max_tokens`.
    pub default_max_tokens: u64,
    /// Where the counters live.
    pub store: AiStorePlan,
}

fn unknown(cx: &mut Ctx<'_, '_>, span: Range<usize>, what: &str, name: &str, all: &[&str]) {
    let mut d = Diagnostic::new(format!("unknown {what} `{name}`"))
        .at(span, format!("expected one of {}", all.join(", ")));
    if let Some(s) = did_you_mean(name, all) {
        d = d.help(format!("did you mean `{s}`?"));
    }
    cx.error(0, d);
}

/// Checks `store` and `redis` of an AI store.
fn store(
    cx: &mut Ctx<'_, '_>,
    store: &Option<Spanned<String>>,
    redis: &Option<Spanned<AiRedisSpec>>,
    at: Range<usize>,
    default_prefix: &str,
) -> Option<AiStorePlan> {
    let kind = match store {
        Some(s) => {
            let name = cx.text(0, s)?;
            match name.as_str() {
                "memory" | "redis" => name,
                _ => {
                    let span = cx.span(0, s);
                    unknown(cx, span, "store", &name, &["memory", "redis"]);
                    return None;
                }
            }
        }
        None => "memory".to_owned(),
    };
    if kind == "memory" {
        if let Some(r) = redis {
            let span = cx.key_span(0, r, "redis");
            let d = Diagnostic::new("`redis` is set but the store is `memory`")
                .at(span, "not used")
                .help("add `store: redis`, or remove `redis`");
            cx.error(0, d);
            return None;
        }
        return Some(AiStorePlan::Memory);
    }
    // scale (issue 18): without a `url` of its own, the store uses the top-level `redis:`.
    let own_url = redis.as_ref().and_then(|r| r.value.url.as_ref());
    if own_url.is_none()
        && let Some(top) = cx.redis.clone()
    {
        let prefix = redis
            .as_ref()
            .and_then(|r| r.value.prefix.as_ref())
            .map_or_else(|| default_prefix.to_owned(), |p| p.value.clone());
        let timeout = match redis.as_ref().and_then(|r| r.value.timeout.as_ref()) {
            Some(t) => duration(cx, 0, t, false)??,
            None => top.timeout,
        };
        return Some(AiStorePlan::Redis {
            url: top.template,
            prefix,
            timeout,
        });
    }
    let Some(r) = redis else {
        let d = Diagnostic::new("`store: redis` needs `redis: { url: … }`")
            .at(at, "no `redis` here")
            .help("add `redis: { url: \"${REDIS_URL:-redis://127.0.0.1:6379}\" }`, or a top-level `redis:` that Redis stores share");
        cx.error(0, d);
        return None;
    };
    let Some(url) = &r.value.url else {
        let span = cx.key_span(0, r, "redis");
        let d = Diagnostic::new("`redis` needs `url`")
            .at(span, "no `url` here")
            .help("add `url: \"${REDIS_URL:-redis://127.0.0.1:6379}\"`");
        cx.error(0, d);
        return None;
    };
    let written = url.value.trim();
    if !(written.starts_with("redis://")
        || written.starts_with("rediss://")
        || written.starts_with("${"))
    {
        let span = cx.span(0, url);
        let d = Diagnostic::new(format!("`{written}` is not a Redis URL"))
            .at(span, "expected `redis://HOST:PORT`")
            .help(
                "write it like `redis://127.0.0.1:6379` or `${REDIS_URL:-redis://127.0.0.1:6379}`",
            );
        cx.error(0, d);
        return None;
    }
    let prefix = match &r.value.prefix {
        Some(p) => p.value.clone(),
        None => default_prefix.to_owned(),
    };
    let timeout = match &r.value.timeout {
        Some(t) => duration(cx, 0, t, false)??,
        None => Duration::from_millis(100),
    };
    Some(AiStorePlan::Redis {
        url: written.to_owned(),
        prefix,
        timeout,
    })
}

/// Checks `ai.context`.
pub(crate) fn context(cx: &mut Ctx<'_, '_>, spec: &Spanned<ContextSpec>) -> Option<ContextPlan> {
    let errors = cx.errors.len();
    let at = cx.key_span(0, spec, "context");
    let c = &spec.value;
    let id = match &c.id {
        None => Some(ContextIdPlan::Header("X-Conversation-Id".to_owned())),
        Some(id) => match (&id.value.header, &id.value.body) {
            (Some(h), None) => cx.text(0, h).map(ContextIdPlan::Header),
            (None, Some(b)) => cx.text(0, b).map(ContextIdPlan::Body),
            _ => {
                let span = cx.key_span(0, id, "id");
                let d = Diagnostic::new("`id` needs exactly one of `header` and `body`")
                    .at(span, "where the conversation id is read")
                    .help("write `id: { header: X-Conversation-Id }` or `id: { body: conversation_id }`");
                cx.error(0, d);
                None
            }
        },
    };
    if let Some(ContextIdPlan::Header(n) | ContextIdPlan::Body(n)) = &id
        && (n.is_empty()
            || !n
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        && let Some(idv) = &c.id
    {
        let span = cx.key_span(0, idv, "id");
        let d = Diagnostic::new(format!("`{n}` is not a header or field name"))
            .at(span, "letters, digits, `-` and `_` only");
        cx.error(0, d);
    }
    let store = store(cx, &c.store, &c.redis, at, "ember:conv:");
    let ttl = match &c.ttl {
        Some(t) => duration(cx, 0, t, false).flatten(),
        None => Some(Duration::from_secs(3600)),
    };
    let max_messages = match &c.max_messages {
        Some(v) => count(cx, 0, v, 1..=10_000).map(|n| n as u32),
        None => Some(50),
    };
    let max_tokens = match &c.max_tokens {
        Some(v) => count(cx, 0, v, 1..=10_000_000).map(|n| n as u32),
        None => Some(8000),
    };
    if cx.errors.len() > errors {
        return None;
    }
    Some(ContextPlan {
        id: id?,
        store: store?,
        ttl: ttl?,
        max_messages: max_messages?,
        max_tokens: max_tokens?,
    })
}

/// Checks `ai.limits`.
pub(crate) fn limits(
    cx: &mut Ctx<'_, '_>,
    spec: &Spanned<TokenLimitsSpec>,
) -> Option<TokenLimitsPlan> {
    let errors = cx.errors.len();
    let at = cx.key_span(0, spec, "limits");
    let l = &spec.value;
    let tokens = |cx: &mut Ctx<'_, '_>, v: &Option<Spanned<crate::spec::Scalar>>, default| match v {
        Some(v) => count(cx, 0, v, 1..=1_000_000_000_000),
        None => Some(default),
    };
    let tpm = tokens(cx, &l.tokens_per_minute, 0);
    let max_prompt = tokens(cx, &l.max_prompt_tokens, 0);
    let default_max = tokens(cx, &l.default_max_tokens, 1024);
    let tpm_env = l
        .tokens_per_minute_env
        .as_ref()
        .and_then(|v| env_name(cx, v));
    let max_env = l
        .max_prompt_tokens_env
        .as_ref()
        .and_then(|v| env_name(cx, v));
    let per = match &l.per {
        None => Some(TokenPer::Ip),
        Some(p) => {
            let name = cx.text(0, p).unwrap_or_default();
            let per = match name.as_str() {
                "ip" => Some(TokenPer::Ip),
                "api_key" => Some(TokenPer::ApiKey),
                "identity" => Some(TokenPer::Identity),
                "global" => Some(TokenPer::Global),
                _ => None,
            };
            if per.is_none() {
                let span = cx.span(0, p);
                unknown(cx, span, "budget key (`per`)", &name, TOKEN_PER);
            }
            per
        }
    };
    let store = store(cx, &l.store, &l.redis, at, "ember:tpm:");
    if cx.errors.len() > errors {
        return None;
    }
    Some(TokenLimitsPlan {
        tokens_per_minute: tpm?,
        tokens_per_minute_env: tpm_env,
        per: per?,
        max_prompt_tokens: max_prompt?,
        max_prompt_tokens_env: max_env,
        default_max_tokens: default_max?,
        store: store?,
    })
}
