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
    db.emit(
        n::LIST,
        if name == "lpush" { "lpush" } else { "rpush" },
        key,
    );
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
    if !popped.is_empty() {
        db.emit(n::LIST, if name == "lpop" { "lpop" } else { "rpop" }, key);
    }
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
    db.emit(n::LIST, "lset", key);
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
    if removed > 0 {
        db.emit(n::LIST, "lrem", key);
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
        db.emit(n::LIST, "ltrim", key);
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
    // Redis's order: the push, the pop, then the emptied source.
    db.emit(n::LIST, if to_left { "lpush" } else { "rpush" }, to);
    db.emit(n::LIST, if from_left { "lpop" } else { "rpop" }, from);
    db.drop_if_empty(from);
    reply::bulk(out, &value);
    Ok(())
}

/// LPOS key element [RANK r] [COUNT n] [MAXLEN m] (Redis 7.0's lposCommand:
/// the options and their errors, then the key).
pub(super) fn lpos(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (mut rank, mut count, mut maxlen): (i64, Option<i64>, i64) = (1, None, 0);
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        let more = j + 1 < a.len();
        // COUNT and MAXLEN: one message for "not a number" and "negative".
        let positive = |i: usize, msg: &str| -> Result<i64, Msg> {
            match parse_i64(a.get(i)) {
                Some(n) if n >= 0 => Ok(n),
                _ => err(msg),
            }
        };
        match opt.as_slice() {
            b"rank" if more => {
                rank = int_arg(a, j + 1)?;
                if rank == i64::MIN {
                    return err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
                }
                if rank == 0 {
                    return err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                }
            }
            b"count" if more => count = Some(positive(j + 1, "ERR COUNT can't be negative")?),
            b"maxlen" if more => maxlen = positive(j + 1, "ERR MAXLEN can't be negative")?,
            _ => return err(SYNTAX),
        }
        j += 2;
    }
    let Some(l) = get_list(db, a.get(1), now, false)? else {
        match count {
            Some(_) => reply::array(out, 0),
            None => reply::nil(out),
        }
        return Ok(());
    };
    let ele = a.get(2);
    let len = l.len();
    let from_tail = rank < 0;
    let skip = rank.unsigned_abs() - 1;
    let scan = if maxlen == 0 {
        len
    } else {
        (maxlen as usize).min(len)
    };
    let positions = (0..scan).map(|i| if from_tail { len - 1 - i } else { i });
    let mut found = positions.filter(|&i| l[i] == ele).skip(skip as usize);
    match count {
        None => match found.next() {
            Some(i) => reply::int(out, i as i64),
            None => reply::nil(out),
        },
        Some(n) => {
            let take = if n == 0 { usize::MAX } else { n as usize };
            let hits: Vec<usize> = found.take(take).collect();
            reply::array(out, hits.len());
            for i in hits {
                reply::int(out, i as i64);
            }
        }
    }
    Ok(())
}

/// LPUSHX and RPUSHX: push onto a list that exists, else nothing.
fn lpushx_rpushx_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let Some(l) = get_list(db, a.get(1), now, false)? else {
        reply::int(out, 0);
        return Ok(());
    };
    for v in a.iter_from(2) {
        if name == "lpushx" {
            l.push_front(v.to_vec());
        } else {
            l.push_back(v.to_vec());
        }
    }
    reply::int(out, l.len() as i64);
    let event = if name == "lpushx" { "lpush" } else { "rpush" };
    db.emit(n::LIST, event, a.get(1));
    Ok(())
}

named!(lpushx_rpushx_named: lpushx, rpushx);

/// LINSERT key BEFORE|AFTER pivot element: the list's length, -1 when the
/// pivot is not there, 0 when the key is not.
pub(super) fn linsert(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let before = match a.get(2).to_ascii_lowercase().as_slice() {
        b"before" => true,
        b"after" => false,
        _ => return err(SYNTAX),
    };
    let Some(l) = get_list(db, a.get(1), now, false)? else {
        reply::int(out, 0);
        return Ok(());
    };
    match l.iter().position(|e| e.as_slice() == a.get(3)) {
        None => reply::int(out, -1),
        Some(i) => {
            l.insert(if before { i } else { i + 1 }, a.get(4).to_vec());
            reply::int(out, l.len() as i64);
            db.emit(n::LIST, "linsert", a.get(1));
        }
    }
    Ok(())
}

/// LMPOP numkeys key… LEFT|RIGHT [COUNT n]: up to n elements of the first
/// non-empty list, with its key; nil when none.
pub(super) fn lmpop(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let m = mpop_args(a, 1, [b"left", b"right"])?;
    lmpop_keys(db, &m, now, out)
}

/// LMPOP's pop over `m`'s keys (BLMPOP's too).
pub fn lmpop_keys(db: &mut Db, m: &Mpop<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let pop = |db: &mut Db, key: &[u8]| {
        let popped = get_list(db, key, now, false)?.map(|l| {
            let take = m.count.min(l.len());
            let popped: Vec<Vec<u8>> = if m.first_end {
                l.drain(..take).collect()
            } else {
                l.drain(l.len() - take..).rev().collect()
            };
            popped
        });
        if popped.as_ref().is_some_and(|p| !p.is_empty()) {
            db.emit(n::LIST, if m.first_end { "lpop" } else { "rpop" }, key);
        }
        Ok(popped)
    };
    mpop_first(db, m, pop, |out, e| reply::bulk(out, e), out)
}
