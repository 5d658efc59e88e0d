//! The `memory` session store: one sharded map per process, shared by every worker.
//! Locks are held for a map operation only, never across an `.await`.

use std::collections::HashMap;
use std::sync::Mutex;

use super::record::{Record, Ttls};

/// Shards (a power of two); an id's first character picks one.
const SHARDS: usize = 16;
/// A shard drops its expired sessions every this many writes.
const SWEEP_EVERY: u32 = 256;

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<String, Record>,
    writes: u32,
}

/// Sessions held in this process.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
}

impl MemoryStore {
    pub(crate) fn new() -> Self {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, Shard> {
        let i = id.bytes().next().map_or(0, usize::from) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live session `id`, marked used at `now` (an expired one is dropped).
    pub(crate) fn load(&self, id: &str, ttls: Ttls, now: u64) -> Option<Record> {
        let mut shard = self.shard(id);
        let rec = shard.map.get_mut(id)?;
        if !ttls.alive(rec.created, rec.seen, now) {
            shard.map.remove(id);
            return None;
        }
        rec.seen = now;
        Some(rec.clone())
    }

    /// Stores `record` as session `id`.
    pub(crate) fn save(&self, id: &str, record: Record, ttls: Ttls, now: u64) {
        let mut shard = self.shard(id);
        shard.writes = shard.writes.wrapping_add(1);
        if shard.writes.is_multiple_of(SWEEP_EVERY) {
            shard.map.retain(|_, r| ttls.alive(r.created, r.seen, now));
        }
        shard.map.insert(id.to_owned(), record);
    }

    /// Drops session `id`.
    pub(crate) fn delete(&self, id: &str) {
        self.shard(id).map.remove(id);
    }

    /// How many sessions are held (live or not yet swept).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.map.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_expired_ones_are_swept() {
        let store = MemoryStore::new();
        let ttls = Ttls {
            idle: 100,
            absolute: 1000,
        };
        let rec = Record {
            created: 0,
            seen: 0,
            ..Record::default()
        };
        store.save("a", rec.clone(), ttls, 0);
        assert!(store.load("a", ttls, 50).is_some(), "used at 50");
        assert!(
            store.load("a", ttls, 140).is_some(),
            "idle counts from the last use"
        );
        assert!(store.load("a", ttls, 300).is_none(), "idle too long");
        assert_eq!(store.len(), 0, "dropped when found expired");
        // One shard (the same first character): its 256th write sweeps it.
        let store = MemoryStore::new();
        for i in 0..SWEEP_EVERY - 1 {
            store.save(&format!("b{i}"), rec.clone(), ttls, 0);
        }
        assert_eq!(store.len(), SWEEP_EVERY as usize - 1);
        let fresh = Record {
            created: 10_000,
            seen: 10_000,
            ..Record::default()
        };
        store.save("b-last", fresh, ttls, 10_000);
        assert_eq!(store.len(), 1, "the expired ones are swept");
        store.delete("b-last");
        assert!(store.load("b-last", ttls, 10_000).is_none());
    }
}
