//! SORT and SORT_RO, as Redis 7.0's sortCommandGeneric.

use super::*;

/// SORT and SORT_RO, as Redis 7.0's sortCommandGeneric: the elements of a
/// list, set or sorted set, by their numeric value (ties by bytes) or
/// ALPHA (bytes), or BY a pattern's keys (`*` replaced by the element,
/// `->field` for a hash field; no `*`: not sorted), DESC, LIMIT, GET
/// patterns (`#`: the element), STORE into a list. Pattern keys are
/// looked up on the sorted key's shard only: give them the key's hash tag
/// (Redis Cluster has the same rule).
pub(super) fn sort_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (mut desc, mut alpha, mut by, mut limit, mut store) = (false, false, None, None, None);
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        match a.get(j).to_ascii_lowercase().as_slice() {
            b"asc" => desc = false,
            b"desc" => desc = true,
            b"alpha" => alpha = true,
            b"limit" if left >= 2 => {
                limit = Some((int_arg(a, j + 1)?, int_arg(a, j + 2)?));
                j += 2;
            }
            b"store" if left >= 1 && name == "sort" => {
                store = Some(a.get(j + 1));
                j += 1;
            }
            b"by" if left >= 1 => {
                by = Some(a.get(j + 1));
                j += 1;
            }
            b"get" if left >= 1 => {
                gets.push(a.get(j + 1));
                j += 1;
            }
            _ => return err(SYNTAX),
        }
        j += 1;
    }
    let key = a.get(1);
    let mut items: Vec<Vec<u8>> = match db.get(key, now) {
        None => Vec::new(),
        Some(Entry {
            value: Value::List(l),
            ..
        }) => l.iter().cloned().collect(),
        Some(Entry {
            value: Value::Set(s),
            ..
        }) => s.iter().cloned().collect(),
        Some(Entry {
            value: Value::ZSet(z),
            ..
        }) => z.order.iter().map(|(_, m)| m.clone()).collect(),
        Some(_) => return err(WRONGTYPE),
    };
    let dont_sort = by.is_some_and(|p| !p.contains(&b'*'));
    if !dont_sort {
        // What each element is compared by.
        let keyed: Vec<Option<Vec<u8>>> = items
            .iter()
            .map(|e| match by {
                Some(p) => lookup_pattern(db, p, e, now),
                None => Some(e.clone()),
            })
            .collect();
        let mut order: Vec<usize> = (0..items.len()).collect();
        if alpha {
            order.sort_by(|&x, &y| {
                let c = match (&keyed[x], &keyed[y]) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, _) => std::cmp::Ordering::Less,
                    (_, None) => std::cmp::Ordering::Greater,
                    (Some(p), Some(q)) => p.cmp(q),
                };
                if desc {
                    c.reverse()
                } else {
                    c
                }
            });
        } else {
            let mut scores = Vec::with_capacity(items.len());
            for k in &keyed {
                scores.push(match k {
                    None => 0.0,
                    Some(v) => sort_score(v)
                        .ok_or("ERR One or more scores can't be converted into double")?,
                });
            }
            order.sort_by(|&x, &y| {
                let c = scores[x]
                    .partial_cmp(&scores[y])
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| items[x].cmp(&items[y]));
                if desc {
                    c.reverse()
                } else {
                    c
                }
            });
        }
        items = order
            .into_iter()
            .map(|i| std::mem::take(&mut items[i]))
            .collect();
    }
    let len = items.len() as i64;
    let (start, end) = match limit {
        None => (0, len - 1),
        Some((offset, count)) => {
            let mut start = offset.max(0);
            let mut end = if count < 0 {
                len - 1
            } else {
                start.saturating_add(count) - 1
            };
            if start >= len {
                start = len - 1;
                end = len - 2;
            }
            (start, end.min(len - 1))
        }
    };
    let picked: Vec<Vec<u8>> = if start > end || len == 0 {
        Vec::new()
    } else {
        items[start as usize..=end as usize].to_vec()
    };
    let mut values: Vec<Option<Vec<u8>>> = Vec::new();
    for e in &picked {
        if gets.is_empty() {
            values.push(Some(e.clone()));
        }
        for g in &gets {
            values.push(lookup_pattern(db, g, e, now));
        }
    }
    match store {
        Some(dst) => {
            let n = values.len();
            let list = values.into_iter().map(Option::unwrap_or_default).collect();
            store_result(db, dst, Value::List(list), n, (n::LIST, "sortstore"), out)?;
        }
        None => {
            reply::array(out, values.len());
            for v in &values {
                reply::opt_bulk(out, v.as_deref());
            }
        }
    }
    Ok(())
}

/// An element's score as SORT reads it: C's `strtod` over the whole
/// string (so "" is 0 and leading spaces pass), refusing NaN and what is
/// out of a double's range (`ERANGE`).
pub(super) fn sort_score(v: &[u8]) -> Option<f64> {
    let s = super::super::super::float::parse_range_bound(v).filter(|s| !s.is_nan())?;
    let text = v.to_ascii_lowercase();
    let mantissa = text.split(|&c| c == b'e').next().unwrap_or_default();
    let overflow = s.is_infinite() && !text.windows(3).any(|w| w == b"inf");
    let hex = text.windows(2).any(|w| w == b"0x");
    let underflow = s == 0.0 && !hex && mantissa.iter().any(|c| (b'1'..=b'9').contains(c));
    (!overflow && !underflow).then_some(s)
}

/// Redis's lookupKeyByPattern: `#` is the element; otherwise the first `*`
/// is replaced by it, and `key->field` reads a hash field; a string key's
/// value, else nothing.
pub(super) fn lookup_pattern(
    db: &mut Db,
    pattern: &[u8],
    elem: &[u8],
    now: u64,
) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = memchr::memchr(b'*', pattern)?;
    let (key_pat, field) = match memchr::memmem::find(&pattern[star + 1..], b"->") {
        Some(i) if star + 1 + i + 2 < pattern.len() => {
            (&pattern[..star + 1 + i], Some(&pattern[star + 1 + i + 2..]))
        }
        _ => (pattern, None),
    };
    let mut key = key_pat[..star].to_vec();
    key.extend_from_slice(elem);
    key.extend_from_slice(&key_pat[star + 1..]);
    match (db.get(&key, now).map(|e| &e.value), field) {
        (Some(Value::Str(s)), None) => Some(s.clone()),
        (Some(Value::Hash(h)), Some(f)) => h.get(f).cloned(),
        _ => None,
    }
}
