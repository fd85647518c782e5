//! `maxmemory` and its eviction policies, as Redis 7.0 has them.
//!
//! **What is counted.** The process's heap bytes in use
//! ([`crate::memory::used`], a counting global allocator): keys, values,
//! and the connections' buffers too, as Redis's `used_memory` counts its
//! allocator's bytes. One figure for the whole process, read by every
//! shard with one atomic load.
//!
//! **Refusals.** With `noeviction`, where Redis checks
//! (`processCommand`), on the connection's shard: over the limit, a
//! command that may grow memory (Redis's `denyoom` commands: SET, LPUSH,
//! SADD…), any command queued inside MULTI, and EXEC of a transaction
//! holding such a command get Redis's `OOM command not allowed when used
//! memory > 'maxmemory'.` (EXEC aborts the transaction with it).
//!
//! **Evictions.** With the other policies, the shard a write lands on
//! makes room before running it: over the limit, it evicts **its own
//! keys** by the policy until the process is under the limit again (or for
//! at most 0.5 ms, Redis's default tenacity). Each shard holds about
//! `1/shards` of the keys (they are spread by hash) and takes about that
//! share of the writes, so each gives up about its share. One rule keeps
//! it so: a shard holding less than 7/8 of an even share of the keys the
//! policy may take evicts nothing and asks the others to evict (at most
//! once a millisecond), since the connections' buffers, counted too, sit
//! on the shards that read them and would otherwise make those shards
//! give up all their keys. Every shard also evicts on its own every 100 ms
//! while the process is over (with its expiry sweep), and at once when
//! CONFIG SET leaves the process over the limit. A write is refused with
//! the OOM error only when no shard holds a key the policy may take (as
//! Redis, e.g. `volatile-ttl` with no key left that has an expiry). A
//! transaction across shards runs on copies and evicts nothing itself;
//! the shards' ticks do.
//!
//! **Which keys.** Redis's approximated policies, by sampling
//! `maxmemory-samples` keys (default 5) of the shard at random and taking
//! the best: `allkeys-lru`/`volatile-lru` the longest idle (each entry
//! keeps its last access, in ms), `allkeys-lfu`/`volatile-lfu` the lowest
//! access count (Redis's logarithmic counter with its decay,
//! `lfu-log-factor` and `lfu-decay-time`), `volatile-ttl` the nearest
//! expiry, `*-random` any; `volatile-*` only among keys with an expiry.
//! Redis also keeps a pool of 16 good candidates across calls; kv does
//! not, so its choice is that of Redis before 3.0 (slightly less exact for
//! the same number of samples).
//!
//! An evicted key is logged as a `DEL` in the append-only log, fires the
//! `evicted` keyspace event, and touches WATCHes, as in Redis; INFO
//! counts `evicted_keys`.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::access::lfu_counter;
use super::db::{Db, Entry};

/// Redis's `maxmemory-policy`, named as Redis names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[repr(u8)]
pub enum Policy {
    /// Writes are refused over the limit.
    #[serde(rename = "noeviction")]
    NoEviction,
    /// The least recently used key goes.
    #[serde(rename = "allkeys-lru")]
    AllKeysLru,
    /// The least frequently used key goes.
    #[serde(rename = "allkeys-lfu")]
    AllKeysLfu,
    /// Any key goes.
    #[serde(rename = "allkeys-random")]
    AllKeysRandom,
    /// The least recently used key with an expiry goes.
    #[serde(rename = "volatile-lru")]
    VolatileLru,
    /// The least frequently used key with an expiry goes.
    #[serde(rename = "volatile-lfu")]
    VolatileLfu,
    /// Any key with an expiry goes.
    #[serde(rename = "volatile-random")]
    VolatileRandom,
    /// The key with the nearest expiry goes.
    #[serde(rename = "volatile-ttl")]
    VolatileTtl,
}

const POLICIES: [(Policy, &str); 8] = [
    (Policy::NoEviction, "noeviction"),
    (Policy::AllKeysLru, "allkeys-lru"),
    (Policy::AllKeysLfu, "allkeys-lfu"),
    (Policy::AllKeysRandom, "allkeys-random"),
    (Policy::VolatileLru, "volatile-lru"),
    (Policy::VolatileLfu, "volatile-lfu"),
    (Policy::VolatileRandom, "volatile-random"),
    (Policy::VolatileTtl, "volatile-ttl"),
];

impl Policy {
    /// The policy Redis names `name` (lower case).
    pub fn parse(name: &str) -> Option<Self> {
        POLICIES.iter().find(|(_, n)| *n == name).map(|(p, _)| *p)
    }

    /// Redis's name of the policy.
    pub fn name(self) -> &'static str {
        POLICIES[self as usize].1
    }

    /// Whether it only takes keys with an expiry.
    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    /// Whether it is an LFU policy (keys count their accesses).
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }
}

static MAXMEMORY: AtomicU64 = AtomicU64::new(0);
static POLICY: AtomicU8 = AtomicU8::new(Policy::NoEviction as u8);
static SAMPLES: AtomicU32 = AtomicU32::new(5);

/// Sets `maxmemory` in bytes (0: no limit).
pub fn set_maxmemory(bytes: u64) {
    MAXMEMORY.store(bytes, Relaxed);
}

/// Sets the policy.
pub fn set_policy(p: Policy) {
    POLICY.store(p as u8, Relaxed);
    super::access::set_lfu(p.is_lfu());
}

/// Sets `maxmemory-samples`.
pub fn set_samples(n: u32) {
    SAMPLES.store(n.max(1), Relaxed);
}

/// The limit in bytes (0: none).
pub fn maxmemory() -> u64 {
    MAXMEMORY.load(Relaxed)
}

/// The policy in force.
pub fn policy() -> Policy {
    POLICIES[POLICY.load(Relaxed) as usize].0
}

/// Whether a limit is set (one relaxed load: the per-command test).
#[inline]
pub fn limited() -> bool {
    MAXMEMORY.load(Relaxed) != 0
}

/// Whether the process is over the limit.
pub fn over() -> bool {
    let max = maxmemory();
    max != 0 && crate::memory::used() > max
}

/// Redis's reply to a command refused over the limit.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// One shard's count of keys the policy may take, on its own cache line
/// (each shard writes its own on every write over the limit).
#[repr(align(64))]
struct Slot(AtomicUsize);

/// Every shard's [`Slot`], and how many shards wrote one.
static CANDIDATES: [Slot; shardloop::config::MAX_SHARDS] =
    [const { Slot(AtomicUsize::new(0)) }; shardloop::config::MAX_SHARDS];
static SHARDS_SEEN: AtomicUsize = AtomicUsize::new(0);

/// Records how many keys of shard `shard` the policy may take.
pub fn note_candidates(shard: usize, db: &Db) {
    let n = if policy().volatile() {
        db.volatile_len()
    } else {
        db.len()
    };
    if let Some(slot) = CANDIDATES.get(shard) {
        slot.0.store(n, Relaxed);
        if SHARDS_SEEN.load(Relaxed) <= shard {
            SHARDS_SEEN.fetch_max(shard + 1, Relaxed);
        }
    }
}

fn candidates() -> impl Iterator<Item = usize> {
    CANDIDATES[..SHARDS_SEEN.load(Relaxed)]
        .iter()
        .map(|s| s.0.load(Relaxed))
}

/// Whether shard `me` holds at least seven eighths of an even share of
/// the keys the policy may take.
pub fn fair_share(me: usize) -> bool {
    let (total, shards) = candidates().fold((0, 0), |(t, n), c| (t + c, n + 1));
    let mine = CANDIDATES.get(me).map_or(0, |s| s.0.load(Relaxed));
    mine * shards.max(1) * 8 >= total * 7
}

/// Whether a shard other than `me` holds keys the policy may take.
pub fn candidates_elsewhere(me: usize) -> bool {
    candidates().enumerate().any(|(i, n)| i != me && n > 0)
}

/// How long one call evicts at most (Redis's `maxmemory-eviction-tenacity`
/// 10: 500 µs).
const TIME_LIMIT: Duration = Duration::from_micros(500);

/// Evicts keys of `db` by the policy while the process is over the limit
/// (for at most 500 µs). Returns whether a command that grows
/// memory may run: the process is under the limit, or a key was evicted
/// (Redis's `performEvictions` is not `EVICT_FAIL`). Each evicted key is
/// removed, counted, recorded for the log (when `db.track_evictions`) and
/// emitted as an `evicted` event; its name is returned in `gone` (for
/// WATCH).
pub fn make_room(db: &mut Db, now: u64, gone: Option<&mut Vec<Vec<u8>>>) -> bool {
    let max = maxmemory();
    if max == 0 || crate::memory::used() <= max {
        return true;
    }
    let policy = policy();
    if policy == Policy::NoEviction {
        return false;
    }
    let mut gone = gone;
    let mut start = None;
    let mut evicted = 0usize;
    let mut held = 0;
    while crate::memory::used() > max {
        let Some(i) = victim(db, policy, now) else {
            break;
        };
        // A key a transaction holds stays (it writes its result back).
        if db.key_at(i).is_some_and(super::gate::claimed) {
            held += 1;
            if held > 16 {
                break;
            }
            continue;
        }
        let key = db.remove_at(i);
        db.evicted_keys += 1;
        db.emit(super::notify::EVICTED, "evicted", &key);
        if let Some(g) = gone.as_deref_mut() {
            g.push(key.clone());
        }
        if db.track_evictions {
            db.evicted.push(key);
        }
        evicted += 1;
        // The clock is read once per 16 keys.
        if evicted % 16 == 0 && start.get_or_insert_with(Instant::now).elapsed() > TIME_LIMIT {
            break;
        }
    }
    evicted > 0 || crate::memory::used() <= max
}

/// The place (in the keyspace's order) of the key the policy takes among
/// `maxmemory-samples` drawn at random.
fn victim(db: &Db, policy: Policy, now: u64) -> Option<usize> {
    let samples = SAMPLES.load(Relaxed) as usize;
    let now32 = now as u32;
    let idle = |e: &Entry| now32.wrapping_sub(e.touched);
    let score = |e: &Entry| -> (u64, u32) {
        match policy {
            Policy::AllKeysRandom | Policy::VolatileRandom | Policy::NoEviction => (0, 0),
            Policy::AllKeysLru | Policy::VolatileLru => (0, u32::MAX - idle(e)),
            // The least used; of those, the longest idle.
            Policy::AllKeysLfu | Policy::VolatileLfu => {
                (u64::from(lfu_counter(e.lfu, now)), u32::MAX - idle(e))
            }
            Policy::VolatileTtl => (e.expires_at.unwrap_or(u64::MAX), 0),
        }
    };
    // The lowest score goes; a random policy takes the first drawn.
    let mut best: Option<((u64, u32), usize)> = None;
    for i in db.sample_places(policy.volatile(), samples) {
        let Some(e) = db.entry_at(i) else { continue };
        let s = score(e);
        if best.is_none_or(|(b, _)| s < b) {
            best = Some((s, i));
        }
        if matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom) {
            break;
        }
    }
    best.map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_and_print_as_redis_names_them() {
        for (p, n) in POLICIES {
            assert_eq!(Policy::parse(n), Some(p));
            assert_eq!(p.name(), n);
        }
    }
}
