//! Conversations in this process: sharded maps shared by every worker.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Entry, History, trim};

const SHARDS: usize = 16;
/// The most conversations kept in memory (past it, the expired ones go, then those
/// closest to expiring).
pub(crate) const MAX_CONVERSATIONS: usize = 100_000;

#[derive(Debug)]
struct Stored {
    history: History,
    expires: Instant,
}

/// Conversations by id.
#[derive(Debug)]
pub(super) struct Conversations {
    hasher: RandomState,
    shards: [Mutex<HashMap<String, Stored>>; SHARDS],
}

impl Conversations {
    pub(super) fn new() -> Conversations {
        Conversations {
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        let i = self.hasher.hash_one(id) as usize % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn load(&self, id: &str) -> History {
        let map = self.shard(id);
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => s.history.clone(),
            _ => History::default(),
        }
    }

    pub(super) fn append(
        &self,
        id: &str,
        system: Option<Entry>,
        turns: Vec<Entry>,
        max_messages: usize,
        max_tokens: u64,
        ttl: Duration,
    ) {
        let now = Instant::now();
        let mut map = self.shard(id);
        if map.len() >= MAX_CONVERSATIONS / SHARDS && !map.contains_key(id) {
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_CONVERSATIONS / SHARDS
                && let Some(k) = map
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&k);
            }
        }
        let s = map.entry(id.to_owned()).or_insert_with(|| Stored {
            history: History::default(),
            expires: now,
        });
        if s.expires <= now {
            s.history = History::default();
        }
        if system.is_some() {
            s.history.system = system;
        }
        s.history.turns.extend(turns);
        trim(&mut s.history.turns, max_messages, max_tokens);
        s.expires = now + ttl;
    }

    pub(super) fn clear(&self, id: &str) {
        self.shard(id).remove(id);
    }
}
