//! Sets: SADD, SREM, SMEMBERS, SISMEMBER, SCARD, SPOP, SINTER, SUNION, SDIFF.

use super::*;

pub(super) fn sadd(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let s = get_set(db, key, now, true)?.expect("created");
    let added = a.iter_from(2).filter(|m| s.insert(m.to_vec())).count();
    if added > 0 {
        db.emit(n::SET, "sadd", key);
    }
    reply::int(out, added as i64);
    Ok(())
}

pub(super) fn srem(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let mut removed = 0;
    if let Some(s) = get_set(db, key, now, false)? {
        removed = a.iter_from(2).filter(|m| s.remove(*m)).count();
    }
    if removed > 0 {
        db.emit(n::SET, "srem", key);
    }
    db.drop_if_empty(key);
    reply::int(out, removed as i64);
    Ok(())
}

pub(super) fn smembers(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let s = get_set(db, key, now, false)?;
    reply::set(out, s.as_ref().map_or(0, |s| s.len()));
    for m in s.iter().flat_map(|s| s.iter()) {
        reply::bulk(out, m);
    }
    Ok(())
}

pub(super) fn sismember(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let s = get_set(db, key, now, false)?;
    reply::int(out, s.is_some_and(|s| s.contains(a.get(2))) as i64);
    Ok(())
}

pub(super) fn scard(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let n = get_set(db, key, now, false)?.map_or(0, |s| s.len());
    reply::int(out, n as i64);
    Ok(())
}

pub(super) fn spop(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let count = if a.len() > 2 {
        Some(positive_arg(a, 2)?)
    } else {
        None
    };
    let popped: Vec<Vec<u8>> = match get_set(db, key, now, false)? {
        Some(s) => {
            let take: Vec<Vec<u8>> = s.iter().take(count.unwrap_or(1)).cloned().collect();
            for m in &take {
                s.remove(m);
            }
            take
        }
        None => Vec::new(),
    };
    if !popped.is_empty() {
        db.emit(n::SET, "spop", key);
    }
    db.drop_if_empty(key);
    match count {
        None => reply::opt_bulk(out, popped.first().map(|v| v.as_slice())),
        Some(_) => {
            reply::set(out, popped.len());
            for m in &popped {
                reply::bulk(out, m);
            }
        }
    }
    Ok(())
}

/// SINTER, SUNION or SDIFF (by `op`'s name) of the sets at `keys`.
fn set_op<'k>(
    op: &str,
    db: &mut Db,
    keys: impl Iterator<Item = &'k [u8]>,
    now: u64,
) -> Result<std::collections::HashSet<Vec<u8>, Fx>, Msg> {
    let mut sets = Vec::new();
    for k in keys {
        sets.push(get_set(db, k, now, false)?.map(|s| s.clone()));
    }
    let mut acc: std::collections::HashSet<Vec<u8>, Fx> = match sets.first() {
        Some(Some(s)) => s.clone(),
        _ => Default::default(),
    };
    for s in sets.iter().skip(1) {
        let empty = Default::default();
        let s = s.as_ref().unwrap_or(&empty);
        match op {
            "sinter" => acc.retain(|m| s.contains(m)),
            "sunion" => acc.extend(s.iter().cloned()),
            _ => acc.retain(|m| !s.contains(m)),
        }
    }
    if op == "sinter" && sets.iter().any(Option::is_none) {
        acc.clear();
    }
    Ok(acc)
}

fn sinter_sunion_sdiff_named(
    name: &str,
    db: &mut Db,
    a: &Args<'_>,
    now: u64,
    out: &mut Vec<u8>,
) -> R {
    let acc = set_op(name, db, a.iter_from(1), now)?;
    reply::set(out, acc.len());
    for m in &acc {
        reply::bulk(out, m);
    }
    Ok(())
}

/// SINTERSTORE, SUNIONSTORE, SDIFFSTORE dst key…: the result replaces dst
/// (whatever it held, its expiry too; an empty result deletes it); the
/// reply is its size.
fn store_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let op = name.trim_end_matches("store");
    let acc = set_op(op, db, a.iter_from(2), now)?;
    let n = acc.len();
    let event = match op {
        "sinter" => "sinterstore",
        "sunion" => "sunionstore",
        _ => "sdiffstore",
    };
    store_result(db, a.get(1), Value::Set(acc), n, (n::SET, event), out)
}

named!(store_named: sinterstore, sunionstore, sdiffstore);

named!(sinter_sunion_sdiff_named: sinter, sunion, sdiff);

pub(super) fn smismember(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let s = get_set(db, a.get(1), now, false)?;
    reply::array(out, a.len() - 2);
    for m in a.iter_from(2) {
        reply::int(out, s.as_ref().is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

/// SMOVE source destination member (Redis 7.0's smoveCommand: a missing
/// source is 0 before any type check).
pub(super) fn smove(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (from, to, m) = (a.get(1), a.get(2), a.get(3));
    if !db.contains(from, now) {
        reply::int(out, 0);
        return Ok(());
    }
    get_set(db, from, now, false)?;
    get_set(db, to, now, false)?;
    let src = get_set(db, from, now, false)?.expect("checked");
    if from == to {
        reply::int(out, src.contains(m) as i64);
        return Ok(());
    }
    if !src.remove(m) {
        reply::int(out, 0);
        return Ok(());
    }
    db.emit(n::SET, "srem", from);
    db.drop_if_empty(from);
    let added = get_set(db, to, now, true)?
        .expect("created")
        .insert(m.to_vec());
    if added {
        db.emit(n::SET, "sadd", to);
    }
    reply::int(out, 1);
    Ok(())
}

/// SINTERCARD numkeys key… [LIMIT n]: the size of the intersection,
/// counted up to n (0: all).
pub(super) fn sintercard(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let numkeys = parse_i64(a.get(1))
        .filter(|&n| n >= 1)
        .ok_or("ERR numkeys should be greater than 0")? as usize;
    if numkeys > a.len() - 2 {
        return err("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0;
    let mut j = 2 + numkeys;
    while j < a.len() {
        if a.get(j).eq_ignore_ascii_case(b"limit") && j + 1 < a.len() {
            j += 1;
            limit = parse_i64(a.get(j))
                .filter(|&n| n >= 0)
                .ok_or("ERR LIMIT can't be negative")? as usize;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| a.get(i)).collect();
    // Every key's type first, as Redis looks them all up before counting.
    let mut sets = Vec::new();
    let mut empty = false;
    for &k in &keys {
        match get_set(db, k, now, false)? {
            Some(s) => sets.push(s.clone()),
            None => empty = true,
        }
    }
    if empty {
        reply::int(out, 0);
        return Ok(());
    }
    sets.sort_by_key(|s| s.len());
    let (first, rest) = sets.split_first().expect("numkeys >= 1");
    let mut n = 0;
    for m in first {
        if rest.iter().all(|s| s.contains(m)) {
            n += 1;
            if limit != 0 && n == limit {
                break;
            }
        }
    }
    reply::int(out, n as i64);
    Ok(())
}

/// SRANDMEMBER key [count]: a random member, or `count` of them (distinct
/// for a positive count, with repetition for a negative one).
pub(super) fn srandmember(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    if a.len() > 3 {
        return err(SYNTAX);
    }
    let count = if a.len() == 3 {
        Some(rand_count(a, 2)?)
    } else {
        None
    };
    let Some(s) = get_set(db, a.get(1), now, false)? else {
        match count {
            Some(_) => reply::array(out, 0),
            None => reply::nil(out),
        }
        return Ok(());
    };
    let members: Vec<&Vec<u8>> = s.iter().collect();
    let picks = rand_picks(members.len(), count.unwrap_or(1));
    match count {
        None => reply::opt_bulk(out, picks.first().map(|&i| members[i].as_slice())),
        Some(_) => {
            reply::array(out, picks.len());
            for i in picks {
                reply::bulk(out, members[i]);
            }
        }
    }
    Ok(())
}
