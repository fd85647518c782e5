//! The commands on one [`Db`], without IO: arguments in, RESP out. A
//! multi-shard command runs here too, on a [`Db`] holding copies of its
//! keys (see the module docs of `kv`).

use std::collections::VecDeque;
use std::ops::Range;

use super::db::{glob_match, Db, Entry, Fx, Score, Value, ZSet};
use super::resp::reply;

/// A request's arguments: ranges of a buffer.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    pub buf: &'a [u8],
    pub ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.buf[self.ranges[i].clone()]
    }

    /// Arguments from `from` on.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        (from..self.len()).map(move |i| self.get(i))
    }
}

/// A request copied out of the read buffer, to travel to another shard.
#[derive(Debug, Clone)]
pub struct OwnedArgs {
    pub buf: Vec<u8>,
    pub ranges: Vec<Range<usize>>,
}

impl OwnedArgs {
    pub fn from_args(a: &Args<'_>) -> Self {
        let mut buf = Vec::new();
        let mut ranges = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            let s = a.get(i);
            ranges.push(buf.len()..buf.len() + s.len());
            buf.extend_from_slice(s);
        }
        Self { buf, ranges }
    }

    pub fn args(&self) -> Args<'_> {
        Args {
            buf: &self.buf,
            ranges: &self.ranges,
        }
    }
}

/// Which arguments are keys: Redis's (first, last, step); last < 0 counts
/// from the end.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub first: usize,
    pub last: isize,
    pub step: usize,
}

/// Where a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// On the connection's shard, touching no key (PING, ECHO…).
    Connection,
    /// On the shards owning its keys.
    Keyed,
    /// On every shard (DBSIZE, KEYS, FLUSHALL…).
    AllShards,
    /// MULTI, EXEC, DISCARD: the connection's transaction state.
    Transaction,
}

/// A command's name, arity (Redis's convention: n exact, -n at least n)
/// and key positions.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub arity: i32,
    pub kind: Kind,
    pub keys: KeySpec,
}

const fn spec(
    name: &'static str,
    arity: i32,
    kind: Kind,
    first: usize,
    last: isize,
    step: usize,
) -> Spec {
    Spec {
        name,
        arity,
        kind,
        keys: KeySpec { first, last, step },
    }
}

use Kind::{AllShards, Connection, Keyed, Transaction};

/// Every command kv knows, as Redis 7 declares it.
pub const COMMANDS: &[Spec] = &[
    spec("ping", -1, Connection, 0, 0, 0),
    spec("hello", -1, Connection, 0, 0, 0),
    spec("echo", 2, Connection, 0, 0, 0),
    spec("select", 2, Connection, 0, 0, 0),
    spec("quit", -1, Connection, 0, 0, 0),
    spec("client", -2, Connection, 0, 0, 0),
    spec("info", -1, AllShards, 0, 0, 0),
    spec("command", -1, Connection, 0, 0, 0),
    spec("config", -2, Connection, 0, 0, 0),
    spec("dbsize", 1, AllShards, 0, 0, 0),
    spec("flushdb", -1, AllShards, 0, 0, 0),
    spec("flushall", -1, AllShards, 0, 0, 0),
    spec("keys", 2, AllShards, 0, 0, 0),
    spec("scan", -2, AllShards, 0, 0, 0),
    spec("multi", 1, Transaction, 0, 0, 0),
    spec("exec", 1, Transaction, 0, 0, 0),
    spec("discard", 1, Transaction, 0, 0, 0),
    spec("type", 2, Keyed, 1, 1, 1),
    spec("exists", -2, Keyed, 1, -1, 1),
    spec("del", -2, Keyed, 1, -1, 1),
    spec("unlink", -2, Keyed, 1, -1, 1),
    spec("rename", 3, Keyed, 1, 2, 1),
    spec("renamenx", 3, Keyed, 1, 2, 1),
    spec("set", -3, Keyed, 1, 1, 1),
    spec("get", 2, Keyed, 1, 1, 1),
    spec("getset", 3, Keyed, 1, 1, 1),
    spec("getdel", 2, Keyed, 1, 1, 1),
    spec("setnx", 3, Keyed, 1, 1, 1),
    spec("setex", 4, Keyed, 1, 1, 1),
    spec("psetex", 4, Keyed, 1, 1, 1),
    spec("mset", -3, Keyed, 1, -1, 2),
    spec("msetnx", -3, Keyed, 1, -1, 2),
    spec("mget", -2, Keyed, 1, -1, 1),
    spec("incr", 2, Keyed, 1, 1, 1),
    spec("decr", 2, Keyed, 1, 1, 1),
    spec("incrby", 3, Keyed, 1, 1, 1),
    spec("decrby", 3, Keyed, 1, 1, 1),
    spec("incrbyfloat", 3, Keyed, 1, 1, 1),
    spec("append", 3, Keyed, 1, 1, 1),
    spec("strlen", 2, Keyed, 1, 1, 1),
    spec("getrange", 4, Keyed, 1, 1, 1),
    spec("setrange", 4, Keyed, 1, 1, 1),
    spec("expire", -3, Keyed, 1, 1, 1),
    spec("pexpire", -3, Keyed, 1, 1, 1),
    spec("expireat", -3, Keyed, 1, 1, 1),
    spec("pexpireat", -3, Keyed, 1, 1, 1),
    spec("ttl", 2, Keyed, 1, 1, 1),
    spec("pttl", 2, Keyed, 1, 1, 1),
    spec("persist", 2, Keyed, 1, 1, 1),
    spec("lpush", -3, Keyed, 1, 1, 1),
    spec("rpush", -3, Keyed, 1, 1, 1),
    spec("lpop", -2, Keyed, 1, 1, 1),
    spec("rpop", -2, Keyed, 1, 1, 1),
    spec("llen", 2, Keyed, 1, 1, 1),
    spec("lrange", 4, Keyed, 1, 1, 1),
    spec("lindex", 3, Keyed, 1, 1, 1),
    spec("lset", 4, Keyed, 1, 1, 1),
    spec("lrem", 4, Keyed, 1, 1, 1),
    spec("ltrim", 4, Keyed, 1, 1, 1),
    spec("hset", -4, Keyed, 1, 1, 1),
    spec("hmset", -4, Keyed, 1, 1, 1),
    spec("hget", 3, Keyed, 1, 1, 1),
    spec("hmget", -3, Keyed, 1, 1, 1),
    spec("hdel", -3, Keyed, 1, 1, 1),
    spec("hlen", 2, Keyed, 1, 1, 1),
    spec("hgetall", 2, Keyed, 1, 1, 1),
    spec("hexists", 3, Keyed, 1, 1, 1),
    spec("hincrby", 4, Keyed, 1, 1, 1),
    spec("hkeys", 2, Keyed, 1, 1, 1),
    spec("hvals", 2, Keyed, 1, 1, 1),
    spec("sadd", -3, Keyed, 1, 1, 1),
    spec("srem", -3, Keyed, 1, 1, 1),
    spec("smembers", 2, Keyed, 1, 1, 1),
    spec("sismember", 3, Keyed, 1, 1, 1),
    spec("scard", 2, Keyed, 1, 1, 1),
    spec("spop", -2, Keyed, 1, 1, 1),
    spec("sinter", -2, Keyed, 1, -1, 1),
    spec("sunion", -2, Keyed, 1, -1, 1),
    spec("sdiff", -2, Keyed, 1, -1, 1),
    spec("zadd", -4, Keyed, 1, 1, 1),
    spec("zscore", 3, Keyed, 1, 1, 1),
    spec("zincrby", 4, Keyed, 1, 1, 1),
    spec("zcard", 2, Keyed, 1, 1, 1),
    spec("zrange", -4, Keyed, 1, 1, 1),
    spec("zrangebyscore", -4, Keyed, 1, 1, 1),
    spec("zrem", -3, Keyed, 1, 1, 1),
    spec("zrank", 3, Keyed, 1, 1, 1),
    spec("zpopmin", -2, Keyed, 1, 1, 1),
    spec("zpopmax", -2, Keyed, 1, 1, 1),
];

/// The spec of command `name` (any case): one hash lookup.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<&'static [u8], &'static Spec, Fx>> =
        std::sync::OnceLock::new();
    if name.len() > 16 {
        return None;
    }
    let mut lower = [0u8; 16];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let table = TABLE.get_or_init(|| COMMANDS.iter().map(|s| (s.name.as_bytes(), s)).collect());
    table.get(&lower[..name.len()]).copied()
}

/// The error Redis gives for an unknown command.
pub fn unknown_command(args: &Args<'_>) -> String {
    let mut msg = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(&args.get(0)[..args.get(0).len().min(128)])
    );
    for a in args.iter_from(1) {
        msg.push_str(&format!(
            "'{}' ",
            String::from_utf8_lossy(&a[..a.len().min(128)])
        ));
    }
    msg
}

/// Whether `n` arguments fit the arity.
pub fn arity_ok(spec: &Spec, n: usize) -> bool {
    if spec.arity >= 0 {
        n == spec.arity as usize
    } else {
        n >= (-spec.arity) as usize
    }
}

/// The error for a wrong number of arguments.
pub fn arity_error(spec: &Spec) -> String {
    format!("ERR wrong number of arguments for '{}' command", spec.name)
}

/// The key positions of a request.
pub fn key_positions(spec: &Spec, n: usize) -> impl Iterator<Item = usize> {
    let k = spec.keys;
    let last = if k.last < 0 {
        n as isize + k.last
    } else {
        k.last
    };
    let (first, step) = (k.first, k.step.max(1));
    let end = if k.first == 0 {
        0
    } else {
        (last + 1).max(0) as usize
    };
    (first..end.min(n)).step_by(step)
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const SYNTAX: &str = "ERR syntax error";

fn parse_i64(s: &[u8]) -> Option<i64> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn parse_f64(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    let v = match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => t.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// A float as Redis prints it: shortest round-trip form, `inf`/`-inf`.
pub fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e17 {
        return format!("{}", v as i64);
    }
    format!("{v}")
}

/// Runs one keyed command on `db` (every key it names is here), writing its
/// reply to `out`. Arity was checked by the caller.
pub fn exec(db: &mut Db, spec: &Spec, a: &Args<'_>, now: u64, out: &mut Vec<u8>) {
    if let Err(e) = run(db, spec.name, a, now, out) {
        reply::error(out, &e);
    }
}

type R = Result<(), String>;

fn err<T>(msg: &str) -> Result<T, String> {
    Err(msg.to_string())
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
        "set" => return set(db, a, now, out),
        // Stateless commands a transaction may hold.
        "ping" if a.len() == 1 => reply::simple(out, "PONG"),
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
        "getset" => {
            let old = get_str(db, key, now)?.map(|v| v.clone());
            db.set(key, Value::Str(a.get(2).to_vec()), None);
            reply::opt_bulk(out, old.as_deref());
        }
        "getdel" => {
            let old = get_str(db, key, now)?.map(|v| v.clone());
            if old.is_some() {
                db.remove(key);
            }
            reply::opt_bulk(out, old.as_deref());
        }
        "setnx" => {
            if db.contains(key, now) {
                reply::int(out, 0);
            } else {
                db.set(key, Value::Str(a.get(2).to_vec()), None);
                reply::int(out, 1);
            }
        }
        "setex" | "psetex" => {
            let n = int_arg(a, 2)?;
            if n <= 0 {
                return Err(format!("ERR invalid expire time in '{name}' command"));
            }
            let ms = if name == "setex" {
                n.saturating_mul(1000)
            } else {
                n
            };
            db.set(
                key,
                Value::Str(a.get(3).to_vec()),
                Some(now.saturating_add(ms as u64)),
            );
            reply::ok(out);
        }
        "mset" | "msetnx" => {
            if a.len() % 2 == 0 {
                return Err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                ));
            }
            if name == "msetnx" && (1..a.len()).step_by(2).any(|i| db.contains(a.get(i), now)) {
                reply::int(out, 0);
                return Ok(());
            }
            for i in (1..a.len()).step_by(2) {
                db.set(a.get(i), Value::Str(a.get(i + 1).to_vec()), None);
            }
            if name == "msetnx" {
                reply::int(out, 1);
            } else {
                reply::ok(out);
            }
        }
        "mget" => {
            reply::array(out, a.len() - 1);
            for k in a.iter_from(1) {
                match db.get(k, now) {
                    Some(Entry {
                        value: Value::Str(s),
                        ..
                    }) => reply::bulk(out, s),
                    _ => reply::nil(out),
                }
            }
        }
        "incr" | "decr" | "incrby" | "decrby" => {
            let by = match name {
                "incr" => 1,
                "decr" => -1,
                "incrby" => int_arg(a, 2)?,
                _ => int_arg(a, 2)?
                    .checked_neg()
                    .ok_or_else(|| NOT_INT.to_string())?,
            };
            let cur = match get_str(db, key, now)? {
                None => 0,
                Some(v) => parse_i64(v).ok_or_else(|| NOT_INT.to_string())?,
            };
            let new = cur
                .checked_add(by)
                .ok_or_else(|| "ERR increment or decrement would overflow".to_string())?;
            let expires = db.get(key, now).and_then(|e| e.expires_at);
            db.set(key, Value::Str(new.to_string().into_bytes()), expires);
            reply::int(out, new);
        }
        "incrbyfloat" => {
            // Redis's order: the type, the current value, the increment.
            let cur = match get_str(db, key, now)? {
                None => 0.0,
                Some(v) => parse_f64(v).ok_or_else(|| NOT_FLOAT.to_string())?,
            };
            let by = parse_f64(a.get(2)).ok_or_else(|| NOT_FLOAT.to_string())?;
            let new = cur + by;
            if !new.is_finite() {
                return err("ERR increment would produce NaN or Infinity");
            }
            let text = fmt_f64(new);
            let expires = db.get(key, now).and_then(|e| e.expires_at);
            db.set(key, Value::Str(text.clone().into_bytes()), expires);
            reply::bulk(out, text.as_bytes());
        }
        "append" => {
            let len = match get_str(db, key, now)? {
                Some(v) => {
                    v.extend_from_slice(a.get(2));
                    v.len()
                }
                None => {
                    db.set(key, Value::Str(a.get(2).to_vec()), None);
                    a.get(2).len()
                }
            };
            reply::int(out, len as i64);
        }
        "strlen" => {
            let n = get_str(db, key, now)?.map_or(0, |v| v.len());
            reply::int(out, n as i64);
        }
        "getrange" => {
            let (start, end) = (int_arg(a, 2)?, int_arg(a, 3)?);
            let v = get_str(db, key, now)?
                .map(|v| v.clone())
                .unwrap_or_default();
            // Redis's getrangeCommand, clamp for clamp.
            let len = v.len() as i64;
            let (mut s, mut e) = (start, end);
            if s < 0 && e < 0 && s > e {
                reply::bulk(out, b"");
                return Ok(());
            }
            if s < 0 {
                s += len;
            }
            if e < 0 {
                e += len;
            }
            s = s.max(0);
            e = e.max(0).min(len - 1);
            if s > e || len == 0 {
                reply::bulk(out, b"");
            } else {
                reply::bulk(out, &v[s as usize..=e as usize]);
            }
        }
        "setrange" => {
            let offset = int_arg(a, 2)?;
            if offset < 0 {
                return err("ERR offset is out of range");
            }
            let offset = offset as usize;
            let data = a.get(3);
            if offset + data.len() > super::resp::MAX_BULK {
                return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            }
            let len = match get_str(db, key, now)? {
                Some(v) => {
                    if !data.is_empty() {
                        if v.len() < offset + data.len() {
                            v.resize(offset + data.len(), 0);
                        }
                        v[offset..offset + data.len()].copy_from_slice(data);
                    }
                    v.len()
                }
                None if data.is_empty() => 0,
                None => {
                    let mut v = vec![0; offset];
                    v.extend_from_slice(data);
                    let n = v.len();
                    db.set(key, Value::Str(v), None);
                    n
                }
            };
            reply::int(out, len as i64);
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            let n = int_arg(a, 2)?;
            let at = match name {
                "expire" => n
                    .checked_mul(1000)
                    .and_then(|ms| (now as i64).checked_add(ms)),
                "pexpire" => (now as i64).checked_add(n),
                "expireat" => n.checked_mul(1000),
                _ => Some(n),
            }
            .ok_or_else(|| format!("ERR invalid expire time in '{name}' command"))?;
            if a.len() > 3 {
                return err("ERR Unsupported option");
            }
            if !db.contains(key, now) {
                reply::int(out, 0);
            } else if at <= now as i64 {
                db.remove(key);
                reply::int(out, 1);
            } else {
                db.set_expiry(key, Some(at as u64));
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
        "lpush" | "rpush" => {
            let l = get_list(db, key, now, true)?.expect("created");
            for v in a.iter_from(2) {
                if name == "lpush" {
                    l.push_front(v.to_vec());
                } else {
                    l.push_back(v.to_vec());
                }
            }
            reply::int(out, l.len() as i64);
        }
        "lpop" | "rpop" => {
            let count = if a.len() > 2 {
                let c = int_arg(a, 2)?;
                if c < 0 {
                    return err("ERR value is out of range, must be positive");
                }
                Some(c as usize)
            } else {
                None
            };
            if a.len() > 3 {
                return Err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                ));
            }
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
        }
        "llen" => {
            let n = get_list(db, key, now, false)?.map_or(0, |l| l.len());
            reply::int(out, n as i64);
        }
        "lrange" => {
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
        }
        "lindex" => {
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
        }
        "lset" => {
            let Some(l) = get_list(db, key, now, false)? else {
                return err("ERR no such key");
            };
            let i = int_arg(a, 2)?;
            let i = if i < 0 { l.len() as i64 + i } else { i };
            match (i >= 0).then(|| l.get_mut(i as usize)).flatten() {
                Some(slot) => *slot = a.get(3).to_vec(),
                None => return err("ERR index out of range"),
            }
            reply::ok(out);
        }
        "lrem" => {
            let count = int_arg(a, 2)?;
            let v = a.get(3);
            let mut removed = 0i64;
            if let Some(l) = get_list(db, key, now, false)? {
                let limit = if count == 0 { i64::MAX } else { count.abs() };
                if count >= 0 {
                    let mut i = 0;
                    while i < l.len() && removed < limit {
                        if l[i] == v {
                            l.remove(i);
                            removed += 1;
                        } else {
                            i += 1;
                        }
                    }
                } else {
                    let mut i = l.len();
                    while i > 0 && removed < limit {
                        i -= 1;
                        if l[i] == v {
                            l.remove(i);
                            removed += 1;
                        }
                    }
                }
            }
            db.drop_if_empty(key);
            reply::int(out, removed);
        }
        "ltrim" => {
            let (s, e) = (int_arg(a, 2)?, int_arg(a, 3)?);
            if let Some(l) = get_list(db, key, now, false)? {
                match norm_range(s, e, l.len()) {
                    Some((s, e)) => {
                        l.truncate(e + 1);
                        l.drain(..s);
                    }
                    None => l.clear(),
                }
            }
            db.drop_if_empty(key);
            reply::ok(out);
        }
        "hset" | "hmset" => {
            if a.len() % 2 != 0 {
                return Err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                ));
            }
            let h = get_hash(db, key, now, true)?.expect("created");
            let mut added = 0;
            for i in (2..a.len()).step_by(2) {
                if h.insert(a.get(i).to_vec(), a.get(i + 1).to_vec()).is_none() {
                    added += 1;
                }
            }
            if name == "hset" {
                reply::int(out, added);
            } else {
                reply::ok(out);
            }
        }
        "hget" => {
            let h = get_hash(db, key, now, false)?;
            reply::opt_bulk(out, h.and_then(|h| h.get(a.get(2))).map(|v| v.as_slice()));
        }
        "hmget" => {
            let h = get_hash(db, key, now, false)?;
            reply::array(out, a.len() - 2);
            for f in a.iter_from(2) {
                reply::opt_bulk(out, h.as_ref().and_then(|h| h.get(f)).map(|v| v.as_slice()));
            }
        }
        "hdel" => {
            let mut n = 0;
            if let Some(h) = get_hash(db, key, now, false)? {
                for f in a.iter_from(2) {
                    n += h.remove(f).is_some() as i64;
                }
            }
            db.drop_if_empty(key);
            reply::int(out, n);
        }
        "hlen" => {
            let n = get_hash(db, key, now, false)?.map_or(0, |h| h.len());
            reply::int(out, n as i64);
        }
        "hgetall" | "hkeys" | "hvals" => {
            let h = get_hash(db, key, now, false)?;
            let per = if name == "hgetall" { 2 } else { 1 };
            reply::array(out, h.as_ref().map_or(0, |h| h.len() * per));
            for (f, v) in h.iter().flat_map(|h| h.iter()) {
                if name != "hvals" {
                    reply::bulk(out, f);
                }
                if name != "hkeys" {
                    reply::bulk(out, v);
                }
            }
        }
        "hexists" => {
            let h = get_hash(db, key, now, false)?;
            reply::int(out, h.is_some_and(|h| h.contains_key(a.get(2))) as i64);
        }
        "hincrby" => {
            let by = int_arg(a, 3)?;
            let h = get_hash(db, key, now, true)?.expect("created");
            let cur = match h.get(a.get(2)) {
                None => 0,
                Some(v) => {
                    parse_i64(v).ok_or_else(|| "ERR hash value is not an integer".to_string())?
                }
            };
            let new = cur
                .checked_add(by)
                .ok_or_else(|| "ERR increment or decrement would overflow".to_string())?;
            h.insert(a.get(2).to_vec(), new.to_string().into_bytes());
            reply::int(out, new);
        }
        "sadd" => {
            let s = get_set(db, key, now, true)?.expect("created");
            let n = a.iter_from(2).filter(|m| s.insert(m.to_vec())).count();
            reply::int(out, n as i64);
        }
        "srem" => {
            let mut n = 0;
            if let Some(s) = get_set(db, key, now, false)? {
                n = a.iter_from(2).filter(|m| s.remove(*m)).count();
            }
            db.drop_if_empty(key);
            reply::int(out, n as i64);
        }
        "smembers" => {
            let s = get_set(db, key, now, false)?;
            reply::array(out, s.as_ref().map_or(0, |s| s.len()));
            for m in s.iter().flat_map(|s| s.iter()) {
                reply::bulk(out, m);
            }
        }
        "sismember" => {
            let s = get_set(db, key, now, false)?;
            reply::int(out, s.is_some_and(|s| s.contains(a.get(2))) as i64);
        }
        "scard" => {
            let n = get_set(db, key, now, false)?.map_or(0, |s| s.len());
            reply::int(out, n as i64);
        }
        "spop" => {
            let count = if a.len() > 2 {
                let c = int_arg(a, 2)?;
                if c < 0 {
                    return err("ERR value is out of range, must be positive");
                }
                Some(c as usize)
            } else {
                None
            };
            let popped: Vec<Vec<u8>> = match get_set(db, key, now, false)? {
                Some(s) => {
                    let take: Vec<Vec<u8>> = s.iter().take(count.unwrap_or(1)).cloned().collect();
                    for m in &take {
                        s.remove(m);
                    }
                    take
                }
                None => Vec::new(),
            };
            db.drop_if_empty(key);
            match count {
                None => reply::opt_bulk(out, popped.first().map(|v| v.as_slice())),
                Some(_) => {
                    reply::array(out, popped.len());
                    for m in &popped {
                        reply::bulk(out, m);
                    }
                }
            }
        }
        "sinter" | "sunion" | "sdiff" => {
            let mut sets = Vec::new();
            for k in a.iter_from(1) {
                sets.push(get_set(db, k, now, false)?.map(|s| s.clone()));
            }
            let mut acc: std::collections::HashSet<Vec<u8>, Fx> = match (name, sets.first()) {
                (_, Some(Some(s))) => s.clone(),
                _ => Default::default(),
            };
            for s in sets.iter().skip(1) {
                let empty = Default::default();
                let s = s.as_ref().unwrap_or(&empty);
                match name {
                    "sinter" => acc.retain(|m| s.contains(m)),
                    "sunion" => acc.extend(s.iter().cloned()),
                    _ => acc.retain(|m| !s.contains(m)),
                }
            }
            if name == "sinter" && sets.iter().any(Option::is_none) {
                acc.clear();
            }
            reply::array(out, acc.len());
            for m in &acc {
                reply::bulk(out, m);
            }
        }
        "zadd" => return zadd(db, a, now, out),
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
        other => return Err(format!("ERR unknown command '{other}'")),
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

fn set(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let key = a.get(1);
    if a.len() == 3 {
        db.set_string(key, a.get(2));
        reply::ok(out);
        return Ok(());
    }
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut expires: Option<u64> = None;
    let mut i = 3;
    while i < a.len() {
        let opt = a.get(i).to_ascii_uppercase();
        match opt.as_slice() {
            b"NX" if !xx => nx = true,
            b"XX" if !nx => xx = true,
            b"GET" => get = true,
            b"KEEPTTL" if expires.is_none() => keepttl = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT"
                if !keepttl && expires.is_none() && i + 1 < a.len() =>
            {
                let n = int_arg(a, i + 1)?;
                if n <= 0 {
                    return err("ERR invalid expire time in 'set' command");
                }
                let n = n as u64;
                expires = Some(match opt.as_slice() {
                    b"EX" => now.saturating_add(n.saturating_mul(1000)),
                    b"PX" => now.saturating_add(n),
                    b"EXAT" => n.saturating_mul(1000),
                    _ => n,
                });
                i += 1;
            }
            _ => return err(SYNTAX),
        }
        i += 1;
    }
    let old = if get {
        Some(get_str(db, key, now)?.map(|v| v.clone()))
    } else {
        None
    };
    let exists = db.contains(key, now);
    if (nx && exists) || (xx && !exists) {
        match old {
            Some(old) => reply::opt_bulk(out, old.as_deref()),
            None => reply::nil(out),
        }
        return Ok(());
    }
    let expires = if keepttl {
        db.get(key, now).and_then(|e| e.expires_at)
    } else {
        expires
    };
    db.set(key, Value::Str(a.get(2).to_vec()), expires);
    match old {
        Some(old) => reply::opt_bulk(out, old.as_deref()),
        None => reply::ok(out),
    }
    Ok(())
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
