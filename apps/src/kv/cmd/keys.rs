//! Commands on keys of any type: GET and SET (the hottest), TYPE, EXISTS,
//! DEL, UNLINK, RENAME, RENAMENX, the EXPIRE family, TTL, PTTL, PERSIST;
//! and PING, ECHO and SELECT as a transaction runs them.

use super::*;

pub(super) fn get(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let v = get_str(db, a.get(1), now)?;
    reply::opt_bulk(out, v.map(|v| v.as_slice()));
    Ok(())
}

pub(super) fn ping(_: &mut Db, a: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    match a.len() {
        1 => reply::simple(out, "PONG"),
        2 => reply::bulk(out, a.get(1)),
        _ => return Err(wrong_arity("ping").into()),
    }
    Ok(())
}

/// UNWATCH queued in MULTI: EXEC has let go of the watch already.
pub(super) fn unwatch_in_txn(_: &mut Db, _: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    reply::ok(out);
    Ok(())
}

pub(super) fn echo(_: &mut Db, a: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    reply::bulk(out, a.get(1));
    Ok(())
}

pub(super) fn select_in_txn(_: &mut Db, a: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    select(a, out)
}

pub(super) fn type_(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let t = db
        .get(a.get(1), now)
        .map_or("none", |e| e.value.type_name());
    reply::simple(out, t);
    Ok(())
}

pub(super) fn exists(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let n = a.iter_from(1).filter(|k| db.contains(k, now)).count();
    reply::int(out, n as i64);
    Ok(())
}

/// DEL and UNLINK (which frees in the background in Redis: the same here).
pub(super) fn del(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let mut n = 0;
    for k in a.iter_from(1) {
        if db.contains(k, now) {
            db.remove(k);
            n += 1;
        }
    }
    reply::int(out, n);
    Ok(())
}

pub(super) fn rename(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    rename_if(db, a, now, out, false)
}

pub(super) fn renamenx(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    rename_if(db, a, now, out, true)
}

fn rename_if(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>, nx: bool) -> R {
    let (key, to) = (a.get(1), a.get(2));
    let Some(e) = db.get(key, now).cloned() else {
        return err("ERR no such key");
    };
    if nx && db.contains(to, now) {
        reply::int(out, 0);
        return Ok(());
    }
    if key != to {
        db.remove(key);
        db.set(to, e.value, e.expires_at);
    }
    if nx {
        reply::int(out, 1);
    } else {
        reply::ok(out);
    }
    Ok(())
}

named!(expire_named: expire, pexpire, expireat, pexpireat);

/// Redis 7.0's expireGenericCommand: the options first, then the time
/// (overflow of the unit or of the base is an error), then the key, then
/// the conditions.
fn expire_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in a.iter_from(3) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                let mut m = b"ERR Unsupported option ".to_vec();
                m.extend_from_slice(c_str(opt));
                return Err(Msg(m));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return err("ERR GT and LT options at the same time are not compatible");
    }
    let invalid = || format!("ERR invalid expire time in '{name}' command");
    let mut when = int_arg(a, 2)?;
    if matches!(name, "expire" | "expireat") {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let base = if matches!(name, "expire" | "pexpire") {
        now as i64
    } else {
        0
    };
    if when > i64::MAX - base {
        return Err(invalid().into());
    }
    let when = when + base;
    let Some(current) = db.get(key, now).map(|e| e.expires_at) else {
        reply::int(out, 0);
        return Ok(());
    };
    let current = current.map(|t| t as i64);
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        reply::int(out, 0);
    } else if when <= now as i64 {
        db.remove(key);
        reply::int(out, 1);
    } else {
        db.set_expiry(key, Some(when as u64));
        reply::int(out, 1);
    }
    Ok(())
}

pub(super) fn ttl(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::int(
        out,
        ttl_ms(db, a, now).map_or_else(|n| n, |ms| (ms + 500) / 1000),
    );
    Ok(())
}

pub(super) fn pttl(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::int(out, ttl_ms(db, a, now).unwrap_or_else(|n| n));
    Ok(())
}

/// The time to live in ms, or Redis's -2 (no key) / -1 (no expiry).
fn ttl_ms(db: &mut Db, a: &Args<'_>, now: u64) -> Result<i64, i64> {
    expire_time(db, a, now).map(|t| (t as u64).saturating_sub(now) as i64)
}

pub(super) fn persist(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let had = db.get(key, now).is_some_and(|e| e.expires_at.is_some());
    if had {
        db.set_expiry(key, None);
    }
    reply::int(out, had as i64);
    Ok(())
}

pub(super) fn expiretime(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::int(
        out,
        expire_time(db, a, now).map_or_else(|n| n, |ms| ms / 1000),
    );
    Ok(())
}

pub(super) fn pexpiretime(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::int(out, expire_time(db, a, now).unwrap_or_else(|n| n));
    Ok(())
}

/// The absolute expiry in Unix ms, or Redis's -2 (no key) / -1 (none).
fn expire_time(db: &mut Db, a: &Args<'_>, now: u64) -> Result<i64, i64> {
    match db.get(a.get(1), now) {
        None => Err(-2),
        Some(Entry {
            expires_at: None, ..
        }) => Err(-1),
        Some(Entry {
            expires_at: Some(t),
            ..
        }) => Ok(*t as i64),
    }
}

/// COPY source destination [DB n] [REPLACE] (Redis 7.0's copyCommand:
/// the options, the database, the same-key check, then the keys).
pub(super) fn copy(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (from, to) = (a.get(1), a.get(2));
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        if opt == b"replace" {
            replace = true;
        } else if opt == b"db" && j + 1 < a.len() {
            // getIntFromObjectOrReply, then selectDb: kv has one
            // database, as Redis with `databases 1`.
            let n = int_arg(a, j + 1)?;
            if i32::try_from(n).is_err() {
                return err(
                    "ERR value is out of range, value must between -2147483648 and 2147483647",
                );
            }
            if n != 0 {
                return err("ERR DB index is out of range");
            }
            j += 1;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    if from == to {
        return err("ERR source and destination objects are the same");
    }
    let Some(e) = db.get(from, now).cloned() else {
        reply::int(out, 0);
        return Ok(());
    };
    if db.contains(to, now) {
        if !replace {
            reply::int(out, 0);
            return Ok(());
        }
        db.remove(to);
    }
    db.set(to, e.value, e.expires_at);
    reply::int(out, 1);
    Ok(())
}

/// OBJECT ENCODING, REFCOUNT, IDLETIME, FREQ and HELP. kv keeps one
/// representation per type; ENCODING answers the encoding redis-server
/// 7.0 would use for the value with its default thresholds (so clients
/// and tests that branch on it see what Redis would say), REFCOUNT 1,
/// IDLETIME 0 (kv keeps no access clock per key).
pub(super) fn object(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let sub = a.get(1).to_ascii_lowercase();
    if sub == b"help" && a.len() == 2 {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ];
        reply::array(out, lines.len());
        for l in lines {
            reply::simple(out, l);
        }
        return Ok(());
    }
    let known = matches!(
        sub.as_slice(),
        b"encoding" | b"refcount" | b"idletime" | b"freq"
    );
    if !known || a.len() != 3 {
        return Err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(c_str(a.get(1)))
        )
        .into());
    }
    let Some(e) = db.get(a.get(2), now) else {
        reply::nil(out);
        return Ok(());
    };
    match sub.as_slice() {
        b"encoding" => reply::bulk(out, encoding(&e.value).as_bytes()),
        b"refcount" => reply::int(out, 1),
        b"idletime" => reply::int(out, 0),
        _ => {
            return err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        }
    }
    Ok(())
}

/// The encoding redis-server 7.0 picks for `v` with its default limits.
fn encoding(v: &Value) -> &'static str {
    let small = |n: usize, longest: usize, max_n: usize| n <= max_n && longest <= 64;
    match v {
        Value::Str(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
        Value::Str(s) if s.len() <= 44 => "embstr",
        Value::Str(_) => "raw",
        Value::List(_) => "quicklist",
        Value::Hash(h) => {
            let longest = h
                .iter()
                .map(|(f, v)| f.len().max(v.len()))
                .max()
                .unwrap_or(0);
            if small(h.len(), longest, 128) {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Value::Set(s) => {
            if s.len() <= 512 && s.iter().all(|m| parse_i64(m).is_some()) {
                "intset"
            } else {
                "hashtable"
            }
        }
        Value::ZSet(z) => {
            let longest = z.scores.keys().map(Vec::len).max().unwrap_or(0);
            if small(z.len(), longest, 128) {
                "listpack"
            } else {
                "skiplist"
            }
        }
    }
}

/// DEBUG OBJECT key: Redis's line about a value. `at:` is where kv holds
/// the value (it stays put while the value is changed in place), the
/// encoding is OBJECT ENCODING's, the serialized length the value's bytes.
pub(super) fn debug_object(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let Some(e) = db.get(a.get(2), now) else {
        return err("ERR no such key");
    };
    let bytes: usize = match &e.value {
        Value::Str(s) => s.len(),
        Value::List(l) => l.iter().map(Vec::len).sum(),
        Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len()).sum(),
        Value::Set(s) => s.iter().map(Vec::len).sum(),
        Value::ZSet(z) => z.scores.keys().map(|m| m.len() + 8).sum(),
    };
    let mut line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{bytes} lru:0 lru_seconds_idle:0",
        &e.value,
        encoding(&e.value)
    );
    if let Value::List(l) = &e.value {
        line += &format!(
            " ql_nodes:1 ql_avg_node:{}.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:{bytes}",
            l.len()
        );
    }
    reply::simple(out, &line);
    Ok(())
}

/// MEMORY USAGE key [SAMPLES n]: an estimate of the bytes kv holds for the
/// key (its name, its value's bytes, and a per-element overhead like
/// Redis's); nil for a missing key.
pub(super) fn memory_usage(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    match a.len() {
        3 => {}
        5 if a.get(3).eq_ignore_ascii_case(b"samples") => {
            if parse_i64(a.get(4)).is_none() {
                return err(NOT_INT);
            }
        }
        _ => return err(SYNTAX),
    }
    let key = a.get(2);
    let Some(e) = db.get(key, now) else {
        reply::nil(out);
        return Ok(());
    };
    const ENTRY: usize = 16;
    let value: usize = match &e.value {
        Value::Str(s) => s.len(),
        Value::List(l) => l.iter().map(|e| e.len() + ENTRY).sum(),
        Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 2 * ENTRY).sum(),
        Value::Set(s) => s.iter().map(|m| m.len() + ENTRY).sum(),
        Value::ZSet(z) => z.scores.keys().map(|m| 2 * (m.len() + ENTRY) + 8).sum(),
    };
    reply::int(out, (56 + key.len() + value) as i64);
    Ok(())
}
