//! Sorted sets: ZADD, ZSCORE, ZINCRBY, ZCARD, ZRANGE, ZRANGEBYSCORE, ZREM, ZRANK, ZPOPMIN, ZPOPMAX.

mod ranges;
mod setops;
use ranges::{lex_bounds, lex_members, score_range, zrange_by, Bound, By, Lex};
pub(super) use ranges::{zcount, zlexcount, zmscore};

use setops::zsetop_named;

use super::*;

pub(super) fn zscore(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let z = get_zset(db, key, now, false)?;
    let s = z.and_then(|z| z.scores.get(a.get(2)).copied());
    reply::opt_double(out, s);
    Ok(())
}

pub(super) fn zincrby(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let by = parse_f64(a.get(2)).ok_or_else(|| NOT_FLOAT.to_string())?;
    let z = get_zset(db, key, now, true)?.expect("created");
    let old = z.scores.get(a.get(3)).copied();
    let new = old.map_or(by, |o| o + by);
    if new.is_nan() {
        return err("ERR resulting score is not a number (NaN)");
    }
    if old != Some(new) {
        z.insert(a.get(3), new);
    }
    db.emit(n::ZSET, "zincr", key);
    reply::double(out, new);
    Ok(())
}

pub(super) fn zcard(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let n = get_zset(db, key, now, false)?.map_or(0, |z| z.len());
    reply::int(out, n as i64);
    Ok(())
}

pub(super) fn zrange(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    zrange_by(db, a, now, out, By::Rank, false, false)
}

pub(super) fn zrangebyscore(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    zrange_by(db, a, now, out, By::Score, true, false)
}

pub(super) fn zrevrange(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    zrange_by(db, a, now, out, By::Rank, true, true)
}

pub(super) fn zrevrangebyscore(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    zrange_by(db, a, now, out, By::Score, true, true)
}

pub(super) fn zrangebylex(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    zrange_by(db, a, now, out, By::Lex, true, false)
}

pub(super) fn zrevrangebylex(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    zrange_by(db, a, now, out, By::Lex, true, true)
}

pub(super) fn zrem(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let mut removed = 0;
    if let Some(z) = get_zset(db, key, now, false)? {
        for m in a.iter_from(2) {
            removed += z.remove(m) as i64;
        }
    }
    if removed > 0 {
        db.emit(n::ZSET, "zrem", key);
    }
    db.drop_if_empty(key);
    reply::int(out, removed);
    Ok(())
}

pub(super) fn zrank(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    rank(db, a, now, out, false)
}

pub(super) fn zrevrank(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    rank(db, a, now, out, true)
}

fn rank(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>, reverse: bool) -> R {
    let key = a.get(1);
    let z = get_zset(db, key, now, false)?;
    let rank = z.and_then(|z| {
        let s = *z.scores.get(a.get(2))?;
        let below = z.order.range(..(Score(s), a.get(2).to_vec())).count();
        Some(if reverse { z.len() - 1 - below } else { below })
    });
    match rank {
        Some(r) => reply::int(out, r as i64),
        None => reply::nil(out),
    }
    Ok(())
}

fn zpopmin_zpopmax_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    if a.len() > 3 {
        return err(SYNTAX);
    }
    let count = if a.len() > 2 { positive_arg(a, 2)? } else { 1 };
    if a.len() > 3 {
        return err(SYNTAX);
    }
    let items = match get_zset(db, key, now, false)? {
        Some(z) => pop_ends(z, name == "zpopmin", count),
        None => Vec::new(),
    };
    if !items.is_empty() {
        db.emit(
            n::ZSET,
            if name == "zpopmin" {
                "zpopmin"
            } else {
                "zpopmax"
            },
            key,
        );
    }
    db.drop_if_empty(key);
    if a.len() == 2 && reply::resp3() {
        // Without a count, RESP3 answers one [member, score], not a list
        // of pairs.
        reply::array(out, 2 * items.len());
        for (s, m) in &items {
            reply::bulk(out, m);
            reply::double(out, *s);
        }
    } else {
        write_scored(out, &items, true);
    }
    Ok(())
}

named!(zpopmin_zpopmax_named: zpopmin, zpopmax);

/// Takes up to `count` members off the low end (`min`) or the high end of
/// `z`, with their scores, in the order taken.
fn pop_ends(z: &mut ZSet, min: bool, count: usize) -> Vec<(f64, Vec<u8>)> {
    let mut items = Vec::new();
    for _ in 0..count {
        let next = if min {
            z.order.iter().next().cloned()
        } else {
            z.order.iter().next_back().cloned()
        };
        let Some((s, m)) = next else { break };
        z.remove(&m);
        items.push((s.0, m));
    }
    items
}

/// Members, with their scores if asked: RESP2 one flat array; RESP3 an
/// array of [member, score] pairs, scores as doubles.
fn write_scored(out: &mut Vec<u8>, items: &[(f64, Vec<u8>)], with_scores: bool) {
    let pairs = with_scores && reply::resp3();
    reply::array(out, items.len() * if with_scores && !pairs { 2 } else { 1 });
    for (s, m) in items {
        if pairs {
            reply::array(out, 2);
        }
        reply::bulk(out, m);
        if with_scores {
            reply::double(out, *s);
        }
    }
}

pub(super) fn zadd(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        match a.get(i).to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            b"CH" => ch = true,
            b"INCR" => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = a.len() - i;
    if pairs == 0 || pairs % 2 != 0 {
        return err(SYNTAX);
    }
    if nx && xx {
        return err("ERR XX and NX options at the same time are not compatible");
    }
    if (gt && lt) || (nx && (gt || lt)) {
        return err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && pairs != 2 {
        return err("ERR INCR option supports a single increment-element pair");
    }
    let mut scored = Vec::with_capacity(pairs / 2);
    for j in (i..a.len()).step_by(2) {
        let s = parse_f64(a.get(j)).ok_or_else(|| NOT_FLOAT.to_string())?;
        scored.push((s, a.get(j + 1)));
    }
    let z = get_zset(db, key, now, !xx)?;
    let Some(z) = z else {
        if incr {
            reply::nil(out);
        } else {
            reply::int(out, 0);
        }
        return Ok(());
    };
    let (mut added, mut changed) = (0, 0);
    let mut result = None;
    for (s, m) in scored {
        let old = z.scores.get(m).copied();
        if (nx && old.is_some()) || (xx && old.is_none()) {
            continue;
        }
        // A new member takes the score as given (-0 stays -0).
        let new = match old {
            Some(o) if incr => o + s,
            _ => s,
        };
        if new.is_nan() {
            return err("ERR resulting score is not a number (NaN)");
        }
        if let Some(o) = old {
            if (gt && new <= o) || (lt && new >= o) {
                continue;
            }
        }
        result = Some(new);
        // An equal score (0 and -0 too) leaves the member as it is.
        if old == Some(new) {
            continue;
        }
        if z.insert(m, new) {
            added += 1;
        } else {
            changed += 1;
        }
    }
    if added + changed > 0 {
        db.emit(n::ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
    db.drop_if_empty(key);
    if incr {
        reply::opt_double(out, result);
    } else {
        reply::int(out, if ch { added + changed } else { added });
    }
    Ok(())
}

/// ZMPOP numkeys key… MIN|MAX [COUNT n]: up to n members of the first
/// non-empty sorted set, with its key, as [member, score] pairs; nil when
/// none.
pub(super) fn zmpop(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let m = mpop_args(a, 1, [b"min", b"max"])?;
    zmpop_keys(db, &m, now, out)
}

/// ZMPOP's pop over `m`'s keys (BZMPOP's too).
pub fn zmpop_keys(db: &mut Db, m: &Mpop<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let pop = |db: &mut Db, key: &[u8]| {
        let popped = get_zset(db, key, now, false)?.map(|z| pop_ends(z, m.first_end, m.count));
        if popped.as_ref().is_some_and(|p| !p.is_empty()) {
            let event = if m.first_end { "zpopmin" } else { "zpopmax" };
            db.emit(n::ZSET, event, key);
        }
        Ok(popped)
    };
    let item = |out: &mut Vec<u8>, (s, member): &(f64, Vec<u8>)| {
        reply::array(out, 2);
        reply::bulk(out, member);
        reply::double(out, *s);
    };
    mpop_first(db, m, pop, item, out)
}

/// ZREMRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYLEX: the range first, then
/// the key; how many members went (an emptied set is deleted).
fn zremrange_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    enum Range {
        Rank(i64, i64),
        Score(Bound, Bound),
        Lex(Lex, Lex),
    }
    let range = match name {
        "zremrangebyrank" => Range::Rank(
            parse_i64(a.get(2)).ok_or(NOT_INT)?,
            parse_i64(a.get(3)).ok_or(NOT_INT)?,
        ),
        "zremrangebyscore" => {
            let (min, max) = score_range(a.get(2), a.get(3))?;
            Range::Score(min, max)
        }
        _ => {
            let (min, max) = lex_bounds(a.get(2), a.get(3))?;
            Range::Lex(min, max)
        }
    };
    let key = a.get(1);
    let Some(z) = get_zset(db, key, now, false)? else {
        reply::int(out, 0);
        return Ok(());
    };
    let gone: Vec<Vec<u8>> = match &range {
        Range::Rank(start, stop) => {
            let len = z.len() as i64;
            let start = if *start < 0 { len + start } else { *start }.max(0);
            let stop = if *stop < 0 { len + stop } else { *stop };
            if start > stop || start >= len {
                Vec::new()
            } else {
                let stop = stop.min(len - 1);
                z.order
                    .iter()
                    .skip(start as usize)
                    .take((stop - start + 1) as usize)
                    .map(|(_, m)| m.clone())
                    .collect()
            }
        }
        Range::Score(min, max) => {
            let below = |v: f64| if min.1 { v <= min.0 } else { v < min.0 };
            let above = |v: f64| if max.1 { v >= max.0 } else { v > max.0 };
            z.order
                .range((Score(min.0), Vec::new())..)
                .skip_while(|(s, _)| below(s.0))
                .take_while(|(s, _)| !above(s.0))
                .map(|(_, m)| m.clone())
                .collect()
        }
        Range::Lex(min, max) => lex_members(z, min, max, false).cloned().collect(),
    };
    for m in &gone {
        z.remove(m);
    }
    if !gone.is_empty() {
        let event = match name {
            "zremrangebyscore" => "zremrangebyscore",
            "zremrangebyrank" => "zremrangebyrank",
            _ => "zremrangebylex",
        };
        db.emit(n::ZSET, event, key);
    }
    db.drop_if_empty(key);
    reply::int(out, gone.len() as i64);
    Ok(())
}

named!(zremrange_named: zremrangebyscore, zremrangebyrank, zremrangebylex);

named!(zsetop_named: zunion, zinter, zdiff, zunionstore, zinterstore, zdiffstore, zintercard);

/// ZRANDMEMBER key [count [WITHSCORES]]: a random member, or `count` of
/// them (distinct for a positive count, with repetition for a negative
/// one), with their scores if asked (RESP3: [member, score] pairs).
pub(super) fn zrandmember(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (count, with_scores) = rand_args(a, b"withscores")?;
    let Some(z) = get_zset(db, a.get(1), now, false)? else {
        match count {
            Some(_) => reply::array(out, 0),
            None => reply::nil(out),
        }
        return Ok(());
    };
    let members: Vec<(f64, &Vec<u8>)> = z.order.iter().map(|(s, m)| (s.0, m)).collect();
    let picks = rand_picks(members.len(), count.unwrap_or(1));
    let Some(_) = count else {
        reply::opt_bulk(out, picks.first().map(|&i| members[i].1.as_slice()));
        return Ok(());
    };
    let items: Vec<(f64, Vec<u8>)> = picks
        .into_iter()
        .map(|i| (members[i].0, members[i].1.clone()))
        .collect();
    write_scored(out, &items, with_scores);
    Ok(())
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT o c]: ZRANGE's
/// members of src (and their scores) stored at dst, replacing it (an empty
/// range deletes it); the reply is how many.
pub(super) fn zrangestore(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    if a.iter_from(5)
        .any(|o| o.eq_ignore_ascii_case(b"withscores"))
    {
        return err(SYNTAX);
    }
    // ZRANGE src min max [options…], run as ZRANGE runs it.
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for arg in std::iter::once(&b"ZRANGE"[..]).chain(a.iter_from(2)) {
        ranges.push(buf.len()..buf.len() + arg.len());
        buf.extend_from_slice(arg);
    }
    let range = Args {
        buf: &buf,
        ranges: &ranges,
    };
    let mut listed = Vec::new();
    zrange_by(db, &range, now, &mut listed, By::Rank, false, false)?;
    let members: Vec<Vec<u8>> = super::super::aof::bulk_strings(&listed)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let mut z = ZSet::default();
    if let Some(src) = get_zset(db, a.get(2), now, false)? {
        for m in &members {
            if let Some(&s) = src.scores.get(m) {
                z.insert(m, s);
            }
        }
    }
    let len = z.len();
    store_result(
        db,
        a.get(1),
        Value::ZSet(z),
        len,
        (n::ZSET, "zrangestore"),
        out,
    )
}
