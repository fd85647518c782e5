//! Ranges of a sorted set: ZRANGE and its kin (by rank, score or lex, either
//! direction), ZCOUNT, ZMSCORE and ZLEXCOUNT, and how Redis reads a range's
//! bounds.

use super::*;

/// ZRANGE and ZRANGEBYSCORE, as Redis 7.0's zrangeGenericCommand: the
/// options first (WITHSCORES, LIMIT, and for ZRANGE: BYSCORE, REV), then
/// the range, then the key. BYLEX is not implemented (a syntax error).
/// What a ZRANGE range is of.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum By {
    Rank,
    Score,
    Lex,
}

/// ZRANGE and the commands it replaces: ZRANGEBYSCORE, ZRANGEBYLEX,
/// ZREVRANGE, ZREVRANGEBYSCORE, ZREVRANGEBYLEX. Those fix the range's
/// kind and direction (`fixed`), so REV, BYSCORE and BYLEX are ZRANGE's
/// options only (Redis 7.0's zrangeGenericCommand, check for check).
pub(super) fn zrange_by(
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
pub(super) type Bound = (f64, bool);

/// A score range's two bounds, `(` making one exclusive, as zslParseRange
/// reads them.
pub(super) fn score_range(lo: &[u8], hi: &[u8]) -> Result<(Bound, Bound), Msg> {
    let bound = |b: &[u8]| -> Option<Bound> {
        let (excl, num) = match b.split_first() {
            Some((b'(', rest)) => (true, rest),
            _ => (false, b),
        };
        super::super::super::float::parse_range_bound(num).map(|v| (v, excl))
    };
    match (bound(lo), bound(hi)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => err("ERR min or max is not a float"),
    }
}

/// ZCOUNT key min max: the range first, then the key.
pub(crate) fn zcount(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
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

pub(crate) fn zmscore(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let z = get_zset(db, a.get(1), now, false)?;
    reply::array(out, a.len() - 2);
    for m in a.iter_from(2) {
        let s = z.as_ref().and_then(|z| z.scores.get(m).copied());
        reply::opt_double(out, s);
    }
    Ok(())
}

/// One end of a lexicographic range, as zslParseLexRangeItem reads it.
pub(super) enum Lex {
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
pub(super) fn in_lex_range(z: &ZSet, min: &Lex, max: &Lex) -> bool {
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
pub(super) fn lex_bounds(lo: &[u8], hi: &[u8]) -> Result<(Lex, Lex), Msg> {
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
pub(super) fn lex_members<'z>(
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

pub(super) fn lex_range(
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
pub(crate) fn zlexcount(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (min, max) = lex_bounds(a.get(2), a.get(3))?;
    let n = get_zset(db, a.get(1), now, false)?
        .map_or(0, |z| lex_members(z, &min, &max, false).count());
    reply::int(out, n as i64);
    Ok(())
}
