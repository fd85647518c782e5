//! Sorted sets: ZADD, ZSCORE, ZINCRBY, ZCARD, ZRANGE, ZRANGEBYSCORE, ZREM, ZRANK, ZPOPMIN, ZPOPMAX.

use super::*;

/// Runs `name` if it is one of these commands.
pub(super) fn run(db: &mut Db, name: &str, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> Group {
    let key = if a.len() > 1 { a.get(1) } else { b"" };
    match name {
        "zadd" => return zadd(db, a, now, out).map_err(Outcome::Failed),
        "zscore" => {
            let z = get_zset(db, key, now, false)?;
            let s = z.and_then(|z| z.scores.get(a.get(2)).copied());
            reply::opt_bulk(out, s.map(fmt_f64).as_deref().map(str::as_bytes));
        }
        "zincrby" => {
            let by = parse_f64(a.get(2)).ok_or_else(|| NOT_FLOAT.to_string())?;
            let z = get_zset(db, key, now, true)?.expect("created");
            let new = z.scores.get(a.get(3)).copied().unwrap_or(0.0) + by;
            if new.is_nan() {
                return err("ERR resulting score is not a number (NaN)");
            }
            z.insert(a.get(3), new);
            reply::bulk(out, fmt_f64(new).as_bytes());
        }
        "zcard" => {
            let n = get_zset(db, key, now, false)?.map_or(0, |z| z.len());
            reply::int(out, n as i64);
        }
        "zrange" => {
            let (s, e) = (int_arg(a, 2)?, int_arg(a, 3)?);
            let with_scores = match a.len() {
                4 => false,
                5 if a.get(4).eq_ignore_ascii_case(b"withscores") => true,
                _ => return err(SYNTAX),
            };
            let z = get_zset(db, key, now, false)?;
            let items: Vec<(f64, Vec<u8>)> = match z {
                Some(z) => match norm_range(s, e, z.len()) {
                    Some((s, e)) => z
                        .order
                        .iter()
                        .skip(s)
                        .take(e - s + 1)
                        .map(|(sc, m)| (sc.0, m.clone()))
                        .collect(),
                    None => Vec::new(),
                },
                None => Vec::new(),
            };
            write_scored(out, &items, with_scores);
        }
        "zrangebyscore" => {
            let bound = |b: &[u8]| -> Result<(f64, bool), String> {
                let (excl, num) = match b.split_first() {
                    Some((b'(', rest)) => (true, rest),
                    _ => (false, b),
                };
                parse_f64(num)
                    .map(|v| (v, excl))
                    .ok_or_else(|| "ERR min or max is not a float".to_string())
            };
            let (min, max) = (bound(a.get(2))?, bound(a.get(3))?);
            let mut with_scores = false;
            let mut limit: Option<(i64, i64)> = None;
            let mut i = 4;
            while i < a.len() {
                if a.get(i).eq_ignore_ascii_case(b"withscores") {
                    with_scores = true;
                    i += 1;
                } else if a.get(i).eq_ignore_ascii_case(b"limit") && i + 2 < a.len() {
                    limit = Some((int_arg(a, i + 1)?, int_arg(a, i + 2)?));
                    i += 3;
                } else {
                    return err(SYNTAX);
                }
            }
            let z = get_zset(db, key, now, false)?;
            let inside = |v: f64| {
                (if min.1 { v > min.0 } else { v >= min.0 })
                    && (if max.1 { v < max.0 } else { v <= max.0 })
            };
            let mut items: Vec<(f64, Vec<u8>)> = z
                .map(|z| {
                    z.order
                        .range((Score(min.0), Vec::new())..)
                        .filter(|(s, _)| inside(s.0))
                        .map(|(s, m)| (s.0, m.clone()))
                        .collect()
                })
                .unwrap_or_default();
            if let Some((off, count)) = limit {
                if off < 0 {
                    items.clear();
                } else {
                    items = items
                        .into_iter()
                        .skip(off as usize)
                        .take(if count < 0 {
                            usize::MAX
                        } else {
                            count as usize
                        })
                        .collect();
                }
            }
            write_scored(out, &items, with_scores);
        }
        "zrem" => {
            let mut n = 0;
            if let Some(z) = get_zset(db, key, now, false)? {
                for m in a.iter_from(2) {
                    n += z.remove(m) as i64;
                }
            }
            db.drop_if_empty(key);
            reply::int(out, n);
        }
        "zrank" => {
            let z = get_zset(db, key, now, false)?;
            let rank = z.and_then(|z| {
                let s = *z.scores.get(a.get(2))?;
                Some(z.order.range(..(Score(s), a.get(2).to_vec())).count())
            });
            match rank {
                Some(r) => reply::int(out, r as i64),
                None => reply::nil(out),
            }
        }
        "zpopmin" | "zpopmax" => {
            let count = if a.len() > 2 {
                let c = int_arg(a, 2)?;
                if c < 0 {
                    return err("ERR value is out of range, must be positive");
                }
                c as usize
            } else {
                1
            };
            if a.len() > 3 {
                return err(SYNTAX);
            }
            let mut items = Vec::new();
            if let Some(z) = get_zset(db, key, now, false)? {
                for _ in 0..count {
                    let next = if name == "zpopmin" {
                        z.order.iter().next().cloned()
                    } else {
                        z.order.iter().next_back().cloned()
                    };
                    let Some((s, m)) = next else { break };
                    z.remove(&m);
                    items.push((s.0, m));
                }
            }
            db.drop_if_empty(key);
            write_scored(out, &items, true);
        }
        _ => return Err(Outcome::NotMine),
    }
    Ok(())
}

fn write_scored(out: &mut Vec<u8>, items: &[(f64, Vec<u8>)], with_scores: bool) {
    reply::array(out, items.len() * if with_scores { 2 } else { 1 });
    for (s, m) in items {
        reply::bulk(out, m);
        if with_scores {
            reply::bulk(out, fmt_f64(*s).as_bytes());
        }
    }
}

fn zadd(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
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
        let new = if incr { old.unwrap_or(0.0) + s } else { s };
        if new.is_nan() {
            return err("ERR resulting score is not a number (NaN)");
        }
        if let Some(o) = old {
            if (gt && new <= o) || (lt && new >= o) {
                continue;
            }
        }
        result = Some(new);
        if z.insert(m, new) {
            added += 1;
        } else if old != Some(new) {
            changed += 1;
        }
    }
    db.drop_if_empty(key);
    if incr {
        reply::opt_bulk(out, result.map(fmt_f64).as_deref().map(str::as_bytes));
    } else {
        reply::int(out, if ch { added + changed } else { added });
    }
    Ok(())
}
