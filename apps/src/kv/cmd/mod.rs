//! The commands on one [`Db`], without IO: arguments in, RESP out. A
//! multi-shard command runs here too, on a [`Db`] holding copies of its
//! keys (see the module docs of `kv`).

use std::collections::VecDeque;

use super::db::{glob_match, Db, Entry, Fx, Score, Value, ZSet};
use super::notify as n;
use super::resp::reply;

/// Handlers of commands that share one body, which tells them apart by
/// the command's name: `named!(body: get, set)` makes `get` and `set`
/// call `body("get", …)` and `body("set", …)`.
macro_rules! named {
    ($body:ident: $($name:ident),+) => {
        $(
            pub(super) fn $name(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
                $body(stringify!($name), db, a, now, out)
            }
        )+
    };
}

mod config;
mod dump;
mod hashes;
mod keys;
mod lists;
mod sets;
mod strings;
mod table;
mod zsets;

pub use config::command as config_command;
pub use lists::lmpop_keys;
pub use table::*;
pub use zsets::zmpop_keys;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const SYNTAX: &str = "ERR syntax error";

/// An integer argument as Redis's `string2ll` reads it.
fn parse_i64(s: &[u8]) -> Option<i64> {
    super::resp::string2ll(s)
}

fn parse_f64(s: &[u8]) -> Option<f64> {
    super::float::parse(s)
}

/// A float as Redis 7.0 prints it in a reply (`%.17g`, `inf`/`-inf`).
pub fn fmt_f64(v: f64) -> String {
    super::float::format(v)
}

/// Runs one keyed command on `db` (every key it names is here), writing its
/// reply to `out`. Arity was checked by the caller.
///
/// A command that panics (a bug) answers with an error instead of leaving
/// its client without a reply: the connection, and every connection whose
/// commands share its batch, are answered.
pub fn exec(db: &mut Db, spec: &Spec, a: &Args<'_>, now: u64, out: &mut Vec<u8>) {
    let mark = out.len();
    db.clock = now;
    let Some(handler) = spec.exec else {
        let mut m = b"ERR kv does not run '".to_vec();
        m.extend_from_slice(spec.name.as_bytes());
        m.extend_from_slice(b"' on a keyspace");
        return reply::error_bytes(out, &m);
    };
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(db, a, now, out)));
    match ran {
        Ok(Ok(())) => {}
        Ok(Err(e)) => reply::error_bytes(out, &e.0),
        Err(_) => {
            tracing::error!(
                command = spec.name,
                "kv command panicked; answered with an error"
            );
            out.truncate(mark);
            reply::error(
                out,
                "ERR internal error running this command (see the server log)",
            );
        }
    }
}

/// A handler's result: its error is the error reply.
pub type R = Result<(), Msg>;

/// An error reply's text: bytes, because Redis quotes arguments in some
/// (as C strings: up to their first NUL, any other byte as it is).
#[derive(Debug)]
pub struct Msg(pub Vec<u8>);

impl From<&str> for Msg {
    fn from(s: &str) -> Self {
        Msg(s.as_bytes().to_vec())
    }
}

impl From<String> for Msg {
    fn from(s: String) -> Self {
        Msg(s.into_bytes())
    }
}

/// An argument as C's `%s` prints it: up to its first NUL.
fn c_str(a: &[u8]) -> &[u8] {
    &a[..memchr::memchr(0, a).unwrap_or(a.len())]
}

fn err<T, E: From<String>>(msg: &str) -> Result<T, E> {
    Err(E::from(msg.to_string()))
}

/// The string at `key`, `None` if absent, an error if another type.
fn get_str<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d mut Vec<u8>>, String> {
    match db.get(key, now) {
        None => Ok(None),
        Some(Entry {
            value: Value::Str(s),
            ..
        }) => Ok(Some(s)),
        Some(_) => err(WRONGTYPE),
    }
}

macro_rules! typed {
    ($fn:ident, $variant:ident, $ty:ty, $new:expr) => {
        /// The value at `key` of this type; created empty with `create`.
        fn $fn<'d>(
            db: &'d mut Db,
            key: &[u8],
            now: u64,
            create: bool,
        ) -> Result<Option<&'d mut $ty>, String> {
            if create && !db.contains(key, now) {
                db.set(key, Value::$variant($new), None);
            }
            match db.get(key, now) {
                None => Ok(None),
                Some(Entry {
                    value: Value::$variant(v),
                    ..
                }) => Ok(Some(v)),
                Some(_) => err(WRONGTYPE),
            }
        }
    };
}

typed!(get_list, List, VecDeque<Vec<u8>>, VecDeque::new());
typed!(
    get_hash,
    Hash,
    std::collections::HashMap<Vec<u8>, Vec<u8>, Fx>,
    Default::default()
);
typed!(
    get_set,
    Set,
    std::collections::HashSet<Vec<u8>, Fx>,
    Default::default()
);
typed!(get_zset, ZSet, ZSet, ZSet::default());

fn int_arg(a: &Args<'_>, i: usize) -> Result<i64, String> {
    parse_i64(a.get(i)).ok_or_else(|| NOT_INT.to_string())
}

/// The arguments of an all-shard command, checked before any shard runs
/// it (and, inside MULTI, at EXEC), with Redis's errors.
pub fn check_all_shards(spec: &Spec, a: &Args<'_>) -> Result<(), Msg> {
    match spec.kind {
        Kind::AllShards { check, .. } => check(a),
        _ => Ok(()),
    }
}

/// FLUSHDB's and FLUSHALL's arguments: nothing, ASYNC or SYNC.
fn check_flush(a: &Args<'_>) -> Result<(), Msg> {
    match a.len() {
        1 => Ok(()),
        2 if a.get(1).eq_ignore_ascii_case(b"async") || a.get(1).eq_ignore_ascii_case(b"sync") => {
            Ok(())
        }
        _ => err(SYNTAX),
    }
}

/// BGREWRITEAOF: only where kv persists.
fn check_rewrite(_: &Args<'_>) -> Result<(), Msg> {
    // aof reports `appendonly` when kv first serves, and persists from
    // then on exactly when it reported "yes".
    if super::config::own("appendonly").as_deref() == Some("yes") {
        Ok(())
    } else {
        err("ERR kv's append-only log is off (appendonly = false in [listener.kv])")
    }
}

/// SCAN's arguments, as parseScanCursorOrReply and scanGenericCommand
/// check them.
fn check_scan(a: &Args<'_>) -> Result<(), Msg> {
    // parseScanCursorOrReply: an unsigned decimal, nothing else.
    let cursor = a.get(1);
    if cursor.first().is_none_or(|b| b.is_ascii_whitespace())
        || std::str::from_utf8(cursor)
            .ok()
            .and_then(|c| c.trim_start_matches('+').parse::<u64>().ok())
            .is_none()
    {
        return err("ERR invalid cursor");
    }
    let mut i = 2;
    while i < a.len() {
        let opt = a.get(i).to_ascii_lowercase();
        let pair = a.len() - i >= 2;
        match opt.as_slice() {
            b"count" if pair => {
                if int_arg(a, i + 1)? < 1 {
                    return err(SYNTAX);
                }
            }
            b"match" | b"type" if pair => {}
            _ => return err(SYNTAX),
        }
        i += 2;
    }
    Ok(())
}

/// The end of a *STORE command (SINTERSTORE, ZUNIONSTORE, ZRANGESTORE,
/// SORT … STORE…): `v`, of `len` members, replaces `dst` (its expiry too),
/// or an empty result deletes it; the reply is `len`.
pub fn store_result(
    db: &mut Db,
    dst: &[u8],
    v: Value,
    len: usize,
    (class, event): (u32, &'static str),
    out: &mut Vec<u8>,
) -> R {
    if len == 0 {
        if db.remove(dst).is_some() {
            db.emit(n::GENERIC, "del", dst);
        }
    } else {
        db.set(dst, v, None);
        db.emit(class, event, dst);
    }
    reply::int(out, len as i64);
    Ok(())
}

/// LMPOP and ZMPOP: pops with `pop` from the first of `m`'s keys holding
/// something (an emptied key is deleted) and answers `[key, items]`, each
/// item written by `item`; nil when every key is empty or missing.
pub fn mpop_first<T>(
    db: &mut Db,
    m: &Mpop<'_>,
    mut pop: impl FnMut(&mut Db, &[u8]) -> Result<Option<Vec<T>>, Msg>,
    item: impl Fn(&mut Vec<u8>, &T),
    out: &mut Vec<u8>,
) -> R {
    for &key in &m.keys {
        let Some(items) = pop(db, key)? else {
            continue;
        };
        db.drop_if_empty(key);
        reply::array(out, 2);
        reply::bulk(out, key);
        reply::array(out, items.len());
        for i in &items {
            item(out, i);
        }
        return Ok(());
    }
    reply::nil_array(out);
    Ok(())
}

/// LMPOP's, ZMPOP's and their blocking kin's arguments after the count of
/// keys at `idx`: the keys, which end (`LEFT`/`MIN`: true), how many.
pub struct Mpop<'a> {
    pub keys: Vec<&'a [u8]>,
    pub first_end: bool,
    pub count: usize,
}

/// Reads an MPOP's arguments as Redis 7.0's lmpopGenericCommand and
/// zmpopGenericCommand do, with their errors.
pub fn mpop_args<'a>(a: &Args<'a>, idx: usize, ends: [&[u8]; 2]) -> Result<Mpop<'a>, String> {
    let numkeys = parse_i64(a.get(idx))
        .filter(|&n| n >= 1)
        .ok_or("ERR numkeys should be greater than 0")? as usize;
    let end_at = idx.saturating_add(numkeys).saturating_add(1);
    if end_at >= a.len() {
        return Err(SYNTAX.into());
    }
    let end = a.get(end_at).to_ascii_lowercase();
    let first_end = if end == ends[0] {
        true
    } else if end == ends[1] {
        false
    } else {
        return Err(SYNTAX.into());
    };
    let mut count = None;
    let mut j = end_at + 1;
    while j < a.len() {
        if count.is_none() && a.get(j).eq_ignore_ascii_case(b"count") && j + 1 < a.len() {
            j += 1;
            count = Some(
                parse_i64(a.get(j))
                    .filter(|&n| n >= 1)
                    .ok_or("ERR count should be greater than 0")? as usize,
            );
        } else {
            return Err(SYNTAX.into());
        }
        j += 1;
    }
    Ok(Mpop {
        keys: (idx + 1..end_at).map(|i| a.get(i)).collect(),
        first_end,
        count: count.unwrap_or(1),
    })
}

pub(crate) use super::access::random;

/// A RANDMEMBER count as Redis reads it (-LONG_MAX to LONG_MAX; the error
/// text is Redis's, "value must between" included).
fn rand_count(a: &Args<'_>, i: usize) -> Result<i64, String> {
    match parse_i64(a.get(i)) {
        None => Err(NOT_INT.to_string()),
        Some(i64::MIN) => Err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
                .to_string(),
        ),
        Some(n) => Ok(n),
    }
}

/// HRANDFIELD's and ZRANDMEMBER's `[count [WITH…]]`, as Redis reads them:
/// the count, and whether the word `with` (WITHVALUES, WITHSCORES) came.
fn rand_args(a: &Args<'_>, with: &[u8]) -> Result<(Option<i64>, bool), String> {
    if a.len() < 3 {
        return Ok((None, false));
    }
    let n = rand_count(a, 2)?;
    if a.len() > 4 || (a.len() == 4 && !a.get(3).eq_ignore_ascii_case(with)) {
        return err(SYNTAX);
    }
    if a.len() == 4 && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
        return err("ERR value is out of range");
    }
    Ok((Some(n), a.len() == 4))
}

/// Which of `len` elements a RANDMEMBER of `count` returns: distinct ones
/// (up to `len`, in a random order) for a positive count, `-count` drawn
/// with repetition for a negative one. Linear in `len` plus the count
/// (kv's sets and maps have no random access).
fn rand_picks(len: usize, count: i64) -> Vec<usize> {
    if len == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        return (0..n).map(|_| (random() % len as u64) as usize).collect();
    }
    let mut all: Vec<usize> = (0..len).collect();
    let take = (count as u64).min(len as u64) as usize;
    // A partial Fisher-Yates shuffle: the first `take` are the draw.
    for i in 0..take {
        let j = i + (random() % (len - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(take);
    all
}

/// SELECT: kv has one database, as Redis with `databases 1`.
pub fn select(a: &Args<'_>, out: &mut Vec<u8>) -> R {
    match parse_i64(a.get(1)) {
        None => err(NOT_INT),
        Some(n) if i32::try_from(n).is_err() => err("ERR value is out of range"),
        Some(0) => {
            reply::ok(out);
            Ok(())
        }
        Some(_) => err("ERR DB index is out of range"),
    }
}

/// A count as Redis's getPositiveLongFromObjectOrReply reads it: one
/// error for "not a number" and "negative".
fn positive_arg(a: &Args<'_>, i: usize) -> Result<usize, String> {
    match parse_i64(a.get(i)) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err("ERR value is out of range, must be positive".to_string()),
    }
}

/// Redis's range normalisation: negative from the end, clamped.
fn norm_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if stop < 0 { len + stop } else { stop };
    s = s.max(0);
    e = e.min(len - 1);
    (s <= e && s < len).then_some((s as usize, e as usize))
}

/// KEYS's part: the keys of `db` matching its pattern.
fn keys_matching(db: &Db, a: &Args<'_>, now: u64) -> Vec<Vec<u8>> {
    keys(db, a.get(1), now)
}

/// SCAN's part: the keys of `db` its MATCH and TYPE select.
fn scan_matching(db: &Db, a: &Args<'_>, now: u64) -> Vec<Vec<u8>> {
    let (pattern, type_name) = scan_filters(a);
    scan(db, pattern, type_name, now)
}

/// SCAN's MATCH and TYPE.
fn scan_filters<'a>(a: &Args<'a>) -> (Option<&'a [u8]>, Option<&'a [u8]>) {
    let (mut pattern, mut type_name) = (None, None);
    let mut i = 2;
    while i + 1 < a.len() {
        match a.get(i).to_ascii_lowercase().as_slice() {
            b"match" => pattern = Some(a.get(i + 1)),
            b"type" => type_name = Some(a.get(i + 1)),
            _ => {}
        }
        i += 2;
    }
    (pattern, type_name)
}

/// `KEYS pattern` on one shard: the matching keys.
pub fn keys(db: &Db, pattern: &[u8], now: u64) -> Vec<Vec<u8>> {
    db.keys(now)
        .filter(|(k, _)| glob_match(pattern, k))
        .map(|(k, _)| k.clone())
        .collect()
}

/// `SCAN`'s filters on one shard: the matching keys.
pub fn scan(db: &Db, pattern: Option<&[u8]>, type_name: Option<&[u8]>, now: u64) -> Vec<Vec<u8>> {
    db.keys(now)
        .filter(|(k, _)| pattern.is_none_or(|p| glob_match(p, k)))
        .filter(|(_, e)| {
            type_name.is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests;
