//! Sorted sets: ZADD, ZSCORE, ZINCRBY, ZCARD, ZRANGE, ZRANGEBYSCORE, ZREM, ZRANK, ZPOPMIN, ZPOPMAX.

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

/// ZRANGE and ZRANGEBYSCORE, as Redis 7.0's zrangeGenericCommand: the
/// options first (WITHSCORES, LIMIT, and for ZRANGE: BYSCORE, REV), then
/// the range, then the key. BYLEX is not implemented (a syntax error).
/// What a ZRANGE range is of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// ZRANGE and the commands it replaces: ZRANGEBYSCORE, ZRANGEBYLEX,
/// ZREVRANGE, ZREVRANGEBYSCORE, ZREVRANGEBYLEX. Those fix the range's
/// kind and direction (`fixed`), so REV, BYSCORE and BYLEX are ZRANGE's
/// options only (Redis 7.0's zrangeGenericCommand, check for check).
fn zrange_by(
    db: &mut Db,
    a: &Args<'_>,
    now: u64,
    out: &mut Vec<u8>,
    by: By,
    fixed: bool,
    reverse: bool,
) -> R {
    let key = a.get(1);
    let (mut with_scores, mut rev, mut by, mut auto) = (false, reverse, by, !fixed);
    let mut limit: Option<(i64, i64)> = None;
    let mut j = 4;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        let left = a.len() - j - 1;
        match opt.as_slice() {
            b"withscores" => with_scores = true,
            b"limit" if left >= 2 => {
                limit = Some((int_arg(a, j + 1)?, int_arg(a, j + 2)?));
                j += 2;
            }
            b"rev" if !fixed => rev = true,
            b"byscore" if auto => (by, auto) = (By::Score, false),
            b"bylex" if auto => (by, auto) = (By::Lex, false),
            _ => return err(SYNTAX),
        }
        j += 1;
    }
    if limit.is_some_and(|(_, count)| count != -1) && by == By::Rank {
        return err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if with_scores && by == By::Lex {
        return err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    if by == By::Lex {
        return lex_range(db, a, now, out, rev, limit.unwrap_or((0, -1)));
    }
    let score = by == By::Score;
    let items: Vec<(f64, Vec<u8>)> = if score {
        // Given as [max, min] when reversed.
        let (lo, hi) = if rev {
            (a.get(3), a.get(2))
        } else {
            (a.get(2), a.get(3))
        };
        let (min, max) = score_range(lo, hi)?;
        let Some(z) = get_zset(db, key, now, false)? else {
            reply::array(out, 0);
            return Ok(());
        };
        let (offset, count) = limit.unwrap_or((0, -1));
        // Redis: an offset past the end, or a negative one, is nothing;
        // a negative count is no limit.
        if offset < 0 || (offset > 0 && offset as usize >= z.len()) {
            Vec::new()
        } else {
            let below = |v: f64| if min.1 { v <= min.0 } else { v < min.0 };
            let above = |v: f64| if max.1 { v >= max.0 } else { v > max.0 };
            let take = usize::try_from(count).unwrap_or(usize::MAX);
            let pick = |(s, m): &(Score, Vec<u8>)| (s.0, m.clone());
            if rev {
                z.order
                    .iter()
                    .rev()
                    .skip_while(|(s, _)| above(s.0))
                    .take_while(|(s, _)| !below(s.0))
                    .skip(offset as usize)
                    .take(take)
                    .map(pick)
                    .collect()
            } else {
                z.order
                    .range((Score(min.0), Vec::new())..)
                    .skip_while(|(s, _)| below(s.0))
                    .take_while(|(s, _)| !above(s.0))
                    .skip(offset as usize)
                    .take(take)
                    .map(pick)
                    .collect()
            }
        }
    } else {
        let (start, stop) = (int_arg(a, 2)?, int_arg(a, 3)?);
        let Some(z) = get_zset(db, key, now, false)? else {
            reply::array(out, 0);
            return Ok(());
        };
        match norm_range(start, stop, z.len()) {
            Some((s, e)) if rev => z
                .order
                .iter()
                .rev()
                .skip(s)
                .take(e - s + 1)
                .map(|(sc, m)| (sc.0, m.clone()))
                .collect(),
            Some((s, e)) => z
                .order
                .iter()
                .skip(s)
                .take(e - s + 1)
                .map(|(sc, m)| (sc.0, m.clone()))
                .collect(),
            None => Vec::new(),
        }
    };
    write_scored(out, &items, with_scores);
    Ok(())
}

/// One end of a score range: the value, and whether it is excluded.
type Bound = (f64, bool);

/// A score range's two bounds, `(` making one exclusive, as zslParseRange
/// reads them.
fn score_range(lo: &[u8], hi: &[u8]) -> Result<(Bound, Bound), Msg> {
    let bound = |b: &[u8]| -> Option<Bound> {
        let (excl, num) = match b.split_first() {
            Some((b'(', rest)) => (true, rest),
            _ => (false, b),
        };
        super::super::float::parse_range_bound(num).map(|v| (v, excl))
    };
    match (bound(lo), bound(hi)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => err("ERR min or max is not a float"),
    }
}

/// ZCOUNT key min max: the range first, then the key.
pub(super) fn zcount(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (min, max) = score_range(a.get(2), a.get(3))?;
    let n = get_zset(db, a.get(1), now, false)?.map_or(0, |z| {
        let below = |v: f64| if min.1 { v <= min.0 } else { v < min.0 };
        let above = |v: f64| if max.1 { v >= max.0 } else { v > max.0 };
        z.order
            .range((Score(min.0), Vec::new())..)
            .skip_while(|(s, _)| below(s.0))
            .take_while(|(s, _)| !above(s.0))
            .count()
    });
    reply::int(out, n as i64);
    Ok(())
}

pub(super) fn zmscore(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let z = get_zset(db, a.get(1), now, false)?;
    reply::array(out, a.len() - 2);
    for m in a.iter_from(2) {
        let s = z.as_ref().and_then(|z| z.scores.get(m).copied());
        reply::opt_double(out, s);
    }
    Ok(())
}

/// One end of a lexicographic range, as zslParseLexRangeItem reads it.
enum Lex {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl Lex {
    fn parse(item: &[u8]) -> Option<Lex> {
        match item.split_first() {
            Some((b'+', [])) => Some(Lex::Max),
            Some((b'-', [])) => Some(Lex::Min),
            Some((b'[', rest)) => Some(Lex::Incl(rest.to_vec())),
            Some((b'(', rest)) => Some(Lex::Excl(rest.to_vec())),
            _ => None,
        }
    }

    /// `m` is at or above this lower end.
    fn below_ok(&self, m: &[u8]) -> bool {
        match self {
            Lex::Min => true,
            Lex::Max => false,
            Lex::Incl(x) => m >= x.as_slice(),
            Lex::Excl(x) => m > x.as_slice(),
        }
    }

    /// `m` is at or below this upper end.
    fn above_ok(&self, m: &[u8]) -> bool {
        match self {
            Lex::Max => true,
            Lex::Min => false,
            Lex::Incl(x) => m <= x.as_slice(),
            Lex::Excl(x) => m < x.as_slice(),
        }
    }
}

/// zzlIsInLexRange: false for a range that is empty by its ends, or when
/// the set's last member is below the minimum or its first above the
/// maximum (Redis then answers nothing, whatever lies between).
fn in_lex_range(z: &ZSet, min: &Lex, max: &Lex) -> bool {
    fn rank(l: &Lex) -> (u8, &[u8]) {
        match l {
            Lex::Min => (0, &[]),
            Lex::Incl(x) | Lex::Excl(x) => (1, x),
            Lex::Max => (2, &[]),
        }
    }
    let cmp = rank(min).cmp(&rank(max));
    let excl = matches!(min, Lex::Excl(_)) || matches!(max, Lex::Excl(_));
    if cmp == std::cmp::Ordering::Greater || (cmp == std::cmp::Ordering::Equal && excl) {
        return false;
    }
    let (Some((_, first)), Some((_, last))) = (z.order.iter().next(), z.order.iter().next_back())
    else {
        return false;
    };
    min.below_ok(last) && max.above_ok(first)
}

/// A lexicographic range's two ends.
fn lex_bounds(lo: &[u8], hi: &[u8]) -> Result<(Lex, Lex), Msg> {
    match (Lex::parse(lo), Lex::parse(hi)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => err("ERR min or max not valid string range item"),
    }
}

/// The members in a lexicographic range, walked in the set's order as
/// Redis walks a small sorted set (its listpack): from the first member
/// at or above the minimum while members stay at or below the maximum
/// (reversed: from the last at or below the maximum). With equal scores,
/// as BYLEX is meant for, that is the members in byte order.
fn lex_members<'z>(
    z: &'z ZSet,
    min: &'z Lex,
    max: &'z Lex,
    rev: bool,
) -> Box<dyn Iterator<Item = &'z Vec<u8>> + 'z> {
    if !in_lex_range(z, min, max) {
        return Box::new(std::iter::empty());
    }
    if rev {
        Box::new(
            z.order
                .iter()
                .rev()
                .map(|(_, m)| m)
                .skip_while(move |m| !max.above_ok(m))
                .take_while(move |m| min.below_ok(m)),
        )
    } else {
        Box::new(
            z.order
                .iter()
                .map(|(_, m)| m)
                .skip_while(move |m| !min.below_ok(m))
                .take_while(move |m| max.above_ok(m)),
        )
    }
}

fn lex_range(
    db: &mut Db,
    a: &Args<'_>,
    now: u64,
    out: &mut Vec<u8>,
    rev: bool,
    (offset, count): (i64, i64),
) -> R {
    // Given as [max, min] when reversed.
    let (lo, hi) = if rev {
        (a.get(3), a.get(2))
    } else {
        (a.get(2), a.get(3))
    };
    let (min, max) = lex_bounds(lo, hi)?;
    let Some(z) = get_zset(db, a.get(1), now, false)? else {
        reply::array(out, 0);
        return Ok(());
    };
    let members: Vec<Vec<u8>> = if offset < 0 || (offset > 0 && offset as usize >= z.len()) {
        Vec::new()
    } else {
        lex_members(z, &min, &max, rev)
            .skip(offset as usize)
            .take(usize::try_from(count).unwrap_or(usize::MAX))
            .cloned()
            .collect()
    };
    reply::array(out, members.len());
    for m in &members {
        reply::bulk(out, m);
    }
    Ok(())
}

/// ZLEXCOUNT key min max: the range first, then the key.
pub(super) fn zlexcount(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (min, max) = lex_bounds(a.get(2), a.get(3))?;
    let n = get_zset(db, a.get(1), now, false)?
        .map_or(0, |z| lex_members(z, &min, &max, false).count());
    reply::int(out, n as i64);
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

/// A source's members with their scores (`None`: no such key).
type Scored = Vec<(f64, Vec<u8>)>;

/// ZUNION, ZINTER, ZDIFF and their STORE forms, as Redis 7.0's
/// zunionInterDiffGenericCommand reads and computes them: sets count as
/// sorted sets of score 1; WEIGHTS multiply (NaN becomes 0); AGGREGATE
/// SUM (NaN becomes 0), MIN or MAX; a STORE replaces its destination (or
/// deletes it when the result is empty) and answers the result's size.
fn zsetop_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let store = name.ends_with("store");
    let card = name == "zintercard";
    let op = if card {
        "zinter"
    } else {
        name.trim_end_matches("store")
    };
    let mut limit = 0;
    let numkeys_at = if store { 2 } else { 1 };
    let n = parse_i64(a.get(numkeys_at)).ok_or(NOT_INT)?;
    if n < 1 {
        return Err(format!("ERR at least 1 input key is needed for '{name}' command").into());
    }
    if n as u64 > (a.len() - numkeys_at - 1) as u64 {
        return err(SYNTAX);
    }
    let n = n as usize;
    let mut sources: Vec<Option<Scored>> = Vec::with_capacity(n);
    for i in 0..n {
        let key = a.get(numkeys_at + 1 + i);
        sources.push(match db.get(key, now) {
            None => None,
            Some(Entry {
                value: Value::ZSet(z),
                ..
            }) => Some(z.order.iter().map(|(s, m)| (s.0, m.clone())).collect()),
            Some(Entry {
                value: Value::Set(s),
                ..
            }) => Some(s.iter().map(|m| (1.0, m.clone())).collect()),
            Some(_) => return err(WRONGTYPE),
        });
    }
    let mut weights = vec![1.0; n];
    let mut aggregate = b"sum".to_vec();
    let mut withscores = false;
    let mut j = numkeys_at + 1 + n;
    while j < a.len() {
        let remaining = a.len() - j;
        let word = a.get(j).to_ascii_lowercase();
        if card && remaining >= 2 && word == b"limit" {
            limit = parse_i64(a.get(j + 1))
                .filter(|&l| l >= 0)
                .ok_or("ERR LIMIT can't be negative")? as usize;
            j += 2;
        } else if card {
            return err(SYNTAX);
        } else if op != "zdiff" && remaining > n && word == b"weights" {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = parse_f64(a.get(j + 1 + i)).ok_or("ERR weight value is not a float")?;
            }
            j += 1 + n;
        } else if op != "zdiff" && remaining >= 2 && word == b"aggregate" {
            aggregate = a.get(j + 1).to_ascii_lowercase();
            if !matches!(aggregate.as_slice(), b"sum" | b"min" | b"max") {
                return err(SYNTAX);
            }
            j += 2;
        } else if !store && word == b"withscores" {
            withscores = true;
            j += 1;
        } else {
            return err(SYNTAX);
        }
    }
    let combine = |acc: f64, v: f64| -> f64 {
        match aggregate.as_slice() {
            b"min" => acc.min(v),
            b"max" => acc.max(v),
            _ => {
                let s = acc + v;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
        }
    };
    let weighted = |v: f64, w: f64| {
        let x = v * w;
        if x.is_nan() {
            0.0
        } else {
            x
        }
    };
    // Smallest first, as Redis sorts its sources (glibc's qsort keeps the
    // order of equal sizes): the order the scores are summed in.
    if op != "zdiff" {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| sources[i].as_ref().map_or(0, Vec::len));
        sources = order.iter().map(|&i| sources[i].take()).collect();
        weights = order.iter().map(|&i| weights[i]).collect();
    }
    let mut result: std::collections::HashMap<Vec<u8>, f64, Fx> = Default::default();
    match op {
        "zunion" => {
            for (src, &w) in sources.iter().zip(&weights) {
                for (score, m) in src.iter().flatten() {
                    let v = weighted(*score, w);
                    result
                        .entry(m.clone())
                        .and_modify(|acc| *acc = combine(*acc, v))
                        .or_insert(v);
                }
            }
        }
        "zinter" => {
            if sources.iter().all(Option::is_some) {
                let lookups: Vec<std::collections::HashMap<&[u8], f64, Fx>> = sources
                    .iter()
                    .flatten()
                    .map(|s| s.iter().map(|(v, m)| (m.as_slice(), *v)).collect())
                    .collect();
                for (score, m) in sources[0].iter().flatten() {
                    let mut acc = weighted(*score, weights[0]);
                    let mut everywhere = true;
                    for (i, other) in lookups.iter().enumerate().skip(1) {
                        match other.get(m.as_slice()) {
                            Some(v) => acc = combine(acc, weighted(*v, weights[i])),
                            None => {
                                everywhere = false;
                                break;
                            }
                        }
                    }
                    if everywhere {
                        result.insert(m.clone(), acc);
                    }
                }
            }
        }
        _ => {
            if let Some(first) = &sources[0] {
                let others: std::collections::HashSet<&[u8], Fx> = sources[1..]
                    .iter()
                    .flatten()
                    .flat_map(|s| s.iter().map(|(_, m)| m.as_slice()))
                    .collect();
                for (score, m) in first {
                    if !others.contains(m.as_slice()) {
                        result.insert(m.clone(), *score);
                    }
                }
            }
        }
    }
    if card {
        let n = if limit == 0 {
            result.len()
        } else {
            result.len().min(limit)
        };
        reply::int(out, n as i64);
        return Ok(());
    }
    if store {
        let mut z = ZSet::default();
        for (m, s) in result {
            z.insert(&m, s);
        }
        let len = z.len();
        let event = match op {
            "zunion" => "zunionstore",
            "zinter" => "zinterstore",
            _ => "zdiffstore",
        };
        return store_result(db, a.get(1), Value::ZSet(z), len, (n::ZSET, event), out);
    }
    // Answered from Redis's skiplist: -0 stays -0, and sorts as 0.
    let mut items: Vec<(f64, Vec<u8>)> = result.into_iter().map(|(m, s)| (s, m)).collect();
    items.sort_by(|x, y| {
        x.0.partial_cmp(&y.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| x.1.cmp(&y.1))
    });
    write_scored(out, &items, withscores);
    Ok(())
}

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
