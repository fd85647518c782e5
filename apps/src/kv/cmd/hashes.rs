//! Hashes: HSET, HMSET, HGET, HMGET, HDEL, HLEN, HGETALL, HKEYS, HVALS, HEXISTS, HINCRBY.

use super::*;

fn hset_hmset_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    if a.len() % 2 != 0 {
        return Err(wrong_arity(name).into());
    }
    let h = get_hash(db, key, now, true)?.expect("created");
    let mut added = 0;
    for i in (2..a.len()).step_by(2) {
        if h.insert(a.get(i).to_vec(), a.get(i + 1).to_vec()).is_none() {
            added += 1;
        }
    }
    db.emit(n::HASH, "hset", key);
    if name == "hset" {
        reply::int(out, added);
    } else {
        reply::ok(out);
    }
    Ok(())
}

named!(hset_hmset_named: hset, hmset);

pub(super) fn hget(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let h = get_hash(db, key, now, false)?;
    reply::opt_bulk(out, h.and_then(|h| h.get(a.get(2))).map(|v| v.as_slice()));
    Ok(())
}

pub(super) fn hmget(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let h = get_hash(db, key, now, false)?;
    reply::array(out, a.len() - 2);
    for f in a.iter_from(2) {
        reply::opt_bulk(out, h.as_ref().and_then(|h| h.get(f)).map(|v| v.as_slice()));
    }
    Ok(())
}

pub(super) fn hdel(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let mut removed = 0;
    if let Some(h) = get_hash(db, key, now, false)? {
        for f in a.iter_from(2) {
            removed += h.remove(f).is_some() as i64;
        }
    }
    if removed > 0 {
        db.emit(n::HASH, "hdel", key);
    }
    db.drop_if_empty(key);
    reply::int(out, removed);
    Ok(())
}

pub(super) fn hlen(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let n = get_hash(db, key, now, false)?.map_or(0, |h| h.len());
    reply::int(out, n as i64);
    Ok(())
}

fn hgetall_hkeys_hvals_named(
    name: &str,
    db: &mut Db,
    a: &Args<'_>,
    now: u64,
    out: &mut Vec<u8>,
) -> R {
    let key = a.get(1);
    let h = get_hash(db, key, now, false)?;
    let len = h.as_ref().map_or(0, |h| h.len());
    if name == "hgetall" {
        reply::map(out, len);
    } else {
        reply::array(out, len);
    }
    for (f, v) in h.iter().flat_map(|h| h.iter()) {
        if name != "hvals" {
            reply::bulk(out, f);
        }
        if name != "hkeys" {
            reply::bulk(out, v);
        }
    }
    Ok(())
}

named!(hgetall_hkeys_hvals_named: hgetall, hkeys, hvals);

pub(super) fn hexists(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let h = get_hash(db, key, now, false)?;
    reply::int(out, h.is_some_and(|h| h.contains_key(a.get(2))) as i64);
    Ok(())
}

pub(super) fn hincrby(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let by = int_arg(a, 3)?;
    let h = get_hash(db, key, now, true)?.expect("created");
    let cur = match h.get(a.get(2)) {
        None => 0,
        Some(v) => parse_i64(v).ok_or_else(|| "ERR hash value is not an integer".to_string())?,
    };
    let new = cur
        .checked_add(by)
        .ok_or_else(|| "ERR increment or decrement would overflow".to_string())?;
    h.insert(a.get(2).to_vec(), new.to_string().into_bytes());
    db.emit(n::HASH, "hincrby", key);
    reply::int(out, new);
    Ok(())
}

pub(super) fn hsetnx(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let h = get_hash(db, a.get(1), now, true)?.expect("created");
    let added = !h.contains_key(a.get(2));
    if added {
        h.insert(a.get(2).to_vec(), a.get(3).to_vec());
        db.emit(n::HASH, "hset", a.get(1));
    }
    reply::int(out, added as i64);
    Ok(())
}

pub(super) fn hstrlen(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let h = get_hash(db, a.get(1), now, false)?;
    let n = h.and_then(|h| h.get(a.get(2))).map_or(0, |v| v.len());
    reply::int(out, n as i64);
    Ok(())
}

/// HINCRBYFLOAT key field increment, in long double as Redis sums (the
/// increment is checked first, then the stored value).
pub(super) fn hincrbyfloat(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    use super::super::float::{incr, IncrError};
    match incr(None, a.get(3)) {
        Ok(_) => {}
        Err(IncrError::NotFloat) => return err(NOT_FLOAT),
        Err(IncrError::NanOrInfinity) => return err("ERR value is NaN or Infinity"),
    }
    let h = get_hash(db, a.get(1), now, true)?.expect("created");
    let cur = h.get(a.get(2)).cloned();
    if cur
        .as_deref()
        .is_some_and(|c| incr(Some(c), b"0") == Err(IncrError::NotFloat))
    {
        db.drop_if_empty(a.get(1));
        return err("ERR hash value is not a float");
    }
    let text = match incr(cur.as_deref(), a.get(3)) {
        Ok(t) => t,
        Err(_) => {
            db.drop_if_empty(a.get(1));
            return err("ERR increment would produce NaN or Infinity");
        }
    };
    reply::bulk(out, &text);
    h_set(db, a, now, text)?;
    db.emit(n::HASH, "hincrbyfloat", a.get(1));
    Ok(())
}

fn h_set(db: &mut Db, a: &Args<'_>, now: u64, value: Vec<u8>) -> R {
    let h = get_hash(db, a.get(1), now, true)?.expect("created");
    h.insert(a.get(2).to_vec(), value);
    Ok(())
}

/// HRANDFIELD key [count [WITHVALUES]]: a random field, or `count` of them
/// (distinct for a positive count, with repetition for a negative one),
/// with their values if asked (RESP3: [field, value] pairs).
pub(super) fn hrandfield(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (count, with_values) = rand_args(a, b"withvalues")?;
    let Some(h) = get_hash(db, a.get(1), now, false)? else {
        match count {
            Some(_) => reply::array(out, 0),
            None => reply::nil(out),
        }
        return Ok(());
    };
    let fields: Vec<(&Vec<u8>, &Vec<u8>)> = h.iter().collect();
    let picks = rand_picks(fields.len(), count.unwrap_or(1));
    let Some(_) = count else {
        reply::opt_bulk(out, picks.first().map(|&i| fields[i].0.as_slice()));
        return Ok(());
    };
    let pairs = with_values && reply::resp3();
    reply::array(out, picks.len() * if with_values && !pairs { 2 } else { 1 });
    for i in picks {
        if pairs {
            reply::array(out, 2);
        }
        reply::bulk(out, fields[i].0);
        if with_values {
            reply::bulk(out, fields[i].1);
        }
    }
    Ok(())
}
