//! ZUNION, ZINTER, ZDIFF, ZINTERCARD and their STORE forms.

use super::*;

/// A source's members with their scores (`None`: no such key).
pub(super) type Scored = Vec<(f64, Vec<u8>)>;

/// ZUNION, ZINTER, ZDIFF and their STORE forms, as Redis 7.0's
/// zunionInterDiffGenericCommand reads and computes them: sets count as
/// sorted sets of score 1; WEIGHTS multiply (NaN becomes 0); AGGREGATE
/// SUM (NaN becomes 0), MIN or MAX; a STORE replaces its destination (or
/// deletes it when the result is empty) and answers the result's size.
pub(super) fn zsetop_named(
    name: &str,
    db: &mut Db,
    a: &Args<'_>,
    now: u64,
    out: &mut Vec<u8>,
) -> R {
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
