//! Strings: GETSET, GETDEL, SETNX, SETEX, PSETEX, MSET, MSETNX, MGET, INCR,
//! DECR, INCRBY, DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SETRANGE,
//! and SET with its options (GET and SET themselves are dispatched first,
//! as the hottest commands).

mod bits;
pub(super) use bits::{getbit, lcs, setbit};

use super::*;

pub(super) fn getset(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let old = get_str(db, key, now)?.map(|v| v.clone());
    db.set(key, Value::Str(a.get(2).to_vec()), None);
    db.emit(n::STRING, "set", key);
    reply::opt_bulk(out, old.as_deref());
    Ok(())
}

pub(super) fn getdel(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let old = get_str(db, key, now)?.map(|v| v.clone());
    if old.is_some() {
        db.remove(key);
        db.emit(n::GENERIC, "del", key);
    }
    reply::opt_bulk(out, old.as_deref());
    Ok(())
}

pub(super) fn setnx(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    if db.contains(key, now) {
        reply::int(out, 0);
    } else {
        db.set(key, Value::Str(a.get(2).to_vec()), None);
        db.emit(n::STRING, "set", key);
        reply::int(out, 1);
    }
    Ok(())
}

fn setex_psetex_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let unit: &[u8] = if name == "setex" { b"EX" } else { b"PX" };
    let at = expire_ms(name, unit, a.get(2), now)?;
    db.set(key, Value::Str(a.get(3).to_vec()), Some(at));
    db.emit(n::STRING, "set", key);
    db.emit(n::GENERIC, "expire", key);
    reply::ok(out);
    Ok(())
}

named!(setex_psetex_named: setex, psetex);

fn mset_msetnx_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    if a.len() % 2 == 0 {
        return Err(wrong_arity(name).into());
    }
    if name == "msetnx" && (1..a.len()).step_by(2).any(|i| db.contains(a.get(i), now)) {
        reply::int(out, 0);
        return Ok(());
    }
    for i in (1..a.len()).step_by(2) {
        db.set(a.get(i), Value::Str(a.get(i + 1).to_vec()), None);
        db.emit(n::STRING, "set", a.get(i));
    }
    if name == "msetnx" {
        reply::int(out, 1);
    } else {
        reply::ok(out);
    }
    Ok(())
}

named!(mset_msetnx_named: mset, msetnx);

pub(super) fn mget(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::array(out, a.len() - 1);
    for k in a.iter_from(1) {
        match db.get(k, now) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => reply::bulk(out, s),
            _ => reply::nil(out),
        }
    }
    Ok(())
}

fn incr_decr_incrby_decrby_named(
    name: &str,
    db: &mut Db,
    a: &Args<'_>,
    now: u64,
    out: &mut Vec<u8>,
) -> R {
    let key = a.get(1);
    let by = match name {
        "incr" => 1,
        "decr" => -1,
        "incrby" => int_arg(a, 2)?,
        _ => int_arg(a, 2)?
            .checked_neg()
            .ok_or_else(|| "ERR decrement would overflow".to_string())?,
    };
    let cur = match get_str(db, key, now)? {
        None => 0,
        Some(v) => parse_i64(v).ok_or_else(|| NOT_INT.to_string())?,
    };
    let new = cur
        .checked_add(by)
        .ok_or_else(|| "ERR increment or decrement would overflow".to_string())?;
    let expires = db.get(key, now).and_then(|e| e.expires_at);
    db.set(key, Value::Str(new.to_string().into_bytes()), expires);
    db.emit(n::STRING, "incrby", key);
    reply::int(out, new);
    Ok(())
}

named!(incr_decr_incrby_decrby_named: incr, decr, incrby, decrby);

pub(super) fn incrbyfloat(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    // Redis's order: the type, the current value, the increment.
    // In long double, as Redis sums (see `kv::float`).
    let cur = get_str(db, key, now)?.map(|v| v.clone());
    let text = match super::super::float::incr(cur.as_deref(), a.get(2)) {
        Ok(t) => t,
        Err(super::super::float::IncrError::NotFloat) => return err(NOT_FLOAT),
        Err(super::super::float::IncrError::NanOrInfinity) => {
            return err("ERR increment would produce NaN or Infinity")
        }
    };
    let expires = db.get(key, now).and_then(|e| e.expires_at);
    reply::bulk(out, &text);
    db.set(key, Value::Str(text), expires);
    db.emit(n::STRING, "incrbyfloat", key);
    Ok(())
}

pub(super) fn append(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let len = match get_str(db, key, now)? {
        Some(v) => {
            v.extend_from_slice(a.get(2));
            v.len()
        }
        None => {
            db.set(key, Value::Str(a.get(2).to_vec()), None);
            a.get(2).len()
        }
    };
    db.emit(n::STRING, "append", key);
    reply::int(out, len as i64);
    Ok(())
}

pub(super) fn strlen(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let n = get_str(db, key, now)?.map_or(0, |v| v.len());
    reply::int(out, n as i64);
    Ok(())
}

pub(super) fn getrange(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let (start, end) = (int_arg(a, 2)?, int_arg(a, 3)?);
    let v = get_str(db, key, now)?
        .map(|v| v.clone())
        .unwrap_or_default();
    // Redis's getrangeCommand, clamp for clamp.
    let len = v.len() as i64;
    let (mut s, mut e) = (start, end);
    if s < 0 && e < 0 && s > e {
        reply::bulk(out, b"");
        return Ok(());
    }
    if s < 0 {
        s += len;
    }
    if e < 0 {
        e += len;
    }
    s = s.max(0);
    e = e.max(0).min(len - 1);
    if s > e || len == 0 {
        reply::bulk(out, b"");
    } else {
        reply::bulk(out, &v[s as usize..=e as usize]);
    }
    Ok(())
}

pub(super) fn setrange(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let offset = int_arg(a, 2)?;
    if offset < 0 {
        return err("ERR offset is out of range");
    }
    let offset = offset as usize;
    let data = a.get(3);
    // Redis's order: the type, nothing to write, then the size.
    let too_big = offset.saturating_add(data.len()) > crate::kv::resp::MAX_BULK;
    let len = match get_str(db, key, now)? {
        Some(v) if data.is_empty() => v.len(),
        None if data.is_empty() => 0,
        _ if too_big => return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
        Some(v) => {
            if v.len() < offset + data.len() {
                v.resize(offset + data.len(), 0);
            }
            v[offset..offset + data.len()].copy_from_slice(data);
            v.len()
        }
        None => {
            let mut v = vec![0; offset];
            v.extend_from_slice(data);
            let n = v.len();
            db.set(key, Value::Str(v), None);
            n
        }
    };
    if !data.is_empty() {
        db.emit(n::STRING, "setrange", key);
    }
    reply::int(out, len as i64);
    Ok(())
}

pub(super) fn set(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    if a.len() == 3 {
        db.set_string(key, a.get(2));
        db.emit(n::STRING, "set", key);
        reply::ok(out);
        return Ok(());
    }
    // Redis 7.0's parseExtendedStringArgumentsOrReply: the options' syntax
    // first (EX may repeat, the last wins; EX with PX is an error), then
    // the time, then GET's type check, then NX/XX.
    let StringOptions {
        nx,
        xx,
        get,
        keep: keepttl,
        unit,
        when,
    } = string_options(a, 3, true)?;
    let expires = match (unit, when) {
        (Some(unit), Some(when)) => Some(expire_ms("set", unit, when, now)?),
        _ => None,
    };
    let old = if get {
        Some(get_str(db, key, now)?.map(|v| v.clone()))
    } else {
        None
    };
    let exists = db.contains(key, now);
    if (nx && exists) || (xx && !exists) {
        match old {
            Some(old) => reply::opt_bulk(out, old.as_deref()),
            None => reply::nil(out),
        }
        return Ok(());
    }
    let expire = expires.is_some();
    let expires = if keepttl {
        db.get(key, now).and_then(|e| e.expires_at)
    } else {
        expires
    };
    db.set(key, Value::Str(a.get(2).to_vec()), expires);
    db.emit(n::STRING, "set", key);
    if expire {
        db.emit(n::GENERIC, "expire", key);
    }
    match old {
        Some(old) => reply::opt_bulk(out, old.as_deref()),
        None => reply::ok(out),
    }
    Ok(())
}

/// The expiry time of SET's EX/PX/EXAT/PXAT (and SETEX, PSETEX), as
/// Redis 7.0's getExpireMillisecondsOrReply checks it: an integer, over
/// zero, whose milliseconds (plus now, for EX and PX) stay within i64.
fn expire_ms(name: &str, unit: &[u8], when: &[u8], now: u64) -> Result<u64, String> {
    let invalid = || format!("ERR invalid expire time in '{name}' command");
    let mut ms = parse_i64(when).ok_or_else(|| NOT_INT.to_string())?;
    let seconds = matches!(unit, b"EX" | b"EXAT");
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(invalid());
    }
    if seconds {
        ms *= 1000;
    }
    if matches!(unit, b"EX" | b"PX") {
        ms = ms.checked_add(now as i64).ok_or_else(invalid)?;
    }
    Ok(ms as u64)
}

/// GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]: the value, and
/// its expiry changed (Redis 7.0's getexCommand: the options' syntax, the
/// key, its type, then the time; a time already past deletes the key).
pub(super) fn getex(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let StringOptions {
        keep: persist,
        unit,
        when,
        ..
    } = string_options(a, 2, false)?;
    let Some(value) = get_str(db, key, now)?.map(|v| v.clone()) else {
        reply::nil(out);
        return Ok(());
    };
    let at = match (unit, when) {
        (Some(unit), Some(when)) => Some((unit, expire_ms("getex", unit, when, now)?)),
        _ => None,
    };
    reply::bulk(out, &value);
    match at {
        Some((b"EXAT" | b"PXAT", ms)) if ms <= now => {
            db.remove(key);
            db.emit(n::GENERIC, "del", key);
        }
        Some((_, ms)) => {
            db.set_expiry(key, Some(ms));
            db.emit(n::GENERIC, "expire", key);
        }
        None if persist && db.peek(key).is_some_and(|e| e.expires_at.is_some()) => {
            db.set_expiry(key, None);
            db.emit(n::GENERIC, "persist", key);
        }
        None => {}
    }
    Ok(())
}

/// SET's and GETEX's options, as Redis 7.0's
/// parseExtendedStringArgumentsOrReply reads them.
#[derive(Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    /// KEEPTTL (SET) or PERSIST (GETEX): excludes an expiry time.
    keep: bool,
    /// EX, PX, EXAT or PXAT (the same one may repeat; the last wins).
    unit: Option<&'static [u8]>,
    when: Option<&'a [u8]>,
}

/// Reads the options from argument `from` on: SET's (`set`: NX, XX, GET,
/// KEEPTTL) or GETEX's (PERSIST), and the expiry units both take.
fn string_options<'a>(a: &Args<'a>, from: usize, set: bool) -> Result<StringOptions<'a>, Msg> {
    let mut o = StringOptions::default();
    let mut i = from;
    while i < a.len() {
        let opt = a.get(i).to_ascii_uppercase();
        let next = (i + 1 < a.len()).then(|| a.get(i + 1));
        let timed = |u: &[u8]| o.unit.is_none_or(|x| x == u);
        match opt.as_slice() {
            b"NX" if set && !o.xx => o.nx = true,
            b"XX" if set && !o.nx => o.xx = true,
            b"GET" if set => o.get = true,
            b"KEEPTTL" if set && o.unit.is_none() => o.keep = true,
            b"PERSIST" if !set && o.unit.is_none() => o.keep = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if !o.keep && timed(&opt) && next.is_some() => {
                o.unit = Some(match opt.as_slice() {
                    b"EX" => b"EX",
                    b"PX" => b"PX",
                    b"EXAT" => b"EXAT",
                    _ => b"PXAT",
                });
                o.when = next;
                i += 1;
            }
            _ => return err(SYNTAX),
        }
        i += 1;
    }
    Ok(o)
}
