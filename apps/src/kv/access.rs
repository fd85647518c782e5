//! How keys are used: the access stamps kept in each entry (the last
//! access in milliseconds, for LRU eviction and OBJECT IDLETIME, and
//! Redis's logarithmic LFU counter with its decay, for LFU eviction and
//! OBJECT FREQ), and the shard's random numbers. A leaf: the keyspace
//! stamps its entries here, eviction reads the stamps.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

/// An LFU policy is in force: accesses count (read on every access).
static LFU: AtomicBool = AtomicBool::new(false);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_TIME: AtomicU32 = AtomicU32::new(1);

/// Whether accesses update the LFU counters (an LFU policy is in force).
pub fn set_lfu(on: bool) {
    LFU.store(on, Relaxed);
}

/// Sets `lfu-log-factor` and `lfu-decay-time` (minutes), as given.
pub fn set_lfu_params(log_factor: Option<u32>, decay_time: Option<u32>) {
    if let Some(f) = log_factor {
        LFU_LOG_FACTOR.store(f, Relaxed);
    }
    if let Some(d) = decay_time {
        LFU_DECAY_TIME.store(d, Relaxed);
    }
}

/// Redis's `LFU_INIT_VAL`: a new key's counter.
const LFU_INIT: u32 = 5;

/// Minutes on a 16-bit clock (Redis's `LFUGetTimeInMinutes`).
fn minutes(ms: u64) -> u32 {
    ((ms / 60_000) & 0xffff) as u32
}

/// A new entry's LFU word at `clock` (ms).
#[inline]
pub fn lfu_new(clock: u64) -> u32 {
    (minutes(clock) << 8) | LFU_INIT
}

/// The entry's LFU counter at `now`, decayed by the periods elapsed since
/// its last decrement (Redis's `LFUDecrAndReturn`).
pub fn lfu_counter(lfu: u32, now: u64) -> u32 {
    let (ldt, counter) = (lfu >> 8, lfu & 0xff);
    let decay = LFU_DECAY_TIME.load(Relaxed);
    let now = minutes(now);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    let periods = elapsed.checked_div(decay).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Records an access of an entry at `now` (ms): its idle clock, and its LFU
/// counter when an LFU policy is in force (Redis updates one or the
/// other; kv keeps the idle clock always, for OBJECT IDLETIME).
#[inline]
pub fn touch(touched: &mut u32, lfu: &mut u32, now: u64) {
    *touched = now as u32;
    if LFU.load(Relaxed) {
        let counter = lfu_counter(*lfu, now);
        *lfu = (minutes(now) << 8) | log_incr(counter);
    }
}

/// Redis's `LFULogIncr`: the counter grows with probability
/// 1 / ((counter - 5) * lfu-log-factor + 1), up to 255.
fn log_incr(counter: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let r = (random() >> 11) as f64 / (1u64 << 53) as f64;
    let base = counter.saturating_sub(LFU_INIT) as f64;
    let p = 1.0 / (base * f64::from(LFU_LOG_FACTOR.load(Relaxed)) + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// A random number (xorshift64*, one generator per shard thread, seeded
/// from the clock): SRANDMEMBER and its kin draw with it.
pub(crate) fn random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            (t ^ (std::process::id() as u64).rotate_left(32)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counters_grow_logarithmically_and_decay_by_the_minute() {
        let mut c = LFU_INIT;
        for _ in 0..100 {
            c = log_incr(c);
        }
        assert!((LFU_INIT + 1..LFU_INIT + 40).contains(&c), "{c}");
        let word = (minutes(0) << 8) | 20;
        assert_eq!(lfu_counter(word, 59_999), 20);
        assert_eq!(lfu_counter(word, 3 * 60_000), 17, "one per minute");
        assert_eq!(lfu_counter(word, 100 * 60_000), 0);
    }
}
