//! The in-process store, shared by every worker thread: a fixed number of shards, each a
//! `Mutex<HashMap>` held only to look up, insert or remove (never across an `.await`).
//!
//! A slot holds the key's entry (in-process caches), the flight computing it (every cache
//! kind: this is the single-flight table), or both while a stale entry is refreshed.
//! Eviction is second-chance (CLOCK): a queue of keys in insertion order; a key read since
//! the hand last passed gets another round, an expired or unread one is evicted.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::Notify;

use super::entry::{Entry, Freshness};
use crate::http::status::StatusCode;

/// What a finished flight hands its waiters.
pub(crate) type Outcome = Result<Arc<Entry>, StatusCode>;

/// One computation of a key that other requests (on any worker) wait for.
#[derive(Debug, Default)]
pub(crate) struct Flight {
    done: OnceLock<Outcome>,
    notify: Notify,
}

impl Flight {
    /// Waits for the outcome (woken from whichever thread completes it).
    pub(crate) async fn wait(&self) -> Outcome {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(o) = self.done.get() {
                return o.clone();
            }
            notified.await;
        }
    }

    /// The outcome, if the flight is over.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        self.done.get().cloned()
    }

    /// Publishes the outcome and wakes every waiter; later calls are ignored.
    pub(crate) fn complete(&self, outcome: Outcome) {
        let _ = self.done.set(outcome);
        self.notify.notify_waiters();
    }
}

/// A key's state.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) entry: Option<Arc<Entry>>,
    pub(crate) flight: Option<Arc<Flight>>,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Arc<[u8]>, Slot>,
    clock: VecDeque<Arc<[u8]>>,
    bytes: usize,
    entries: usize,
}

/// Limits per shard (0: none).
#[derive(Debug, Clone, Copy, Default)]
struct ShardLimits {
    entries: usize,
    bytes: usize,
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// A fresh entry.
    Fresh(Arc<Entry>),
    /// A stale entry within its revalidation window.
    Stale(Arc<Entry>),
    /// Someone is computing the key: wait for them.
    Wait(Arc<Flight>),
    /// Nothing usable: the caller now leads a new flight for `key`.
    Lead(Arc<[u8]>, Arc<Flight>),
}

/// The sharded table.
#[derive(Debug)]
pub(crate) struct Store {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    limits: ShardLimits,
}

impl Store {
    /// A table for at most `max_entries` entries and `max_bytes` bytes (0: no limit).
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        // Small caches use one shard so that their limits stay exact.
        let n = if max_entries != 0 && max_entries < 1024 {
            1
        } else {
            16
        };
        let shards = (0..n).map(|_| Mutex::new(Shard::default())).collect();
        Store {
            shards,
            hasher: RandomState::new(),
            limits: ShardLimits {
                entries: if max_entries == 0 {
                    0
                } else {
                    max_entries.div_ceil(n).max(1)
                },
                bytes: if max_bytes == 0 {
                    0
                } else {
                    max_bytes.div_ceil(n).max(1)
                },
            },
        }
    }

    fn shard(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) & (self.shards.len() - 1);
        // A panic while holding a shard lock leaves the map consistent (every critical
        // section is a plain map operation), so a poisoned lock is still usable.
        match self.shards[i].lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Looks `key` up for a request. With `keep_entries` false (remote caches) only
    /// flights live here. `allow_stale` serves stale entries (stale-while-revalidate).
    pub(crate) fn lookup(&self, key: &[u8], now: u64) -> Lookup {
        let mut shard = self.shard(key);
        let mut expired = false;
        if let Some(slot) = shard.map.get_mut(key) {
            if let Some(e) = &slot.entry {
                match e.freshness(now) {
                    Freshness::Fresh => {
                        e.touch();
                        return Lookup::Fresh(e.clone());
                    }
                    Freshness::Stale => {
                        e.touch();
                        return Lookup::Stale(e.clone());
                    }
                    Freshness::Expired => expired = true,
                }
            }
            if let Some(f) = &slot.flight {
                // A finished flight that lingers (its value is being written to a remote
                // store) answers directly.
                if let Some(Ok(e)) = f.outcome()
                    && e.freshness(now) != Freshness::Expired
                {
                    return Lookup::Fresh(e);
                }
                return Lookup::Wait(f.clone());
            }
        }
        if expired {
            shard.remove_entry(key);
        }
        let flight = Arc::new(Flight::default());
        let key: Arc<[u8]> = Arc::from(key);
        let slot = shard.map.entry(key.clone()).or_default();
        slot.flight = Some(flight.clone());
        Lookup::Lead(key, flight)
    }

    /// Ends `flight` for `key` (if it is still the key's flight), storing `entry` when
    /// given.
    pub(crate) fn finish(&self, key: &Arc<[u8]>, flight: &Arc<Flight>, entry: Option<Arc<Entry>>) {
        let mut shard = self.shard(key);
        let ours = shard
            .map
            .get(&**key)
            .and_then(|s| s.flight.as_ref())
            .is_some_and(|f| Arc::ptr_eq(f, flight));
        if ours && let Some(slot) = shard.map.get_mut(&**key) {
            slot.flight = None;
        }
        match entry {
            Some(e) => shard.insert(key.clone(), e, self.limits),
            None => {
                if shard
                    .map
                    .get(&**key)
                    .is_some_and(|s| s.entry.is_none() && s.flight.is_none())
                {
                    shard.map.remove(&**key);
                }
            }
        }
    }

    /// Stores an entry outside any flight (a background refresh, `Cache::set`).
    pub(crate) fn put(&self, key: &[u8], entry: Arc<Entry>) {
        let mut shard = self.shard(key);
        let key = match shard.map.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        };
        shard.insert(key, entry, self.limits);
    }

    /// The entry under `key`, if any and not expired.
    pub(crate) fn get(&self, key: &[u8], now: u64) -> Option<Arc<Entry>> {
        let shard = self.shard(key);
        let e = shard.map.get(key)?.entry.as_ref()?;
        (e.freshness(now) != Freshness::Expired).then(|| e.clone())
    }

    /// Removes the entry under `key`; whether there was one.
    pub(crate) fn remove(&self, key: &[u8]) -> bool {
        self.shard(key).remove_entry(key)
    }

    /// Removes every entry whose key starts with `prefix`; how many.
    pub(crate) fn remove_prefix(&self, prefix: &[u8]) -> usize {
        let mut n = 0;
        for s in self.shards.iter() {
            let mut shard = match s.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let keys: Vec<Arc<[u8]>> = shard
                .map
                .iter()
                .filter(|(k, s)| k.starts_with(prefix) && s.entry.is_some())
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                n += usize::from(shard.remove_entry(&k));
            }
        }
        n
    }

    /// Entries held (for tests and stats).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.lock() {
                Ok(g) => g.entries,
                Err(p) => p.into_inner().entries,
            })
            .sum()
    }
}

impl Shard {
    fn remove_entry(&mut self, key: &[u8]) -> bool {
        let Some(slot) = self.map.get_mut(key) else {
            return false;
        };
        let Some(old) = slot.entry.take() else {
            return false;
        };
        self.entries -= 1;
        self.bytes = self.bytes.saturating_sub(old.weight(key.len()));
        if slot.flight.is_none() {
            self.map.remove(key);
        }
        // The clock queue forgets the key lazily.
        true
    }

    fn insert(&mut self, key: Arc<[u8]>, entry: Arc<Entry>, limits: ShardLimits) {
        let weight = entry.weight(key.len());
        let slot = self.map.entry(key.clone()).or_default();
        match slot.entry.replace(entry) {
            Some(old) => {
                self.bytes = self.bytes.saturating_sub(old.weight(key.len())) + weight;
            }
            None => {
                self.entries += 1;
                self.bytes += weight;
                self.clock.push_back(key);
            }
        }
        self.evict(limits);
    }

    fn over(&self, limits: ShardLimits) -> bool {
        (limits.entries != 0 && self.entries > limits.entries)
            || (limits.bytes != 0 && self.bytes > limits.bytes)
    }

    fn evict(&mut self, limits: ShardLimits) {
        let now = super::entry::now_ms();
        // Every key gets at most one second chance per pass.
        let mut budget = self.clock.len() * 2 + 1;
        while self.over(limits) && budget > 0 {
            budget -= 1;
            let Some(key) = self.clock.pop_front() else {
                break;
            };
            let Some(e) = self.map.get(&*key).and_then(|s| s.entry.clone()) else {
                // Already removed: the queue forgets it now.
                continue;
            };
            if e.freshness(now) != Freshness::Expired && e.referenced.swap(false, Ordering::Relaxed)
            {
                self.clock.push_back(key);
                continue;
            }
            self.remove_entry(&key);
        }
        // Keep the queue from growing without bound with keys removed by purges.
        if self.clock.len() > 2 * self.entries + 64 {
            let map = &self.map;
            self.clock
                .retain(|k| map.get(&**k).is_some_and(|s| s.entry.is_some()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(body: &'static [u8], fresh: u64, stale: u64) -> Arc<Entry> {
        Arc::new(Entry::new(
            200,
            Bytes::new(),
            Bytes::from_static(body),
            fresh,
            stale,
        ))
    }

    #[test]
    fn lead_then_wait_then_fresh() {
        let s = Store::new(0, 0);
        let Lookup::Lead(key, flight) = s.lookup(b"k", 0) else {
            panic!("first lookup leads")
        };
        assert!(matches!(s.lookup(b"k", 0), Lookup::Wait(_)));
        s.finish(&key, &flight, Some(entry(b"v", 100, 200)));
        assert!(matches!(s.lookup(b"k", 50), Lookup::Fresh(_)));
        assert!(matches!(s.lookup(b"k", 150), Lookup::Stale(_)));
        assert!(matches!(s.lookup(b"k", 250), Lookup::Lead(..)));
    }

    #[test]
    fn abandoned_flight_leaves_no_slot() {
        let s = Store::new(0, 0);
        let Lookup::Lead(key, flight) = s.lookup(b"k", 0) else {
            panic!()
        };
        s.finish(&key, &flight, None);
        assert!(matches!(s.lookup(b"k", 0), Lookup::Lead(..)));
    }

    #[test]
    fn evicts_unread_first_and_respects_limits() {
        let s = Store::new(2, 0);
        s.put(b"a", entry(b"1", u64::MAX, u64::MAX));
        s.put(b"b", entry(b"2", u64::MAX, u64::MAX));
        // `a` is read, so `b` goes when `c` arrives.
        assert!(s.get(b"a", 0).is_some());
        assert!(matches!(s.lookup(b"a", 0), Lookup::Fresh(_)));
        s.put(b"c", entry(b"3", u64::MAX, u64::MAX));
        assert_eq!(s.len(), 2);
        assert!(s.get(b"a", 0).is_some());
        assert!(s.get(b"b", 0).is_none());
        assert!(s.get(b"c", 0).is_some());
    }

    #[test]
    fn byte_limit_and_prefix_removal() {
        let s = Store::new(0, 1000);
        for i in 0..50u8 {
            s.put(&[b'p', i], entry(b"0123456789", u64::MAX, u64::MAX));
        }
        assert!(s.len() < 50);
        let n = s.len();
        assert_eq!(s.remove_prefix(b"p"), n);
        assert_eq!(s.len(), 0);
    }
}
