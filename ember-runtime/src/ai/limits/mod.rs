//! Token limits, enforced at admission: a prompt over `max_prompt_tokens` is refused
//! before any upstream call; otherwise prompt + `max_tokens` (or `default_max_tokens`) is
//! reserved against a tokens-per-minute budget, and settled against the upstream's usage
//! when the answer ends (the unused part is given back).
//!
//! Window: a **fixed one-minute window** aligned on the wall clock (minute `now_ms /
//! 60000`); every reservation is counted in the window it was made in and settled there
//! (a settlement after that window ended changes nothing). Admission is atomic: a request
//! is admitted only when `used + cost ≤ limit`, so a burst never admits more than the
//! budget. In memory the counters are sharded maps shared by every worker; in Redis one
//! key per client and window (`PREFIX{KEY}:WINDOW`), changed by Lua scripts. A Redis
//! failure fails open: the request is admitted unreserved, with a rate-limited warning
//! (as the rate limiter does) — an outage of the store never becomes an outage of the
//! gateway.

#[cfg(test)]
mod bench;
mod memory;
mod redis;

use sha2::{Digest, Sha256};

use super::store::{RedisAt, StoreSpec, wall_ms};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::status::StatusCode;

/// The window's length.
const WINDOW_MS: u64 = 60_000;

/// What each request's budget is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// The client's IP address (the TCP peer).
    Ip,
    /// The `Authorization: Bearer` key (hashed; absent keys share one budget).
    ApiKey,
    /// The identity set by the auth middleware (absent: one shared budget).
    Identity,
    /// One budget for everyone.
    Global,
}

/// `ai.limits` as compiled.
#[derive(Debug, Clone, Copy)]
pub struct LimitsSpec {
    /// Tokens per minute (0: no budget).
    pub tokens_per_minute: u64,
    /// Overrides `tokens_per_minute` when set at run time.
    pub tokens_per_minute_env: Option<&'static str>,
    /// What a budget belongs to.
    pub per: Per,
    /// The longest prompt admitted (0: no cap).
    pub max_prompt_tokens: u64,
    /// Overrides `max_prompt_tokens` when set at run time.
    pub max_prompt_tokens_env: Option<&'static str>,
    /// Reserved for the answer when the request names no `max_tokens`.
    pub default_max_tokens: u64,
    /// Where the counters live.
    pub store: StoreSpec,
}

/// The limits at run time (environment read).
#[derive(Debug)]
pub(crate) struct Limits {
    spec: &'static LimitsSpec,
    /// Tokens per minute (0: none).
    pub(crate) tpm: u64,
    /// The longest prompt (0: none).
    pub(crate) max_prompt: u64,
    memory: memory::Windows,
    redis: Option<RedisAt>,
}

/// A reservation held for one admitted request, settled when its answer ends.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    key: String,
    window: u64,
    /// What was reserved (0: nothing, e.g. the store was down).
    pub(crate) reserved: u64,
    limit: u64,
    remaining: u64,
}

/// Why a request was not admitted.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The prompt alone is over `max_prompt_tokens`: 400.
    PromptTooLong { prompt: u64, max: u64 },
    /// Over the budget: 429.
    OverBudget {
        limit: u64,
        used: u64,
        cost: u64,
        reset_ms: u64,
    },
}

fn env_u64(name: Option<&str>, default: u64) -> u64 {
    let Some(name) = name else { return default };
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                tracing::error!("{name}={v:?} is not a whole number of tokens; using {default}");
                default
            }
        },
        _ => default,
    }
}

impl Limits {
    /// The limits of `spec`, run-time overrides read now.
    pub(crate) fn resolve(spec: &'static LimitsSpec) -> Limits {
        let tpm = env_u64(spec.tokens_per_minute_env, spec.tokens_per_minute);
        let max_prompt = env_u64(spec.max_prompt_tokens_env, spec.max_prompt_tokens);
        let redis = match &spec.store {
            StoreSpec::Memory => None,
            StoreSpec::Redis(r) => Some(RedisAt::resolve(r, "ai.limits")),
        };
        Limits {
            spec,
            tpm,
            max_prompt,
            memory: memory::Windows::new(),
            redis,
        }
    }

    /// The tokens reserved for a request's answer.
    pub(crate) fn answer_budget(&self, asked: Option<u32>) -> u64 {
        asked.map_or(self.spec.default_max_tokens, u64::from)
    }

    /// The budget key of `req` (`ip:…`, `key:…` a hash of the bearer key, `id:…`,
    /// `global`; `none` when the request has no such thing).
    pub(crate) fn key(&self, req: &Request<'_>) -> String {
        match self.spec.per {
            Per::Global => "global".to_owned(),
            Per::Ip => match req.peer_ip() {
                Some(ip) => format!("ip:{ip}"),
                None => "none".to_owned(),
            },
            Per::ApiKey => match req
                .header_str("authorization")
                .and_then(|a| a.strip_prefix("Bearer ").or(a.strip_prefix("bearer ")))
            {
                Some(k) if !k.trim().is_empty() => {
                    let h = Sha256::digest(k.trim().as_bytes());
                    let mut s = String::with_capacity(4 + 32);
                    s.push_str("key:");
                    for b in &h[..16] {
                        s.push_str(&format!("{b:02x}"));
                    }
                    s
                }
                _ => "none".to_owned(),
            },
            Per::Identity => match req.identity() {
                Some(id) if !id.is_empty() => format!("id:{id}"),
                _ => "none".to_owned(),
            },
        }
    }

    /// Admits a request of `prompt` tokens that may generate `answer` more, under `key`.
    pub(crate) async fn admit(
        &self,
        key: String,
        prompt: u64,
        answer: u64,
    ) -> Result<Held, Refusal> {
        if self.max_prompt > 0 && prompt > self.max_prompt {
            return Err(Refusal::PromptTooLong {
                prompt,
                max: self.max_prompt,
            });
        }
        let now = wall_ms();
        let window = now / WINDOW_MS;
        let reset_ms = (window + 1) * WINDOW_MS - now;
        let limit = self.tpm;
        if limit == 0 {
            return Ok(Held {
                key,
                window,
                reserved: 0,
                limit: 0,
                remaining: 0,
            });
        }
        let cost = prompt + answer;
        let outcome = match &self.redis {
            None => Ok(self.memory.reserve(&key, window, cost, limit)),
            Some(r) => redis::reserve(r, &key, window, cost, limit).await,
        };
        match outcome {
            Ok(Ok(used)) => Ok(Held {
                key,
                window,
                reserved: cost,
                limit,
                remaining: limit.saturating_sub(used),
            }),
            Ok(Err(used)) => Err(Refusal::OverBudget {
                limit,
                used,
                cost,
                reset_ms,
            }),
            // Logged by the registry: fail open, nothing reserved.
            Err(_) => Ok(Held {
                key,
                window,
                reserved: 0,
                limit,
                remaining: limit,
            }),
        }
    }

    /// Settles `held` against what the answer used (`used` tokens in all): gives back
    /// the unused part of the reservation (or charges the excess).
    pub(crate) fn settle(&'static self, held: Held, used: u64) {
        if held.reserved == 0 {
            return;
        }
        let delta = used as i64 - held.reserved as i64;
        if delta == 0 {
            return;
        }
        match &self.redis {
            None => self.memory.adjust(&held.key, held.window, delta),
            Some(r) => {
                if tokio::runtime::Handle::try_current().is_ok() {
                    tokio::task::spawn_local(async move {
                        let _ = redis::adjust(r, &held.key, held.window, delta).await;
                    });
                }
            }
        }
    }
}

impl Held {
    /// Adds `x-ratelimit-limit-tokens` / `x-ratelimit-remaining-tokens` to an admitted
    /// answer (nothing without a budget).
    pub(crate) fn annotate(&self, resp: Response) -> Response {
        if self.limit == 0 {
            return resp;
        }
        let mut a = itoa::Buffer::new();
        let mut b = itoa::Buffer::new();
        resp.header("x-ratelimit-limit-tokens", a.format(self.limit))
            .header("x-ratelimit-remaining-tokens", b.format(self.remaining))
    }
}

/// A duration as OpenAI writes `x-ratelimit-reset-tokens` (`850ms`, `12.5s`).
fn reset_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", s.trim_end_matches('0'))
    }
}

impl Refusal {
    /// The OpenAI-shaped refusal: 400 `context_length_exceeded`, or 429
    /// `rate_limit_exceeded` with `retry-after` and the `x-ratelimit-*-tokens` headers.
    pub(crate) fn into_response(self) -> Response {
        match self {
            Refusal::PromptTooLong { prompt, max } => {
                let body = serde_json::json!({ "error": {
                    "message": format!("This model's maximum prompt length is {max} tokens. However, your messages resulted in {prompt} tokens. Please reduce the length of the messages."),
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded"
                }});
                Response::bytes(body.to_string())
                    .with_status(StatusCode::BAD_REQUEST)
                    .with_content_type("application/json")
            }
            Refusal::OverBudget {
                limit,
                used,
                cost,
                reset_ms,
            } => {
                let message = if cost > limit {
                    format!(
                        "Request too large for tokens per min (TPM): Limit {limit}, Requested {cost}. Please reduce the size of your request."
                    )
                } else {
                    format!(
                        "Rate limit reached for tokens per min (TPM): Limit {limit}, Used {used}, Requested {cost}. Please try again in {}.",
                        reset_text(reset_ms)
                    )
                };
                let body = serde_json::json!({ "error": {
                    "message": message,
                    "type": "tokens",
                    "param": null,
                    "code": "rate_limit_exceeded"
                }});
                let mut a = itoa::Buffer::new();
                let mut b = itoa::Buffer::new();
                let mut c = itoa::Buffer::new();
                let mut d = itoa::Buffer::new();
                Response::bytes(body.to_string())
                    .with_status(StatusCode::TOO_MANY_REQUESTS)
                    .with_content_type("application/json")
                    .header("retry-after", a.format(reset_ms.div_ceil(1000).max(1)))
                    .header("retry-after-ms", b.format(reset_ms))
                    .header("x-ratelimit-limit-tokens", c.format(limit))
                    .header(
                        "x-ratelimit-remaining-tokens",
                        d.format(limit.saturating_sub(used)),
                    )
                    .header("x-ratelimit-reset-tokens", &reset_text(reset_ms))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_is_written_like_openai() {
        assert_eq!(reset_text(850), "850ms");
        assert_eq!(reset_text(12_000), "12s");
        assert_eq!(reset_text(12_500), "12.5s");
    }
}
