//! Token windows in this process: sharded maps shared by every worker, one counter per
//! budget key and window, changed under the shard's lock (atomic admission).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

const SHARDS: usize = 16;
/// A shard over this many keys forgets the counters of past windows.
const SWEEP_AT: usize = 4096;

/// The counters: key → (window, tokens used in it).
#[derive(Debug)]
pub(super) struct Windows {
    hasher: RandomState,
    shards: [Mutex<HashMap<String, (u64, u64)>>; SHARDS],
}

impl Windows {
    pub(super) fn new() -> Windows {
        Windows {
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, (u64, u64)>> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves `cost` in `window` unless that goes over `limit`: `Ok(used after)` or
    /// `Err(used)`.
    pub(super) fn reserve(
        &self,
        key: &str,
        window: u64,
        cost: u64,
        limit: u64,
    ) -> Result<u64, u64> {
        let mut map = self.shard(key);
        if map.len() >= SWEEP_AT && !map.contains_key(key) {
            map.retain(|_, (w, _)| *w >= window);
        }
        let slot = match map.get_mut(key) {
            Some(s) => s,
            None => map.entry(key.to_owned()).or_insert((window, 0)),
        };
        if slot.0 != window {
            *slot = (window, 0);
        }
        if slot.1 + cost > limit {
            return Err(slot.1);
        }
        slot.1 += cost;
        Ok(slot.1)
    }

    /// Adds `delta` to `key`'s counter if it is still in `window` (never below 0).
    pub(super) fn adjust(&self, key: &str, window: u64, delta: i64) {
        let mut map = self.shard(key);
        if let Some(slot) = map.get_mut(key)
            && slot.0 == window
        {
            slot.1 = (slot.1 as i64 + delta).max(0) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_never_admits_more_than_the_limit_and_unused_tokens_come_back() {
        let w = std::sync::Arc::new(Windows::new());
        let admitted = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..100 {
                        if w.reserve("k", 7, 30, 1000).is_ok() {
                            admitted.fetch_add(30, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), 990);
        w.adjust("k", 7, -500);
        assert_eq!(w.reserve("k", 7, 500, 1000), Ok(990));
        // A new window starts from 0; a settlement for the old one changes nothing.
        assert_eq!(w.reserve("k", 8, 1000, 1000), Ok(1000));
        w.adjust("k", 7, -1000);
        assert_eq!(w.reserve("k", 8, 1, 1000), Err(1000));
    }
}
