//! Strings: GETSET, GETDEL, SETNX, SETEX, PSETEX, MSET, MSETNX, MGET, INCR,
//! DECR, INCRBY, DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SETRANGE,
//! and SET with its options (GET and SET themselves are dispatched first,
//! as the hottest commands).

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

/// A bit offset as Redis's getBitOffsetFromArgument reads it: below
/// 512 MiB of bytes.
fn bit_offset(arg: &[u8]) -> Result<usize, Msg> {
    parse_i64(arg)
        .filter(|&o| o >= 0 && (o >> 3) < 512 << 20)
        .map(|o| o as usize)
        .ok_or_else(|| Msg::from("ERR bit offset is not an integer or out of range"))
}

/// SETBIT key offset 0|1: the bit's old value; the string grows with
/// zero bytes to reach it (bit 0 is the first byte's highest bit).
pub(super) fn setbit(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let offset = bit_offset(a.get(2))?;
    let on = match parse_i64(a.get(3)) {
        Some(0) => false,
        Some(1) => true,
        _ => return err("ERR bit is not an integer or out of range"),
    };
    let key = a.get(1);
    let mut dirty = false;
    if get_str(db, key, now)?.is_none() {
        db.set(key, Value::Str(Vec::new()), None);
        dirty = true;
    }
    let s = get_str(db, key, now)?.expect("created");
    let byte = offset >> 3;
    if s.len() <= byte {
        s.resize(byte + 1, 0);
        dirty = true;
    }
    let mask = 1u8 << (7 - (offset & 7));
    let old = s[byte] & mask != 0;
    if on {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    // Redis tells of a new key, a longer string or a changed bit only.
    if dirty || old != on {
        db.emit(n::STRING, "setbit", key);
    }
    reply::int(out, old as i64);
    Ok(())
}

/// GETBIT key offset: 0 past the string's end or for a missing key.
pub(super) fn getbit(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let offset = bit_offset(a.get(2))?;
    let bit = get_str(db, a.get(1), now)?
        .and_then(|s| s.get(offset >> 3).copied())
        .is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0);
    reply::int(out, bit as i64);
    Ok(())
}

/// The most memory LCS's table may take, as Redis's default
/// `proto-max-bulk-len` bounds it: a longer pair is refused, not computed.
const LCS_TABLE_MAX: u64 = 512 << 20;

/// LCS a b [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest common
/// subsequence of two strings (a missing key is empty), by Redis 7.0's
/// dynamic programme and walk back, so ties break as Redis's do. The
/// table takes 4 bytes per pair of positions, bounded by
/// [`LCS_TABLE_MAX`].
pub(super) fn lcs(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    const STRINGS: &str = "ERR The specified keys must contain string values";
    let x = match get_str(db, a.get(1), now) {
        Ok(v) => v.map(|v| v.clone()).unwrap_or_default(),
        Err(_) => return err(STRINGS),
    };
    let y = match get_str(db, a.get(2), now) {
        Ok(v) => v.map(|v| v.clone()).unwrap_or_default(),
        Err(_) => return err(STRINGS),
    };
    let (mut len_only, mut idx, mut with_len, mut min_len) = (false, false, false, 0i64);
    let mut i = 3;
    while i < a.len() {
        let opt = a.get(i).to_ascii_lowercase();
        match opt.as_slice() {
            b"idx" => idx = true,
            b"len" => len_only = true,
            b"withmatchlen" => with_len = true,
            b"minmatchlen" if i + 1 < a.len() => {
                min_len = int_arg(a, i + 1)?.max(0);
                i += 1;
            }
            _ => return err(SYNTAX),
        }
        i += 1;
    }
    if len_only && idx {
        return err("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (n, m) = (x.len(), y.len());
    if n as u64 >= u32::MAX as u64 - 1 || m as u64 >= u32::MAX as u64 - 1 {
        return err("ERR String too long for LCS");
    }
    let cells = (n as u64 + 1) * (m as u64 + 1);
    if cells * 4 > LCS_TABLE_MAX {
        return err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let w = m + 1;
    let mut t = vec![0u32; cells as usize];
    for i in 1..=n {
        for j in 1..=m {
            t[i * w + j] = if x[i - 1] == y[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[n * w + m];
    if len_only {
        reply::int(out, total as i64);
        return Ok(());
    }
    // Walk back from the end, gathering the string and the ranges (as
    // Redis: a range is emitted when the match stops being contiguous).
    let mut common = vec![0u8; total as usize];
    let mut ranges: Vec<[usize; 4]> = Vec::new();
    let (mut i, mut j, mut k) = (n, m, total as usize);
    let mut range: Option<[usize; 4]> = None; // a_start, a_end, b_start, b_end
    while i > 0 && j > 0 {
        let mut emit = false;
        if x[i - 1] == y[j - 1] {
            common[k - 1] = x[i - 1];
            match &mut range {
                None => range = Some([i - 1, i - 1, j - 1, j - 1]),
                Some(r) if r[0] == i && r[2] == j => {
                    r[0] -= 1;
                    r[2] -= 1;
                }
                Some(_) => emit = true,
            }
            if range.is_some_and(|r| r[0] == 0 || r[2] == 0) {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some(r) = range.take() {
                if (r[1] - r[0] + 1) as i64 >= min_len {
                    ranges.push(r);
                }
            }
        }
    }
    if !idx {
        reply::bulk(out, &common);
        return Ok(());
    }
    reply::map(out, 2);
    reply::bulk(out, b"matches");
    reply::array(out, ranges.len());
    for r in &ranges {
        reply::array(out, 2 + with_len as usize);
        reply::array(out, 2);
        reply::int(out, r[0] as i64);
        reply::int(out, r[1] as i64);
        reply::array(out, 2);
        reply::int(out, r[2] as i64);
        reply::int(out, r[3] as i64);
        if with_len {
            reply::int(out, (r[1] - r[0] + 1) as i64);
        }
    }
    reply::bulk(out, b"len");
    reply::int(out, total as i64);
    Ok(())
}
