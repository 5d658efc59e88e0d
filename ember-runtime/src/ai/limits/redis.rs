//! Token windows in Redis: one key per budget key and window, `PREFIX{KEY}:WINDOW` (the
//! hash tag keeps a script's key in one cluster slot), changed by Lua scripts so that
//! every instance shares one atomic counter.

use std::sync::OnceLock;

use super::WINDOW_MS;
use crate::ai::store::RedisAt;
use crate::remote::Failure;

/// Reserve: admit when `used + cost ≤ limit`. Returns `{admitted, used}`.
const RESERVE: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local cost = tonumber(ARGV[1])
if used + cost > tonumber(ARGV[2]) then return {0, used} end
used = redis.call('INCRBY', KEYS[1], cost)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, used}
";

/// Settle: add a delta to a window that still exists, never below 0.
const ADJUST: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') end
return 1
";

fn reserve_script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| redis::Script::new(RESERVE))
}

fn adjust_script() -> &'static redis::Script {
    static S: OnceLock<redis::Script> = OnceLock::new();
    S.get_or_init(|| redis::Script::new(ADJUST))
}

fn redis_key(r: &RedisAt, key: &str, window: u64) -> String {
    format!("{}{{{key}}}:{window}", r.prefix)
}

/// Reserves `cost`: `Ok(Ok(used))` admitted, `Ok(Err(used))` over the limit.
pub(super) async fn reserve(
    r: &RedisAt,
    key: &str,
    window: u64,
    cost: u64,
    limit: u64,
) -> Result<Result<u64, u64>, Failure> {
    let mut inv = reserve_script().prepare_invoke();
    inv.key(redis_key(r, key, window))
        .arg(cost)
        .arg(limit)
        .arg(2 * WINDOW_MS);
    let (ok, used): (i64, i64) = r.invoke("reserve tokens", &inv).await?;
    let used = used.max(0) as u64;
    Ok(if ok == 1 { Ok(used) } else { Err(used) })
}

/// Adds `delta` to the window's counter, if it still exists.
pub(super) async fn adjust(r: &RedisAt, key: &str, window: u64, delta: i64) -> Result<(), Failure> {
    let mut inv = adjust_script().prepare_invoke();
    inv.key(redis_key(r, key, window)).arg(delta);
    let _: i64 = r.invoke("settle tokens", &inv).await?;
    Ok(())
}
