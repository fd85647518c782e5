//! The commands on one [`Db`], without IO: arguments in, RESP out. A
//! multi-shard command runs here too, on a [`Db`] holding copies of its
//! keys (see the module docs of `kv`).

use std::collections::VecDeque;

use super::db::{glob_match, Db, Entry, Fx, Score, Value, ZSet};
use super::resp::reply;

mod hashes;
mod lists;
mod sets;
mod strings;
mod table;
mod zsets;

pub use table::*;

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
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(db, spec.name, a, now, out)
    }));
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

type R = Result<(), Msg>;

/// An error reply's text: bytes, because Redis quotes arguments in some
/// (as C strings: up to their first NUL, any other byte as it is).
#[derive(Debug)]
pub struct Msg(pub Vec<u8>);

impl From<String> for Msg {
    fn from(s: String) -> Self {
        Msg(s.into_bytes())
    }
}

impl From<Msg> for Outcome {
    fn from(m: Msg) -> Self {
        Outcome::Failed(m)
    }
}

/// An argument as C's `%s` prints it: up to its first NUL.
fn c_str(a: &[u8]) -> &[u8] {
    &a[..memchr::memchr(0, a).unwrap_or(a.len())]
}

/// What a group of commands (lists, hashes…) made of a name.
enum Outcome {
    /// Not one of its commands.
    NotMine,
    /// Its command failed with this reply.
    Failed(Msg),
}

impl From<String> for Outcome {
    fn from(e: String) -> Self {
        Outcome::Failed(Msg::from(e))
    }
}

/// A group's result.
type Group = Result<(), Outcome>;

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
    match spec.name {
        "flushdb" | "flushall" => match a.len() {
            1 => Ok(()),
            2 if a.get(1).eq_ignore_ascii_case(b"async")
                || a.get(1).eq_ignore_ascii_case(b"sync") =>
            {
                Ok(())
            }
            _ => err(SYNTAX),
        },
        "scan" => {
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
        _ => Ok(()),
    }
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

fn run(db: &mut Db, name: &str, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = if a.len() > 1 { a.get(1) } else { b"" };
    match name {
        // The hottest first: arms of one length are tried in order.
        "get" => {
            let v = get_str(db, key, now)?;
            reply::opt_bulk(out, v.map(|v| v.as_slice()));
        }
        "set" => return strings::set(db, a, now, out),
        "select" => return select(a, out),
        // Stateless commands a transaction may hold.
        "ping" if a.len() == 1 => reply::simple(out, "PONG"),
        "ping" if a.len() > 2 => return Err(wrong_arity("ping").into()),
        "ping" => reply::bulk(out, a.get(1)),
        "echo" => reply::bulk(out, a.get(1)),
        "type" => {
            let t = db.get(key, now).map_or("none", |e| e.value.type_name());
            reply::simple(out, t);
        }
        "exists" => {
            let n = a.iter_from(1).filter(|k| db.contains(k, now)).count();
            reply::int(out, n as i64);
        }
        "del" | "unlink" => {
            let mut n = 0;
            for k in a.iter_from(1) {
                if db.contains(k, now) {
                    db.remove(k);
                    n += 1;
                }
            }
            reply::int(out, n);
        }
        "rename" | "renamenx" => {
            let to = a.get(2);
            let Some(e) = db.get(key, now).cloned() else {
                return err("ERR no such key");
            };
            if name == "renamenx" && db.contains(to, now) {
                reply::int(out, 0);
                return Ok(());
            }
            if key != to {
                db.remove(key);
                db.set(to, e.value, e.expires_at);
            }
            if name == "renamenx" {
                reply::int(out, 1);
            } else {
                reply::ok(out);
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            // Redis 7.0's expireGenericCommand: the options first, then
            // the time (overflow of the unit or of the base is an error),
            // then the key, then the conditions.
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
                reply::int(out, 1);
            } else {
                db.set_expiry(key, Some(when as u64));
                reply::int(out, 1);
            }
        }
        "ttl" | "pttl" => {
            let v = match db.get(key, now) {
                None => -2,
                Some(Entry {
                    expires_at: None, ..
                }) => -1,
                Some(Entry {
                    expires_at: Some(t),
                    ..
                }) => {
                    let ms = t.saturating_sub(now) as i64;
                    if name == "ttl" {
                        (ms + 500) / 1000
                    } else {
                        ms
                    }
                }
            };
            reply::int(out, v);
        }
        "persist" => {
            let had = db.get(key, now).is_some_and(|e| e.expires_at.is_some());
            if had {
                db.set_expiry(key, None);
            }
            reply::int(out, had as i64);
        }
        other => {
            for group in [strings::run, lists::run, hashes::run, sets::run, zsets::run] {
                match group(db, other, a, now, out) {
                    Err(Outcome::NotMine) => continue,
                    Err(Outcome::Failed(e)) => return Err(e),
                    Ok(()) => return Ok(()),
                }
            }
            return Err(format!("ERR unknown command '{other}'").into());
        }
    }
    Ok(())
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
mod tests {
    use super::*;

    /// Runs `line` (space-separated) on `db`, returns the reply.
    fn run_line(db: &mut Db, line: &str, now: u64) -> String {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for w in line.split(' ') {
            ranges.push(buf.len()..buf.len() + w.len());
            buf.extend_from_slice(w.as_bytes());
        }
        let a = Args {
            buf: &buf,
            ranges: &ranges,
        };
        let spec = lookup(a.get(0)).unwrap();
        assert!(arity_ok(spec, a.len()), "{line}");
        let mut out = Vec::new();
        exec(db, spec, &a, now, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_and_expiry_answer_as_redis_does() {
        let mut db = Db::default();
        assert_eq!(run_line(&mut db, "SET k v EX 10", 1000), "+OK\r\n");
        assert_eq!(run_line(&mut db, "TTL k", 1000), ":10\r\n");
        assert_eq!(run_line(&mut db, "PTTL k", 2000), ":9000\r\n");
        assert_eq!(run_line(&mut db, "GET k", 11_000), "$-1\r\n", "expired");
        assert_eq!(run_line(&mut db, "SET k 5 NX", 0), "+OK\r\n");
        assert_eq!(run_line(&mut db, "SET k 6 NX GET", 0), "$1\r\n5\r\n");
        assert_eq!(run_line(&mut db, "INCRBY k 10", 0), ":15\r\n");
        assert_eq!(run_line(&mut db, "INCRBYFLOAT k 0.5", 0), "$4\r\n15.5\r\n");
        assert_eq!(
            run_line(&mut db, "INCR k", 0),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run_line(&mut db, "SET k v EX 0", 0),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(
            run_line(&mut db, "SET k v NX XX", 0),
            "-ERR syntax error\r\n"
        );
        assert_eq!(run_line(&mut db, "APPEND k xy", 0), ":6\r\n");
        assert_eq!(run_line(&mut db, "GETRANGE k -2 -1", 0), "$2\r\nxy\r\n");
        assert_eq!(run_line(&mut db, "SETRANGE s 3 ab", 0), ":5\r\n");
        assert_eq!(run_line(&mut db, "GET s", 0), "$5\r\n\0\0\0ab\r\n");
        assert_eq!(
            run_line(&mut db, "LPUSH s x", 0),
            format!("-{WRONGTYPE}\r\n")
        );
    }

    #[test]
    fn lists_hashes_sets_and_sorted_sets() {
        let mut db = Db::default();
        assert_eq!(run_line(&mut db, "RPUSH l a b c d", 0), ":4\r\n");
        assert_eq!(
            run_line(&mut db, "LRANGE l 1 -2", 0),
            "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            run_line(&mut db, "LPOP l 2", 0),
            "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        assert_eq!(run_line(&mut db, "LTRIM l 5 10", 0), "+OK\r\n");
        assert_eq!(
            run_line(&mut db, "EXISTS l", 0),
            ":0\r\n",
            "emptied list deleted"
        );
        assert_eq!(run_line(&mut db, "HSET h f 1 g 2", 0), ":2\r\n");
        assert_eq!(run_line(&mut db, "HINCRBY h f 5", 0), ":6\r\n");
        assert_eq!(
            run_line(&mut db, "HMGET h f x", 0),
            "*2\r\n$1\r\n6\r\n$-1\r\n"
        );
        assert_eq!(run_line(&mut db, "SADD s a b c", 0), ":3\r\n");
        assert_eq!(run_line(&mut db, "SADD t b c d", 0), ":3\r\n");
        assert_eq!(run_line(&mut db, "SISMEMBER s a", 0), ":1\r\n");
        assert_eq!(run_line(&mut db, "ZADD z 1 a 2 b 3 c", 0), ":3\r\n");
        assert_eq!(
            run_line(&mut db, "ZRANGE z 0 -1 WITHSCORES", 0),
            "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            run_line(&mut db, "ZRANGEBYSCORE z (1 3", 0),
            "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(run_line(&mut db, "ZINCRBY z 0.5 a", 0), "$3\r\n1.5\r\n");
        assert_eq!(run_line(&mut db, "ZRANK z c", 0), ":2\r\n");
        assert_eq!(
            run_line(&mut db, "ZPOPMAX z", 0),
            "*2\r\n$1\r\nc\r\n$1\r\n3\r\n"
        );
    }

    #[test]
    fn key_positions_follow_redis_key_specs() {
        let pos = |name: &str, n: usize| {
            key_positions(lookup(name.as_bytes()).unwrap(), n).collect::<Vec<_>>()
        };
        assert_eq!(pos("get", 2), vec![1]);
        assert_eq!(pos("mset", 5), vec![1, 3]);
        assert_eq!(pos("mget", 4), vec![1, 2, 3]);
        assert_eq!(pos("rename", 3), vec![1, 2]);
        assert_eq!(pos("ping", 1), Vec::<usize>::new());
    }
}
