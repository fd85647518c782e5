//! Commands on keys of any type: GET and SET (the hottest), TYPE, EXISTS,
//! DEL, UNLINK, RENAME, RENAMENX, the EXPIRE family, TTL, PTTL, PERSIST;
//! and PING, ECHO and SELECT as a transaction runs them.

mod inspect;
mod sort;
pub(super) use inspect::{debug_object, memory_usage, object};

use sort::sort_named;

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

/// CONFIG queued in MULTI, run at EXEC.
pub(super) fn config_in_txn(_: &mut Db, a: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    super::config::command(a, out).map_err(Msg::from)
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
            db.emit(n::GENERIC, "del", k);
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
        db.remove(to);
        db.set(to, e.value, e.expires_at);
        db.emit(n::GENERIC, "rename_from", key);
        db.emit(n::GENERIC, "rename_to", to);
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
        db.emit(n::GENERIC, "del", key);
        reply::int(out, 1);
    } else {
        db.set_expiry(key, Some(when as u64));
        db.emit(n::GENERIC, "expire", key);
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
        db.emit(n::GENERIC, "persist", key);
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
    db.emit(n::GENERIC, "copy_to", to);
    reply::int(out, 1);
    Ok(())
}

named!(sort_named: sort, sort_ro);
