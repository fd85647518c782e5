//! Strings: GETSET, GETDEL, SETNX, SETEX, PSETEX, MSET, MSETNX, MGET, INCR,
//! DECR, INCRBY, DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SETRANGE,
//! and SET with its options (GET and SET themselves are dispatched first,
//! as the hottest commands).

use super::*;

/// Runs `name` if it is one of these commands.
pub(super) fn run(db: &mut Db, name: &str, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> Group {
    let key = if a.len() > 1 { a.get(1) } else { b"" };
    match name {
        "getset" => {
            let old = get_str(db, key, now)?.map(|v| v.clone());
            db.set(key, Value::Str(a.get(2).to_vec()), None);
            reply::opt_bulk(out, old.as_deref());
        }
        "getdel" => {
            let old = get_str(db, key, now)?.map(|v| v.clone());
            if old.is_some() {
                db.remove(key);
            }
            reply::opt_bulk(out, old.as_deref());
        }
        "setnx" => {
            if db.contains(key, now) {
                reply::int(out, 0);
            } else {
                db.set(key, Value::Str(a.get(2).to_vec()), None);
                reply::int(out, 1);
            }
        }
        "setex" | "psetex" => {
            let n = int_arg(a, 2)?;
            if n <= 0 {
                return Err(Outcome::Failed(format!(
                    "ERR invalid expire time in '{name}' command"
                )));
            }
            let ms = if name == "setex" {
                n.saturating_mul(1000)
            } else {
                n
            };
            db.set(
                key,
                Value::Str(a.get(3).to_vec()),
                Some(now.saturating_add(ms as u64)),
            );
            reply::ok(out);
        }
        "mset" | "msetnx" => {
            if a.len() % 2 == 0 {
                return Err(Outcome::Failed(wrong_arity(name)));
            }
            if name == "msetnx" && (1..a.len()).step_by(2).any(|i| db.contains(a.get(i), now)) {
                reply::int(out, 0);
                return Ok(());
            }
            for i in (1..a.len()).step_by(2) {
                db.set(a.get(i), Value::Str(a.get(i + 1).to_vec()), None);
            }
            if name == "msetnx" {
                reply::int(out, 1);
            } else {
                reply::ok(out);
            }
        }
        "mget" => {
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
        }
        "incr" | "decr" | "incrby" | "decrby" => {
            let by = match name {
                "incr" => 1,
                "decr" => -1,
                "incrby" => int_arg(a, 2)?,
                _ => int_arg(a, 2)?
                    .checked_neg()
                    .ok_or_else(|| NOT_INT.to_string())?,
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
            reply::int(out, new);
        }
        "incrbyfloat" => {
            // Redis's order: the type, the current value, the increment.
            let cur = match get_str(db, key, now)? {
                None => 0.0,
                Some(v) => parse_f64(v).ok_or_else(|| NOT_FLOAT.to_string())?,
            };
            let by = parse_f64(a.get(2)).ok_or_else(|| NOT_FLOAT.to_string())?;
            let new = cur + by;
            if !new.is_finite() {
                return err("ERR increment would produce NaN or Infinity");
            }
            let text = fmt_f64(new);
            let expires = db.get(key, now).and_then(|e| e.expires_at);
            db.set(key, Value::Str(text.clone().into_bytes()), expires);
            reply::bulk(out, text.as_bytes());
        }
        "append" => {
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
            reply::int(out, len as i64);
        }
        "strlen" => {
            let n = get_str(db, key, now)?.map_or(0, |v| v.len());
            reply::int(out, n as i64);
        }
        "getrange" => {
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
        }
        "setrange" => {
            let offset = int_arg(a, 2)?;
            if offset < 0 {
                return err("ERR offset is out of range");
            }
            let offset = offset as usize;
            let data = a.get(3);
            if offset + data.len() > crate::kv::resp::MAX_BULK {
                return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            }
            let len = match get_str(db, key, now)? {
                Some(v) => {
                    if !data.is_empty() {
                        if v.len() < offset + data.len() {
                            v.resize(offset + data.len(), 0);
                        }
                        v[offset..offset + data.len()].copy_from_slice(data);
                    }
                    v.len()
                }
                None if data.is_empty() => 0,
                None => {
                    let mut v = vec![0; offset];
                    v.extend_from_slice(data);
                    let n = v.len();
                    db.set(key, Value::Str(v), None);
                    n
                }
            };
            reply::int(out, len as i64);
        }
        _ => return Err(Outcome::NotMine),
    }
    Ok(())
}

pub(super) fn set(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    if a.len() == 3 {
        db.set_string(key, a.get(2));
        reply::ok(out);
        return Ok(());
    }
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut expires: Option<u64> = None;
    let mut i = 3;
    while i < a.len() {
        let opt = a.get(i).to_ascii_uppercase();
        match opt.as_slice() {
            b"NX" if !xx => nx = true,
            b"XX" if !nx => xx = true,
            b"GET" => get = true,
            b"KEEPTTL" if expires.is_none() => keepttl = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT"
                if !keepttl && expires.is_none() && i + 1 < a.len() =>
            {
                let n = int_arg(a, i + 1)?;
                if n <= 0 {
                    return err("ERR invalid expire time in 'set' command");
                }
                let n = n as u64;
                expires = Some(match opt.as_slice() {
                    b"EX" => now.saturating_add(n.saturating_mul(1000)),
                    b"PX" => now.saturating_add(n),
                    b"EXAT" => n.saturating_mul(1000),
                    _ => n,
                });
                i += 1;
            }
            _ => return err(SYNTAX),
        }
        i += 1;
    }
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
    let expires = if keepttl {
        db.get(key, now).and_then(|e| e.expires_at)
    } else {
        expires
    };
    db.set(key, Value::Str(a.get(2).to_vec()), expires);
    match old {
        Some(old) => reply::opt_bulk(out, old.as_deref()),
        None => reply::ok(out),
    }
    Ok(())
}
