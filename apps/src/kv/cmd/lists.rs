//! Lists: LPUSH, RPUSH, LPOP, RPOP, LLEN, LRANGE, LINDEX, LSET, LREM, LTRIM.

use super::*;

fn lpush_rpush_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let l = get_list(db, key, now, true)?.expect("created");
    for v in a.iter_from(2) {
        if name == "lpush" {
            l.push_front(v.to_vec());
        } else {
            l.push_back(v.to_vec());
        }
    }
    reply::int(out, l.len() as i64);
    Ok(())
}

named!(lpush_rpush_named: lpush, rpush);

fn lpop_rpop_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    if a.len() > 3 {
        return Err(wrong_arity(name).into());
    }
    let count = if a.len() > 2 {
        Some(positive_arg(a, 2)?)
    } else {
        None
    };
    let Some(l) = get_list(db, key, now, false)? else {
        match count {
            Some(_) => reply::nil_array(out),
            None => reply::nil(out),
        }
        return Ok(());
    };
    let take = count.unwrap_or(1).min(l.len());
    let popped: Vec<Vec<u8>> = (0..take)
        .filter_map(|_| {
            if name == "lpop" {
                l.pop_front()
            } else {
                l.pop_back()
            }
        })
        .collect();
    db.drop_if_empty(key);
    match count {
        None => reply::opt_bulk(out, popped.first().map(|v| v.as_slice())),
        Some(_) => {
            reply::array(out, popped.len());
            for v in &popped {
                reply::bulk(out, v);
            }
        }
    }
    Ok(())
}

named!(lpop_rpop_named: lpop, rpop);

pub(super) fn llen(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let n = get_list(db, key, now, false)?.map_or(0, |l| l.len());
    reply::int(out, n as i64);
    Ok(())
}

pub(super) fn lrange(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let (s, e) = (int_arg(a, 2)?, int_arg(a, 3)?);
    let l = get_list(db, key, now, false)?;
    match l.and_then(|l| norm_range(s, e, l.len()).map(|r| (l, r))) {
        Some((l, (s, e))) => {
            reply::array(out, e - s + 1);
            for v in l.range(s..=e) {
                reply::bulk(out, v);
            }
        }
        None => reply::array(out, 0),
    }
    Ok(())
}

pub(super) fn lindex(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    // Redis looks the key up (nil when absent) and checks its type
    // before it reads the index.
    let Some(l) = get_list(db, key, now, false)? else {
        reply::nil(out);
        return Ok(());
    };
    let l = Some(l);
    let i = int_arg(a, 2)?;
    let v = l.and_then(|l| {
        let i = if i < 0 { l.len() as i64 + i } else { i };
        (i >= 0).then(|| l.get(i as usize)).flatten()
    });
    reply::opt_bulk(out, v.map(|v| v.as_slice()));
    Ok(())
}

pub(super) fn lset(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let Some(l) = get_list(db, key, now, false)? else {
        return err("ERR no such key");
    };
    let i = int_arg(a, 2)?;
    let i = if i < 0 { l.len() as i64 + i } else { i };
    match (i >= 0).then(|| l.get_mut(i as usize)).flatten() {
        Some(slot) => *slot = a.get(3).to_vec(),
        None => return err("ERR index out of range"),
    }
    reply::ok(out);
    Ok(())
}

pub(super) fn lrem(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let count = int_arg(a, 2)?;
    let v = a.get(3);
    let mut removed = 0u64;
    if let Some(l) = get_list(db, key, now, false)? {
        // One pass, whatever the count (not a shift per match).
        let limit = if count == 0 {
            u64::MAX
        } else {
            count.unsigned_abs()
        };
        let mut kept = std::collections::VecDeque::with_capacity(l.len());
        if count >= 0 {
            for item in l.drain(..) {
                if removed < limit && item == v {
                    removed += 1;
                } else {
                    kept.push_back(item);
                }
            }
        } else {
            for item in l.drain(..).rev() {
                if removed < limit && item == v {
                    removed += 1;
                } else {
                    kept.push_front(item);
                }
            }
        }
        *l = kept;
    }
    db.drop_if_empty(key);
    reply::int(out, removed as i64);
    Ok(())
}

pub(super) fn ltrim(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let (s, e) = (int_arg(a, 2)?, int_arg(a, 3)?);
    if let Some(l) = get_list(db, key, now, false)? {
        match norm_range(s, e, l.len()) {
            Some((s, e)) => {
                l.truncate(e + 1);
                l.drain(..s);
            }
            None => l.clear(),
        }
    }
    db.drop_if_empty(key);
    reply::ok(out);
    Ok(())
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT.
pub(super) fn lmove(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let side = |i: usize| -> Result<bool, Msg> {
        match a.get(i).to_ascii_lowercase().as_slice() {
            b"left" => Ok(true),
            b"right" => Ok(false),
            _ => err(SYNTAX),
        }
    };
    let (from_left, to_left) = (side(3)?, side(4)?);
    move_element(db, a, now, out, from_left, to_left)
}

/// RPOPLPUSH source destination: LMOVE source destination RIGHT LEFT.
pub(super) fn rpoplpush(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    move_element(db, a, now, out, false, true)
}

/// Redis 7.0's lmoveGenericCommand: the source's type, the destination's,
/// then the pop and the push (the same list may be both).
fn move_element(
    db: &mut Db,
    a: &Args<'_>,
    now: u64,
    out: &mut Vec<u8>,
    from_left: bool,
    to_left: bool,
) -> R {
    let (from, to) = (a.get(1), a.get(2));
    if get_list(db, from, now, false)?.is_none() {
        reply::nil(out);
        return Ok(());
    }
    get_list(db, to, now, false)?;
    let l = get_list(db, from, now, false)?.expect("checked");
    let value = if from_left {
        l.pop_front()
    } else {
        l.pop_back()
    }
    .expect("lists are never empty");
    let dst = get_list(db, to, now, true)?.expect("created");
    if to_left {
        dst.push_front(value.clone());
    } else {
        dst.push_back(value.clone());
    }
    db.drop_if_empty(from);
    reply::bulk(out, &value);
    Ok(())
}
