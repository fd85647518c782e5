//! Keyspace notifications (Redis's `notify-keyspace-events`): a command
//! that changes a key publishes what it did on `__keyspace@0__:<key>`
//! (class `K`) and `__keyevent@0__:<event>` (class `E`), for the event
//! classes enabled.
//!
//! The classes are one process-wide set, as Redis's setting is, read with
//! one relaxed atomic load where a command changes something. The events
//! go into the keyspace that changed (`Db::emit`); the shard publishes
//! them once the command is done (`pubsub::publish_events`: to every
//! shard, since subscribers may
//! sit on any), so a subscriber receives one shard's events in the order
//! they happened. A transaction's events are published after its
//! write-back.
//!
//! Which commands emit (with Redis's event names): SET and its kin
//! (`set`, and `expire` with an expiry), INCR… (`incrby`), INCRBYFLOAT,
//! APPEND, SETRANGE, DEL/UNLINK (`del`), the EXPIRE family (`expire`),
//! PERSIST, the list pushes and pops, SADD, SREM, HSET/HMSET/HSETNX, HDEL,
//! HINCRBY, HINCRBYFLOAT, ZADD, ZINCRBY, ZREM, RENAME (`rename_from`,
//! `rename_to`), COPY (`copy_to`), LSET, LINSERT, LREM, LTRIM, LMOVE and
//! RPOPLPUSH (the push, then the pop), SPOP, SMOVE (`srem`, `sadd`), the
//! STORE commands (`sinterstore`… `sortstore`, or `del` for an empty
//! result), ZPOPMIN/ZPOPMAX, LMPOP/ZMPOP, the ZREMRANGEBY* family, GETEX,
//! SETBIT, RESTORE; a container a command left empty (`del`), expiry
//! (`expired`), eviction (`evicted`) and every key created (`new`).

use std::sync::atomic::{AtomicU32, Ordering};

/// `K`: events on `__keyspace@0__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: events on `__keyevent@0__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME…).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted-set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: keys expired.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: keys evicted.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: key misses.
pub const MISS: u32 = 1 << 11;
/// `d`: module key types.
pub const MODULE: u32 = 1 << 12;
/// `n`: new keys.
pub const NEW: u32 = 1 << 13;
/// `A`: every class but `m` and `n`.
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

static CLASSES: AtomicU32 = AtomicU32::new(0);

/// Whether events of `class` are published now.
#[inline]
pub fn wanted(class: u32) -> bool {
    let c = CLASSES.load(Ordering::Relaxed);
    c & class != 0 && c & (KEYSPACE | KEYEVENT) != 0
}

/// Reads Redis's flag string (`KEA`, `Ex`, `$lshzxeKE`…); `None` for a
/// character Redis refuses.
pub fn parse(flags: &[u8]) -> Option<u32> {
    let mut c = 0;
    for f in flags {
        c |= match f {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(c)
}

/// The flag string CONFIG GET answers, as Redis 7.0 writes it: `A` for
/// all the classes it covers (and then no `n`, as 7.0 leaves it out), or
/// each class, then `K`, `E` and `m`.
pub fn format(c: u32) -> String {
    let mut s = String::new();
    if c & ALL == ALL {
        s.push('A');
    } else {
        for (bit, ch) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if c & bit != 0 {
                s.push(ch);
            }
        }
    }
    for (bit, ch) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (MISS, 'm')] {
        if c & bit != 0 {
            s.push(ch);
        }
    }
    s
}

/// CONFIG SET notify-keyspace-events: the classes from now on.
pub fn set(c: u32) {
    CLASSES.store(c, Ordering::Relaxed);
}

/// The classes enabled now.
pub fn classes() -> u32 {
    CLASSES.load(Ordering::Relaxed)
}

/// One event: its class's channels are built at publication.
#[derive(Debug, Clone)]
pub struct Event {
    pub event: &'static str,
    pub key: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_and_print_as_redis_does() {
        for (given, printed) in [
            ("gKE", "gKE"),
            ("$lshzxeKE", "$lshzxeKE"),
            ("KA", "AK"),
            ("EA", "AE"),
            ("Ex", "xE"),
            ("", ""),
            ("En", "nE"),
            ("KEAn", "AKE"),
        ] {
            assert_eq!(format(parse(given.as_bytes()).unwrap()), printed, "{given}");
        }
        assert_eq!(parse(b"KQ"), None);
    }
}
