//! One shard's part of the keyspace: values, expiry (lazy on access plus an
//! active sweep), and the lock a multi-shard transaction holds.

mod glob;
mod value;
pub use value::{Score, Value, ZSet};

pub use glob::glob_match;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;

use indexmap::{IndexMap, IndexSet};
use rustc_hash::FxHasher;

/// The hasher of every map here (and of key routing): fast, deterministic.
pub type Fx = BuildHasherDefault<FxHasher>;

/// A value, when it expires (ms since the Unix epoch), and how it was
/// used (what `maxmemory`'s LRU and LFU policies and OBJECT IDLETIME and
/// FREQ read; see `evict`).
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expires_at: Option<u64>,
    /// The last access, in ms on the loop's clock, wrapping (32 bits:
    /// idle times up to 49 days).
    pub touched: u32,
    /// Redis's LFU word: the minutes clock of the last decrement (high 16
    /// bits) and the logarithmic access counter (low 8).
    pub lfu: u32,
}

impl Entry {
    /// A new entry, accessed at `clock` (ms).
    #[inline]
    pub fn new(value: Value, expires_at: Option<u64>, clock: u64) -> Self {
        Self {
            value,
            expires_at,
            touched: clock as u32,
            lfu: super::access::lfu_new(clock),
        }
    }
}

/// Milliseconds since the Unix epoch (what `EXPIREAT` speaks), on the
/// loop's clock: a loop on a manual clock runs kv's expiry in virtual time.
pub fn now_ms(lp: &shardloop::LoopHandle) -> u64 {
    lp.clock().unix_ms()
}

/// One shard's keys. Kept in index maps, so that a key can be drawn at
/// random in O(1) (RANDOMKEY, the eviction's and the sweep's samples).
#[derive(Debug, Default)]
pub struct Db {
    map: IndexMap<Vec<u8>, Entry, Fx>,
    /// Keys with an expiry, for the active sweep and the `volatile-*`
    /// eviction policies.
    volatile: IndexSet<Vec<u8>, Fx>,
    /// The time of the command running (ms, set by `cmd::exec`): what a
    /// new or overwritten entry is stamped with.
    pub clock: u64,
    /// Keys evicted by `maxmemory` so far (`INFO stats`).
    pub evicted_keys: u64,
    /// Expired keys removed so far (`INFO stats`).
    pub expired: u64,
    /// Keep the keys expiry removes in `evicted` (the append-only log
    /// writes a `DEL` for each).
    pub track_evictions: bool,
    /// Keys expiry removed, while `track_evictions`.
    pub evicted: Vec<Vec<u8>>,
    /// Keyspace notifications are emitted from this keyspace (a shard's;
    /// a transaction's copies once loaded): see `notify`.
    pub notify: bool,
    /// Events emitted and not yet published.
    pub events: Vec<super::notify::Event>,
}

impl Db {
    /// Records keyspace event `event` of `class` on `key`, when this
    /// keyspace notifies and the class is enabled.
    #[inline]
    pub fn emit(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.notify && super::notify::wanted(class) {
            self.events.push(super::notify::Event {
                event,
                key: key.to_vec(),
            });
        }
    }

    /// The live entry of `key` (an expired one is removed first).
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&mut Entry> {
        if self
            .map
            .get(key)
            .is_some_and(|e| e.expires_at.is_some_and(|t| t <= now))
        {
            self.remove(key);
            self.expired += 1;
            if self.track_evictions {
                self.evicted.push(key.to_vec());
            }
            self.emit(super::notify::EXPIRED, "expired", key);
            return None;
        }
        let e = self.map.get_mut(key)?;
        super::access::touch(&mut e.touched, &mut e.lfu, now);
        Some(e)
    }

    /// Whether `key` exists now, without counting as an access (an
    /// expired one is removed, as on any look).
    pub fn contains_untouched(&mut self, key: &[u8], now: u64) -> bool {
        if self
            .map
            .get(key)
            .is_some_and(|e| e.expires_at.is_some_and(|t| t <= now))
        {
            // Expires it (and records it) as an access would.
            self.get(key, now);
            return false;
        }
        self.map.contains_key(key)
    }

    /// Whether `key` exists now.
    pub fn contains(&mut self, key: &[u8], now: u64) -> bool {
        self.get(key, now).is_some()
    }

    /// Sets `key`, with its expiry.
    pub fn set(&mut self, key: &[u8], value: Value, expires_at: Option<u64>) {
        if expires_at.is_some() {
            self.volatile.insert(key.to_vec());
        } else if !self.volatile.is_empty() {
            self.volatile.swap_remove(key);
        }
        match self.map.get_mut(key) {
            Some(e) => {
                e.value = value;
                e.expires_at = expires_at;
            }
            None => {
                self.map
                    .insert(key.to_vec(), Entry::new(value, expires_at, self.clock));
                self.emit(super::notify::NEW, "new", key);
            }
        }
    }

    /// `SET key value` without options, the hot path: one lookup, and an
    /// existing string's buffer reused when it is big enough.
    pub fn set_string(&mut self, key: &[u8], value: &[u8]) {
        match self.map.get_mut(key) {
            Some(e) => {
                if e.expires_at.take().is_some() {
                    self.volatile.swap_remove(key);
                }
                match &mut e.value {
                    Value::Str(s) if s.capacity() >= value.len() => {
                        s.clear();
                        s.extend_from_slice(value);
                    }
                    v => *v = Value::Str(value.to_vec()),
                }
            }
            None => {
                self.map.insert(
                    key.to_vec(),
                    Entry::new(Value::Str(value.to_vec()), None, self.clock),
                );
                self.emit(super::notify::NEW, "new", key);
            }
        }
    }

    /// Sets the expiry of an existing key.
    pub fn set_expiry(&mut self, key: &[u8], expires_at: Option<u64>) {
        if let Some(e) = self.map.get_mut(key) {
            e.expires_at = expires_at;
            if expires_at.is_some() {
                self.volatile.insert(key.to_vec());
            } else {
                self.volatile.swap_remove(key);
            }
        }
    }

    /// Removes `key`; returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.swap_remove(key)?;
        if e.expires_at.is_some() {
            self.volatile.swap_remove(key);
        }
        Some(e)
    }

    /// Deletes an aggregate left empty by a command.
    pub fn drop_if_empty(&mut self, key: &[u8]) {
        if self
            .map
            .get(key)
            .is_some_and(|e| e.value.is_empty_aggregate())
        {
            self.remove(key);
            self.emit(super::notify::GENERIC, "del", key);
        }
    }

    /// Number of keys (expired ones not yet swept included, as Redis).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the shard holds no key.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with an expiry.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Every live key.
    pub fn keys(&self, now: u64) -> impl Iterator<Item = (&Vec<u8>, &Entry)> {
        self.map
            .iter()
            .filter(move |(_, e)| e.expires_at.is_none_or(|t| t > now))
    }

    /// Removes every key, and gives back the tables' memory (as Redis
    /// frees its dictionaries): a FLUSHALL after a big load leaves no
    /// capacity counted against `maxmemory`.
    pub fn clear(&mut self) {
        self.map = IndexMap::default();
        self.volatile = IndexSet::default();
    }

    /// Shrinks the tables once they are mostly empty (Redis resizes its
    /// dictionaries down from its cron): after mass deletions or
    /// evictions, their capacity is not held and counted. Amortised by
    /// the shrink threshold; called from the shard's periodic sweep.
    pub fn shrink(&mut self) {
        if self.map.capacity() > 1024 && self.map.len() < self.map.capacity() / 8 {
            self.map.shrink_to(self.map.len() * 2);
        }
        if self.volatile.capacity() > 1024 && self.volatile.len() < self.volatile.capacity() / 8 {
            self.volatile.shrink_to(self.volatile.len() * 2);
        }
    }

    /// The active expiry sweep: looks at up to `budget` keys with an expiry,
    /// drawn at random as Redis samples them, and removes the expired ones.
    /// Returns how many it removed.
    pub fn sweep(&mut self, now: u64, budget: usize) -> usize {
        let mut due: Vec<Vec<u8>> = Vec::new();
        for k in self.sample(true, budget) {
            if self
                .map
                .get(k.as_slice())
                .is_none_or(|e| e.expires_at.is_some_and(|t| t <= now))
                && !due.contains(k)
            {
                due.push(k.clone());
            }
        }
        for k in &due {
            self.remove(k);
            self.volatile.swap_remove(k);
            self.emit(super::notify::EXPIRED, "expired", k);
        }
        self.expired += due.len() as u64;
        let n = due.len();
        if self.track_evictions {
            self.evicted.extend(due);
        }
        n
    }

    /// Up to `n` keys drawn at random (with repeats), among all or among
    /// those with an expiry (`volatile`); every key when there are no more
    /// than `n`.
    pub fn sample(&self, volatile: bool, n: usize) -> Vec<&Vec<u8>> {
        let len = if volatile {
            self.volatile.len()
        } else {
            self.map.len()
        };
        let at = |i: usize| {
            if volatile {
                self.volatile.get_index(i)
            } else {
                self.map.get_index(i).map(|(k, _)| k)
            }
        };
        if len <= n {
            return (0..len).filter_map(at).collect();
        }
        (0..n)
            .filter_map(|_| at((super::access::random() % len as u64) as usize))
            .collect()
    }

    /// Up to `n` places in the keyspace's order drawn at random (with
    /// repeats; every place when there are no more than `n`), among all
    /// keys or among those with an expiry (`volatile`).
    pub fn sample_places(&self, volatile: bool, n: usize) -> Vec<usize> {
        let len = if volatile {
            self.volatile.len()
        } else {
            self.map.len()
        };
        let draws: Vec<usize> = if len <= n {
            (0..len).collect()
        } else {
            (0..n)
                .map(|_| (super::access::random() % len as u64) as usize)
                .collect()
        };
        if !volatile {
            return draws;
        }
        draws
            .into_iter()
            .filter_map(|i| self.map.get_index_of(self.volatile.get_index(i)?))
            .collect()
    }

    /// The entry at `place` in the keyspace's order.
    pub fn entry_at(&self, place: usize) -> Option<&Entry> {
        self.map.get_index(place).map(|(_, e)| e)
    }

    /// The key at `place` (from [`Db::sample_places`]).
    pub fn key_at(&self, place: usize) -> Option<&[u8]> {
        self.map.get_index(place).map(|(k, _)| k.as_slice())
    }

    /// Removes the key at `place` (from [`Db::sample_places`]); returns it.
    pub fn remove_at(&mut self, place: usize) -> Vec<u8> {
        let (key, e) = self.map.swap_remove_index(place).expect("a place drawn");
        if e.expires_at.is_some() {
            self.volatile.swap_remove(&key);
        }
        key
    }

    /// `key`'s entry as stored, to change in place (its access stamps).
    pub fn peek_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// `key`'s entry as stored, expired or not (what the log writes).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Every key held, expired ones included.
    pub fn key_list(&self) -> Vec<Vec<u8>> {
        self.map.keys().cloned().collect()
    }

    /// Every entry held, expired ones included.
    pub fn entries(&self) -> impl Iterator<Item = (&Vec<u8>, &Entry)> {
        self.map.iter()
    }

    /// Moves the keys `keep` selects into `other` (a reshard at load).
    pub fn move_into(self, other: &mut Db, keep: impl Fn(&[u8]) -> bool) {
        for (k, e) in self.map {
            if keep(&k) {
                other.set(&k, e.value, e.expires_at);
            }
        }
    }

    /// A copy of `key`'s live entry (for a multi-shard transaction).
    pub fn snapshot(&mut self, key: &[u8], now: u64) -> Option<Entry> {
        self.get(key, now).cloned()
    }

    /// Puts back what a multi-shard transaction left for `key`.
    pub fn restore(&mut self, key: &[u8], entry: Option<Entry>) {
        // Putting back is no event: what changed was told where it changed.
        let notify = std::mem::replace(&mut self.notify, false);
        match entry {
            Some(e) => self.set(key, e.value, e.expires_at),
            None => {
                self.remove(key);
            }
        }
        self.notify = notify;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_keys_vanish_on_access_and_in_the_sweep() {
        let mut db = Db::default();
        db.set(b"a", Value::Str(b"1".to_vec()), Some(100));
        db.set(b"b", Value::Str(b"2".to_vec()), Some(100));
        db.set(b"c", Value::Str(b"3".to_vec()), None);
        assert!(db.contains(b"a", 99));
        assert!(!db.contains(b"a", 100), "lazy");
        assert_eq!(db.sweep(200, 10), 1, "active: b");
        assert_eq!(db.len(), 1);
        assert_eq!(db.expired, 2);
    }
}
