//! The command table: every command kv knows with Redis 7's arity and key
//! positions, the request arguments, and the lookups the connection makes
//! before running a command.

use std::ops::Range;

use super::super::db::Fx;

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

/// The error Redis gives for an unknown command (server.c): the name cut
/// at 128 bytes, then the arguments quoted while they fit in 128 bytes,
/// each cut at its first NUL as C's `%.*s` does.
pub fn unknown_command(args: &Args<'_>) -> Vec<u8> {
    fn c_str(a: &[u8], max: usize) -> &[u8] {
        let a = &a[..memchr::memchr(0, a).unwrap_or(a.len())];
        &a[..a.len().min(max)]
    }
    let mut quoted = Vec::new();
    for a in args.iter_from(1) {
        if quoted.len() >= 128 {
            break;
        }
        let room = 128 - quoted.len();
        quoted.push(b'\'');
        quoted.extend_from_slice(c_str(a, room));
        quoted.extend_from_slice(b"' ");
    }
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(c_str(args.get(0), 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&quoted);
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
    wrong_arity(spec.name)
}

/// The error for a wrong number of arguments to `name`.
pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
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
