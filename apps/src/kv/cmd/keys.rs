//! Commands on keys of any type: GET and SET (the hottest), TYPE, EXISTS,
//! DEL, UNLINK, RENAME, RENAMENX, the EXPIRE family, TTL, PTTL, PERSIST;
//! and PING, ECHO and SELECT as a transaction runs them.

use super::*;

pub(super) fn get(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let v = get_str(db, a.get(1), now)?;
    reply::opt_bulk(out, v.map(|v| v.as_slice()));
    Ok(())
}

pub(super) fn ping(_: &mut Db, a: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    match a.len() {
        1 => reply::simple(out, "PONG"),
        2 => reply::bulk(out, a.get(1)),
        _ => return Err(wrong_arity("ping").into()),
    }
    Ok(())
}

/// CONFIG queued in MULTI, run at EXEC.
pub(super) fn config_in_txn(_: &mut Db, a: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    super::config::command(a, out).map_err(Msg::from)
}

/// UNWATCH queued in MULTI: EXEC has let go of the watch already.
pub(super) fn unwatch_in_txn(_: &mut Db, _: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    reply::ok(out);
    Ok(())
}

pub(super) fn echo(_: &mut Db, a: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    reply::bulk(out, a.get(1));
    Ok(())
}

pub(super) fn select_in_txn(_: &mut Db, a: &Args<'_>, _: u64, out: &mut Vec<u8>) -> R {
    select(a, out)
}

pub(super) fn type_(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let t = db
        .get(a.get(1), now)
        .map_or("none", |e| e.value.type_name());
    reply::simple(out, t);
    Ok(())
}

pub(super) fn exists(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let n = a.iter_from(1).filter(|k| db.contains(k, now)).count();
    reply::int(out, n as i64);
    Ok(())
}

/// DEL and UNLINK (which frees in the background in Redis: the same here).
pub(super) fn del(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let mut n = 0;
    for k in a.iter_from(1) {
        if db.contains(k, now) {
            db.remove(k);
            db.emit(n::GENERIC, "del", k);
            n += 1;
        }
    }
    reply::int(out, n);
    Ok(())
}

pub(super) fn rename(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    rename_if(db, a, now, out, false)
}

pub(super) fn renamenx(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    rename_if(db, a, now, out, true)
}

fn rename_if(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>, nx: bool) -> R {
    let (key, to) = (a.get(1), a.get(2));
    let Some(e) = db.get(key, now).cloned() else {
        return err("ERR no such key");
    };
    if nx && db.contains(to, now) {
        reply::int(out, 0);
        return Ok(());
    }
    if key != to {
        db.remove(key);
        db.remove(to);
        db.set(to, e.value, e.expires_at);
        db.emit(n::GENERIC, "rename_from", key);
        db.emit(n::GENERIC, "rename_to", to);
    }
    if nx {
        reply::int(out, 1);
    } else {
        reply::ok(out);
    }
    Ok(())
}

named!(expire_named: expire, pexpire, expireat, pexpireat);

/// Redis 7.0's expireGenericCommand: the options first, then the time
/// (overflow of the unit or of the base is an error), then the key, then
/// the conditions.
fn expire_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in a.iter_from(3) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                let mut m = b"ERR Unsupported option ".to_vec();
                m.extend_from_slice(c_str(opt));
                return Err(Msg(m));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return err("ERR GT and LT options at the same time are not compatible");
    }
    let invalid = || format!("ERR invalid expire time in '{name}' command");
    let mut when = int_arg(a, 2)?;
    if matches!(name, "expire" | "expireat") {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let base = if matches!(name, "expire" | "pexpire") {
        now as i64
    } else {
        0
    };
    if when > i64::MAX - base {
        return Err(invalid().into());
    }
    let when = when + base;
    let Some(current) = db.get(key, now).map(|e| e.expires_at) else {
        reply::int(out, 0);
        return Ok(());
    };
    let current = current.map(|t| t as i64);
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        reply::int(out, 0);
    } else if when <= now as i64 {
        db.remove(key);
        db.emit(n::GENERIC, "del", key);
        reply::int(out, 1);
    } else {
        db.set_expiry(key, Some(when as u64));
        db.emit(n::GENERIC, "expire", key);
        reply::int(out, 1);
    }
    Ok(())
}

pub(super) fn ttl(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::int(
        out,
        ttl_ms(db, a, now).map_or_else(|n| n, |ms| (ms + 500) / 1000),
    );
    Ok(())
}

pub(super) fn pttl(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::int(out, ttl_ms(db, a, now).unwrap_or_else(|n| n));
    Ok(())
}

/// The time to live in ms, or Redis's -2 (no key) / -1 (no expiry).
fn ttl_ms(db: &mut Db, a: &Args<'_>, now: u64) -> Result<i64, i64> {
    expire_time(db, a, now).map(|t| (t as u64).saturating_sub(now) as i64)
}

pub(super) fn persist(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    let had = db.get(key, now).is_some_and(|e| e.expires_at.is_some());
    if had {
        db.set_expiry(key, None);
        db.emit(n::GENERIC, "persist", key);
    }
    reply::int(out, had as i64);
    Ok(())
}

pub(super) fn expiretime(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::int(
        out,
        expire_time(db, a, now).map_or_else(|n| n, |ms| ms / 1000),
    );
    Ok(())
}

pub(super) fn pexpiretime(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    reply::int(out, expire_time(db, a, now).unwrap_or_else(|n| n));
    Ok(())
}

/// The absolute expiry in Unix ms, or Redis's -2 (no key) / -1 (none).
fn expire_time(db: &mut Db, a: &Args<'_>, now: u64) -> Result<i64, i64> {
    match db.get(a.get(1), now) {
        None => Err(-2),
        Some(Entry {
            expires_at: None, ..
        }) => Err(-1),
        Some(Entry {
            expires_at: Some(t),
            ..
        }) => Ok(*t as i64),
    }
}

/// COPY source destination [DB n] [REPLACE] (Redis 7.0's copyCommand:
/// the options, the database, the same-key check, then the keys).
pub(super) fn copy(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (from, to) = (a.get(1), a.get(2));
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        if opt == b"replace" {
            replace = true;
        } else if opt == b"db" && j + 1 < a.len() {
            // getIntFromObjectOrReply, then selectDb: kv has one
            // database, as Redis with `databases 1`.
            let n = int_arg(a, j + 1)?;
            if i32::try_from(n).is_err() {
                return err(
                    "ERR value is out of range, value must between -2147483648 and 2147483647",
                );
            }
            if n != 0 {
                return err("ERR DB index is out of range");
            }
            j += 1;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    if from == to {
        return err("ERR source and destination objects are the same");
    }
    let Some(e) = db.get(from, now).cloned() else {
        reply::int(out, 0);
        return Ok(());
    };
    if db.contains(to, now) {
        if !replace {
            reply::int(out, 0);
            return Ok(());
        }
        db.remove(to);
    }
    db.set(to, e.value, e.expires_at);
    db.emit(n::GENERIC, "copy_to", to);
    reply::int(out, 1);
    Ok(())
}

/// OBJECT ENCODING, REFCOUNT, IDLETIME, FREQ and HELP. kv keeps one
/// representation per type; ENCODING answers the encoding redis-server
/// 7.0 would use for the value with its default thresholds (so clients
/// and tests that branch on it see what Redis would say), REFCOUNT 1,
/// IDLETIME and FREQ from the key's access clock and LFU counter (which
/// of the two Redis tracks depends on the policy, and so does which of
/// the two it refuses; see `evict`). Reading them is no access.
pub(super) fn object(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let sub = a.get(1).to_ascii_lowercase();
    if sub == b"help" && a.len() == 2 {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ];
        reply::array(out, lines.len());
        for l in lines {
            reply::simple(out, l);
        }
        return Ok(());
    }
    let known = matches!(
        sub.as_slice(),
        b"encoding" | b"refcount" | b"idletime" | b"freq"
    );
    if !known || a.len() != 3 {
        return Err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(c_str(a.get(1)))
        )
        .into());
    }
    // Expired keys go as on any access, but this look is not one.
    if !db.contains_untouched(a.get(2), now) {
        reply::nil(out);
        return Ok(());
    }
    let e = db.peek(a.get(2)).expect("checked above");
    let lfu = super::super::evict::policy().is_lfu();
    match sub.as_slice() {
        b"encoding" => reply::bulk(out, encoding(&e.value).as_bytes()),
        b"refcount" => reply::int(out, 1),
        b"idletime" if lfu => {
            return err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        }
        b"idletime" => reply::int(out, i64::from((now as u32).wrapping_sub(e.touched) / 1000)),
        _ if lfu => reply::int(out, i64::from(super::super::access::lfu_counter(e.lfu, now))),
        _ => {
            return err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        }
    }
    Ok(())
}

/// The encoding redis-server 7.0 picks for `v` with its default limits.
fn encoding(v: &Value) -> &'static str {
    let small = |n: usize, longest: usize, max_n: usize| n <= max_n && longest <= 64;
    match v {
        Value::Str(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
        Value::Str(s) if s.len() <= 44 => "embstr",
        Value::Str(_) => "raw",
        Value::List(_) => "quicklist",
        Value::Hash(h) => {
            let longest = h
                .iter()
                .map(|(f, v)| f.len().max(v.len()))
                .max()
                .unwrap_or(0);
            if small(h.len(), longest, 128) {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Value::Set(s) => {
            if s.len() <= 512 && s.iter().all(|m| parse_i64(m).is_some()) {
                "intset"
            } else {
                "hashtable"
            }
        }
        Value::ZSet(z) => {
            let longest = z.scores.keys().map(Vec::len).max().unwrap_or(0);
            if small(z.len(), longest, 128) {
                "listpack"
            } else {
                "skiplist"
            }
        }
    }
}

/// DEBUG OBJECT key: Redis's line about a value. `at:` is where kv holds
/// the value (it stays put while the value is changed in place), the
/// encoding is OBJECT ENCODING's, the serialized length the value's bytes.
pub(super) fn debug_object(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let Some(e) = db.get(a.get(2), now) else {
        return err("ERR no such key");
    };
    let bytes: usize = match &e.value {
        Value::Str(s) => s.len(),
        Value::List(l) => l.iter().map(Vec::len).sum(),
        Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len()).sum(),
        Value::Set(s) => s.iter().map(Vec::len).sum(),
        Value::ZSet(z) => z.scores.keys().map(|m| m.len() + 8).sum(),
    };
    let mut line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{bytes} lru:0 lru_seconds_idle:0",
        &e.value,
        encoding(&e.value)
    );
    if let Value::List(l) = &e.value {
        line += &format!(
            " ql_nodes:1 ql_avg_node:{}.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:{bytes}",
            l.len()
        );
    }
    reply::simple(out, &line);
    Ok(())
}

/// MEMORY USAGE key [SAMPLES n]: an estimate of the bytes kv holds for the
/// key (its name, its value's bytes, and a per-element overhead like
/// Redis's); nil for a missing key.
pub(super) fn memory_usage(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    match a.len() {
        3 => {}
        5 if a.get(3).eq_ignore_ascii_case(b"samples") => {
            if parse_i64(a.get(4)).is_none() {
                return err(NOT_INT);
            }
        }
        _ => return err(SYNTAX),
    }
    let key = a.get(2);
    let Some(e) = db.get(key, now) else {
        reply::nil(out);
        return Ok(());
    };
    const ENTRY: usize = 16;
    let value: usize = match &e.value {
        Value::Str(s) => s.len(),
        Value::List(l) => l.iter().map(|e| e.len() + ENTRY).sum(),
        Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 2 * ENTRY).sum(),
        Value::Set(s) => s.iter().map(|m| m.len() + ENTRY).sum(),
        Value::ZSet(z) => z.scores.keys().map(|m| 2 * (m.len() + ENTRY) + 8).sum(),
    };
    reply::int(out, (56 + key.len() + value) as i64);
    Ok(())
}

/// SORT and SORT_RO, as Redis 7.0's sortCommandGeneric: the elements of a
/// list, set or sorted set, by their numeric value (ties by bytes) or
/// ALPHA (bytes), or BY a pattern's keys (`*` replaced by the element,
/// `->field` for a hash field; no `*`: not sorted), DESC, LIMIT, GET
/// patterns (`#`: the element), STORE into a list. Pattern keys are
/// looked up on the sorted key's shard only: give them the key's hash tag
/// (Redis Cluster has the same rule).
fn sort_named(name: &str, db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
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

named!(sort_named: sort, sort_ro);

/// An element's score as SORT reads it: C's `strtod` over the whole
/// string (so "" is 0 and leading spaces pass), refusing NaN and what is
/// out of a double's range (`ERANGE`).
fn sort_score(v: &[u8]) -> Option<f64> {
    let s = super::super::float::parse_range_bound(v).filter(|s| !s.is_nan())?;
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
fn lookup_pattern(db: &mut Db, pattern: &[u8], elem: &[u8], now: u64) -> Option<Vec<u8>> {
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
