//! Conversations in Redis, shared by every instance: `PREFIX{ID}:sys` (the system prompt),
//! `PREFIX{ID}:log` (a list of turns, JSON) and `PREFIX{ID}:tok` (their tokens), one hash
//! tag so one script can change all three atomically (and in one cluster slot).

use std::sync::OnceLock;
use std::time::Duration;

use super::{Entry, History};
use crate::ai::store::RedisAt;
use crate::remote::Failure;

/// Append: ARGV = ttl_ms, max_messages, max_tokens, system JSON or '', entries (JSON with
/// `t` first). Trims the oldest turns, then any leading turn that is not a user's.
const APPEND: &str = r#"
local ttl, maxm, maxt = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[4] ~= '' then redis.call('SET', KEYS[1], ARGV[4]) end
local tok = tonumber(redis.call('GET', KEYS[3]) or '0')
for i = 5, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  tok = tok + tonumber(string.match(ARGV[i], '^{"t":(%d+)'))
end
local n = redis.call('LLEN', KEYS[2])
local function drop()
  local e = redis.call('LPOP', KEYS[2])
  n = n - 1
  tok = tok - tonumber(string.match(e, '^{"t":(%d+)'))
end
while n > 0 and (n > maxm or tok > maxt) do drop() end
while n > 0 do
  local first = redis.call('LINDEX', KEYS[2], 0)
  if string.find(first, '"m":{"role":"user"', 1, true) then break end
  drop()
end
redis.call('SET', KEYS[3], tok)
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return n
"#;

fn keys(r: &RedisAt, id: &str) -> [String; 3] {
    let base = format!("{}{{{id}}}", r.prefix);
    [
        format!("{base}:sys"),
        format!("{base}:log"),
        format!("{base}:tok"),
    ]
}

pub(super) async fn load(r: &RedisAt, id: &str) -> Result<History, Failure> {
    let [sys, log, _] = keys(r, id);
    let mut p = redis::pipe();
    p.cmd("GET")
        .arg(&sys)
        .cmd("LRANGE")
        .arg(&log)
        .arg(0)
        .arg(-1);
    let (sys, log): (Option<String>, Vec<String>) = r.query("load conversation", &p).await?;
    Ok(History {
        system: sys.and_then(|s| serde_json::from_str(&s).ok()),
        turns: log
            .iter()
            .filter_map(|e| serde_json::from_str(e).ok())
            .collect(),
    })
}

pub(super) async fn append(
    r: &RedisAt,
    id: &str,
    system: Option<Entry>,
    turns: Vec<Entry>,
    max_messages: usize,
    max_tokens: u64,
    ttl: Duration,
) -> Result<(), Failure> {
    static SCRIPT: OnceLock<redis::Script> = OnceLock::new();
    let script = SCRIPT.get_or_init(|| redis::Script::new(APPEND));
    let mut inv = script.prepare_invoke();
    for k in keys(r, id) {
        inv.key(k);
    }
    let json = |e: &Entry| serde_json::to_string(e).unwrap_or_default();
    inv.arg(ttl.as_millis().max(1) as u64)
        .arg(max_messages)
        .arg(max_tokens)
        .arg(system.as_ref().map(json).unwrap_or_default());
    for t in &turns {
        inv.arg(json(t));
    }
    let _: i64 = r.invoke("record conversation", &inv).await?;
    Ok(())
}

pub(super) async fn clear(r: &RedisAt, id: &str) -> Result<(), Failure> {
    let mut p = redis::pipe();
    p.cmd("DEL").arg(&keys(r, id)[..]).ignore();
    r.query::<()>("clear conversation", &p).await
}
