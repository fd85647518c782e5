//! The command table: every command kv knows with Redis 7's arity and key
//! positions, the request arguments, and the lookups the connection makes
//! before running a command.

use std::ops::Range;

use super::super::db::{Db, Fx};
use super::{check_flush, check_rewrite, check_scan, Msg, R};

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
/// from the end. With `numkeys` (Redis's "keynum" spec), argument
/// `first - 1` says how many keys follow it (LMPOP, SINTERCARD…).
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub first: usize,
    pub last: isize,
    pub step: usize,
    pub numkeys: bool,
    /// Argument 1 is a key too (the destination of ZUNIONSTORE…, whose
    /// sources are counted).
    pub dst: bool,
    /// The argument after a `STORE` word is a key too (SORT's
    /// destination; Redis's "keyword" key spec).
    pub store_word: bool,
}

impl KeySpec {
    /// The one key at `first` (GET, SET, INCR…: most commands), which
    /// routing reads without walking [`key_positions`].
    #[inline]
    pub fn single(&self) -> Option<usize> {
        (self.first >= 1
            && self.last == self.first as isize
            && !self.numkeys
            && !self.dst
            && !self.store_word)
            .then_some(self.first)
    }
}

/// How a command runs on a keyspace — the [`Db`] holding its keys (a
/// shard's, or a transaction's copies): arguments in, RESP out.
pub type Handler = fn(&mut Db, &Args<'_>, u64, &mut Vec<u8>) -> R;

/// Checks an all-shard command's arguments before any shard runs it (and,
/// inside MULTI, at EXEC), with Redis's errors.
pub type Check = fn(&Args<'_>) -> Result<(), Msg>;

/// How a write is recorded in the append-only log, so that replaying the
/// log (with expiry off, at any later time) leaves the keyspace as the
/// command left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// The command as received: it does the same whenever it runs.
    Verbatim,
    /// The state of its key afterwards (`SET k v PXAT t`, or `DEL`): its
    /// expiry is relative to now.
    Value,
    /// Its key's expiry afterwards (`PEXPIREAT`, `PERSIST`, or `DEL`): it
    /// sets an expiry relative to now, or deletes by one already past.
    Expiry,
    /// The `SREM` of the members its reply names (SPOP: which members it
    /// takes depends on the set's layout).
    Popped,
    /// The state of every key it names afterwards (SORT … STORE: a set's
    /// order is not kept across a rewrite).
    Keys,
}

/// The commands about the connection itself, run by the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnCmd {
    Subscribe,
    Unsubscribe,
    Psubscribe,
    Punsubscribe,
    Publish,
    Pubsub,
    Ping,
    Echo,
    Hello,
    Select,
    Quit,
    Client,
    Command,
    Config,
    Function,
    Debug,
    Memory,
    Time,
    Watch,
    Unwatch,
}

/// MULTI, EXEC, DISCARD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnCmd {
    Multi,
    Exec,
    Discard,
}

/// What each shard contributes to an all-shard command, and how the
/// pieces become one reply.
#[derive(Debug, Clone, Copy)]
pub enum Gather {
    /// DBSIZE: each shard counts its keys; the reply is the sum.
    Count,
    /// KEYS, SCAN: each shard lists its matching keys; the reply lists them
    /// all (with `cursor`, after SCAN's cursor 0).
    Keys {
        select: fn(&Db, &Args<'_>, u64) -> Vec<Vec<u8>>,
        cursor: bool,
    },
    /// FLUSHDB, FLUSHALL: each shard empties its keyspace; the reply is OK.
    Flush,
    /// INFO: each shard's counters; the reply is the INFO text.
    Info,
    /// CLIENT LIST: each shard's connections; the reply is their lines.
    Clients,
    /// PUBLISH: each shard hands the message to its subscribers; the reply
    /// is how many received it.
    Publish,
    /// PUBSUB CHANNELS: each shard's active channels; the reply is their
    /// union.
    Channels,
    /// PUBSUB NUMSUB: each shard's subscriber counts; the reply sums them.
    Numsub,
    /// PUBSUB NUMPAT: each shard's patterns; the reply counts their union.
    Numpat,
    /// BGREWRITEAOF: each shard starts rewriting its log; the reply says
    /// it started.
    Rewrite,
    /// CLIENT UNBLOCK: the shard holding the client's block answers it;
    /// the reply says whether one did.
    Unblock,
    /// RANDOMKEY: each shard counts its live keys and draws one; the reply
    /// picks a shard in proportion to its count, so every key is as likely.
    RandomKey,
}

/// Where a command runs.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// On the connection's shard, touching no key (PING, HELLO…).
    Connection(ConnCmd),
    /// On the shards owning its keys, with the spec's `exec`.
    Keyed,
    /// On every shard (DBSIZE, KEYS, FLUSHALL…).
    AllShards { gather: Gather, check: Check },
    /// The connection's transaction state.
    Transaction(TxnCmd),
    /// A command that waits for its keys (BLPOP…): the connection blocks
    /// on the shards owning them (see `kv::blocking`); its `exec` is its
    /// non-blocking run, inside MULTI.
    Blocking(BlockCmd),
}

/// A command, declared once: its name, arity (Redis's convention: n
/// exact, -n at least n), where it runs, its key positions, whether it
/// writes, and its handler. Inside MULTI a command is queued if it runs on
/// a keyspace (`exec`) or on every shard; EXEC runs it (see `txn`).
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub arity: i32,
    pub kind: Kind,
    pub keys: KeySpec,
    /// Changes the keyspace (Redis's `write` flag).
    pub write: bool,
    /// How the append-only log records it when it wrote (see `kv::aof`).
    pub log: Log,
    /// How it runs on a keyspace: every keyed command, and PING, ECHO and
    /// SELECT as a transaction runs them. `None`: refused inside MULTI
    /// (unless it runs on every shard).
    pub exec: Option<Handler>,
}

impl Spec {
    /// The same spec, recorded in the log as `log` says.
    const fn logs(mut self, log: Log) -> Self {
        self.log = log;
        self
    }

    /// Whether it may grow memory, so is refused over `maxmemory` when no
    /// room can be made (Redis 7.0's `denyoom` flag).
    pub fn denyoom(&self) -> bool {
        DENYOOM.binary_search(&self.name).is_ok()
    }

    /// Whether MULTI queues it (EXEC runs it).
    pub fn queued_in_multi(&self) -> bool {
        self.exec.is_some() || matches!(self.kind, Kind::AllShards { .. })
    }

    /// An all-shard command's gathering, if it is one.
    pub fn gather(&self) -> Option<Gather> {
        match self.kind {
            Kind::AllShards { gather, .. } => Some(gather),
            _ => None,
        }
    }
}

/// The commands kv has that Redis 7.0 flags `denyoom`, sorted.
const DENYOOM: &[&str] = &[
    "append",
    "blmove",
    "brpoplpush",
    "copy",
    "decr",
    "decrby",
    "getset",
    "hincrby",
    "hincrbyfloat",
    "hmset",
    "hset",
    "hsetnx",
    "incr",
    "incrby",
    "incrbyfloat",
    "linsert",
    "lmove",
    "lpush",
    "lpushx",
    "lset",
    "mset",
    "msetnx",
    "psetex",
    "restore",
    "rpoplpush",
    "rpush",
    "rpushx",
    "sadd",
    "sdiffstore",
    "set",
    "setbit",
    "setex",
    "setnx",
    "setrange",
    "sinterstore",
    "sort",
    "sunionstore",
    "zadd",
    "zdiffstore",
    "zincrby",
    "zinterstore",
    "zrangestore",
    "zunionstore",
];

const NO_KEYS: KeySpec = KeySpec {
    first: 0,
    last: 0,
    step: 0,
    numkeys: false,
    dst: false,
    store_word: false,
};

/// A keyed command that reads.
const fn read(name: &'static str, arity: i32, keys: (usize, isize, usize), exec: Handler) -> Spec {
    keyed(name, arity, keys, false, exec)
}

/// A keyed command that writes.
const fn write(name: &'static str, arity: i32, keys: (usize, isize, usize), exec: Handler) -> Spec {
    keyed(name, arity, keys, true, exec)
}

const fn keyed(
    name: &'static str,
    arity: i32,
    (first, last, step): (usize, isize, usize),
    write: bool,
    exec: Handler,
) -> Spec {
    Spec {
        name,
        arity,
        kind: Kind::Keyed,
        keys: KeySpec {
            first,
            last,
            step,
            numkeys: false,
            dst: false,
            store_word: false,
        },
        write,
        log: Log::Verbatim,
        exec: Some(exec),
    }
}

/// A connection command; `exec`: how a transaction runs it, if it may.
const fn conn(name: &'static str, arity: i32, c: ConnCmd, exec: Option<Handler>) -> Spec {
    Spec {
        name,
        arity,
        kind: Kind::Connection(c),
        keys: NO_KEYS,
        write: false,
        log: Log::Verbatim,
        exec,
    }
}

const fn all(name: &'static str, arity: i32, gather: Gather, check: Check, write: bool) -> Spec {
    Spec {
        name,
        arity,
        kind: Kind::AllShards { gather, check },
        keys: NO_KEYS,
        write,
        log: Log::Verbatim,
        exec: None,
    }
}

/// A keyed command whose keys are counted by the argument before them.
const fn numkeys(mut spec: Spec) -> Spec {
    spec.keys.numkeys = true;
    spec
}

/// A command whose `STORE` word names a key too (SORT).
const fn store_word(mut spec: Spec) -> Spec {
    spec.keys.store_word = true;
    spec
}

/// As `numkeys`, with argument 1 a key too (the destination).
const fn dst_numkeys(mut spec: Spec) -> Spec {
    spec.keys.numkeys = true;
    spec.keys.dst = true;
    spec
}

/// A blocking command: its handler is its run inside MULTI.
const fn blocking(
    name: &'static str,
    arity: i32,
    keys: (usize, isize, usize),
    c: BlockCmd,
    exec: Handler,
) -> Spec {
    let mut spec = keyed(name, arity, keys, true, exec);
    spec.kind = Kind::Blocking(c);
    spec
}

const fn txn(name: &'static str, t: TxnCmd) -> Spec {
    Spec {
        name,
        arity: 1,
        kind: Kind::Transaction(t),
        keys: NO_KEYS,
        write: false,
        log: Log::Verbatim,
        exec: None,
    }
}

/// One key, the first argument.
const K1: (usize, isize, usize) = (1, 1, 1);
/// Every argument a key.
const KALL: (usize, isize, usize) = (1, -1, 1);
/// Keys and values alternating (MSET).
const KPAIRS: (usize, isize, usize) = (1, -1, 2);

use super::super::blocking as b;
pub use super::super::blocking::BlockCmd;
use super::{dump, hashes as h, keys as k, lists as l, sets as s, strings as st, zsets as z};
use ConnCmd as C;

/// Every command kv knows, as Redis 7 declares it, with its handler.
pub const COMMANDS: &[Spec] = &[
    conn("ping", -1, C::Ping, Some(k::ping)),
    conn("hello", -1, C::Hello, None),
    conn("echo", 2, C::Echo, Some(k::echo)),
    conn("select", 2, C::Select, Some(k::select_in_txn)),
    conn("quit", -1, C::Quit, None),
    conn("client", -2, C::Client, None),
    all("info", -1, Gather::Info, no_check, false),
    conn("command", -1, C::Command, None),
    conn("config", -2, C::Config, Some(k::config_in_txn)),
    conn("function", -2, C::Function, None),
    conn("debug", -2, C::Debug, None),
    conn("memory", -2, C::Memory, None),
    conn("time", 1, C::Time, None),
    conn("watch", -2, C::Watch, None),
    conn("unwatch", 1, C::Unwatch, Some(k::unwatch_in_txn)),
    read("object", -2, (2, 2, 1), k::object),
    read("dump", 2, K1, dump::dump),
    write("restore", -4, K1, dump::restore).logs(Log::Keys),
    conn("subscribe", -2, C::Subscribe, None),
    conn("unsubscribe", -1, C::Unsubscribe, None),
    conn("psubscribe", -2, C::Psubscribe, None),
    conn("punsubscribe", -1, C::Punsubscribe, None),
    conn("publish", 3, C::Publish, None),
    conn("pubsub", -2, C::Pubsub, None),
    all("dbsize", 1, Gather::Count, no_check, false),
    all("randomkey", 1, Gather::RandomKey, no_check, false),
    all("flushdb", -1, Gather::Flush, check_flush, true),
    all("flushall", -1, Gather::Flush, check_flush, true),
    all("bgrewriteaof", 1, Gather::Rewrite, check_rewrite, false),
    all(
        "keys",
        2,
        Gather::Keys {
            select: super::keys_matching,
            cursor: false,
        },
        no_check,
        false,
    ),
    all(
        "scan",
        -2,
        Gather::Keys {
            select: super::scan_matching,
            cursor: true,
        },
        check_scan,
        false,
    ),
    txn("multi", TxnCmd::Multi),
    txn("exec", TxnCmd::Exec),
    txn("discard", TxnCmd::Discard),
    read("type", 2, K1, k::type_),
    read("exists", -2, KALL, k::exists),
    write("del", -2, KALL, k::del),
    write("unlink", -2, KALL, k::del),
    write("rename", 3, (1, 2, 1), k::rename),
    write("renamenx", 3, (1, 2, 1), k::renamenx),
    write("set", -3, K1, st::set).logs(Log::Value),
    read("get", 2, K1, k::get),
    write("getset", 3, K1, st::getset),
    write("getdel", 2, K1, st::getdel),
    write("getex", -2, K1, st::getex).logs(Log::Expiry),
    write("setnx", 3, K1, st::setnx),
    write("setex", 4, K1, st::setex).logs(Log::Value),
    write("psetex", 4, K1, st::psetex).logs(Log::Value),
    write("mset", -3, KPAIRS, st::mset),
    write("msetnx", -3, KPAIRS, st::msetnx),
    read("mget", -2, KALL, st::mget),
    write("incr", 2, K1, st::incr),
    write("decr", 2, K1, st::decr),
    write("incrby", 3, K1, st::incrby),
    write("decrby", 3, K1, st::decrby),
    write("incrbyfloat", 3, K1, st::incrbyfloat),
    write("append", 3, K1, st::append),
    read("strlen", 2, K1, st::strlen),
    read("getrange", 4, K1, st::getrange),
    read("lcs", -3, (1, 2, 1), st::lcs),
    write("setrange", 4, K1, st::setrange),
    write("expire", -3, K1, k::expire).logs(Log::Expiry),
    write("pexpire", -3, K1, k::pexpire).logs(Log::Expiry),
    write("expireat", -3, K1, k::expireat).logs(Log::Expiry),
    write("pexpireat", -3, K1, k::pexpireat).logs(Log::Expiry),
    read("expiretime", 2, K1, k::expiretime),
    read("pexpiretime", 2, K1, k::pexpiretime),
    write("copy", -3, (1, 2, 1), k::copy),
    read("ttl", 2, K1, k::ttl),
    read("pttl", 2, K1, k::pttl),
    write("persist", 2, K1, k::persist),
    write("lpush", -3, K1, l::lpush),
    write("rpush", -3, K1, l::rpush),
    write("lpop", -2, K1, l::lpop),
    write("rpop", -2, K1, l::rpop),
    read("llen", 2, K1, l::llen),
    read("lrange", 4, K1, l::lrange),
    read("lindex", 3, K1, l::lindex),
    read("lpos", -3, K1, l::lpos),
    write("lset", 4, K1, l::lset),
    write("lrem", 4, K1, l::lrem),
    write("ltrim", 4, K1, l::ltrim),
    write("lmove", 5, (1, 2, 1), l::lmove),
    write("lpushx", -3, K1, l::lpushx),
    write("zremrangebyscore", 4, K1, z::zremrangebyscore),
    read("srandmember", -2, K1, s::srandmember),
    read("hrandfield", -2, K1, h::hrandfield),
    read("zrandmember", -2, K1, z::zrandmember),
    dst_numkeys(write("zunionstore", -4, (3, 0, 1), z::zunionstore)),
    dst_numkeys(write("zinterstore", -4, (3, 0, 1), z::zinterstore)),
    dst_numkeys(write("zdiffstore", -4, (3, 0, 1), z::zdiffstore)),
    numkeys(read("zunion", -3, (2, 0, 1), z::zunion)),
    numkeys(read("zinter", -3, (2, 0, 1), z::zinter)),
    numkeys(read("zdiff", -3, (2, 0, 1), z::zdiff)),
    numkeys(read("zintercard", -3, (2, 0, 1), z::zintercard)),
    write("zrangestore", -5, (1, 2, 1), z::zrangestore),
    store_word(write("sort", -2, K1, k::sort)).logs(Log::Keys),
    read("sort_ro", -2, K1, k::sort_ro),
    write("zremrangebyrank", 4, K1, z::zremrangebyrank),
    write("zremrangebylex", 4, K1, z::zremrangebylex),
    write("setbit", 4, K1, st::setbit),
    read("getbit", 3, K1, st::getbit),
    write("sinterstore", -3, KALL, s::sinterstore),
    write("sunionstore", -3, KALL, s::sunionstore),
    write("sdiffstore", -3, KALL, s::sdiffstore),
    numkeys(write("lmpop", -4, (2, 0, 1), l::lmpop)),
    numkeys(write("zmpop", -4, (2, 0, 1), z::zmpop)),
    numkeys(read("sintercard", -3, (2, 0, 1), s::sintercard)),
    write("rpushx", -3, K1, l::rpushx),
    write("linsert", 5, K1, l::linsert),
    blocking("blpop", -3, (1, -2, 1), BlockCmd::Blpop, b::blpop),
    blocking("brpop", -3, (1, -2, 1), BlockCmd::Brpop, b::brpop),
    blocking("blmove", 6, (1, 2, 1), BlockCmd::Blmove, b::blmove),
    blocking(
        "brpoplpush",
        4,
        (1, 2, 1),
        BlockCmd::Brpoplpush,
        b::brpoplpush,
    ),
    numkeys(blocking(
        "blmpop",
        -5,
        (3, 0, 1),
        BlockCmd::Blmpop,
        b::blmpop,
    )),
    numkeys(blocking(
        "bzmpop",
        -5,
        (3, 0, 1),
        BlockCmd::Bzmpop,
        b::bzmpop,
    )),
    write("rpoplpush", 3, (1, 2, 1), l::rpoplpush),
    write("hset", -4, K1, h::hset),
    write("hmset", -4, K1, h::hmset),
    read("hget", 3, K1, h::hget),
    read("hmget", -3, K1, h::hmget),
    write("hdel", -3, K1, h::hdel),
    read("hlen", 2, K1, h::hlen),
    read("hgetall", 2, K1, h::hgetall),
    read("hexists", 3, K1, h::hexists),
    write("hincrby", 4, K1, h::hincrby),
    write("hincrbyfloat", 4, K1, h::hincrbyfloat),
    write("hsetnx", 4, K1, h::hsetnx),
    read("hstrlen", 3, K1, h::hstrlen),
    read("hkeys", 2, K1, h::hkeys),
    read("hvals", 2, K1, h::hvals),
    write("sadd", -3, K1, s::sadd),
    write("srem", -3, K1, s::srem),
    read("smembers", 2, K1, s::smembers),
    read("sismember", 3, K1, s::sismember),
    read("smismember", -3, K1, s::smismember),
    write("smove", 4, (1, 2, 1), s::smove),
    read("scard", 2, K1, s::scard),
    write("spop", -2, K1, s::spop).logs(Log::Popped),
    read("sinter", -2, KALL, s::sinter),
    read("sunion", -2, KALL, s::sunion),
    read("sdiff", -2, KALL, s::sdiff),
    write("zadd", -4, K1, z::zadd),
    read("zscore", 3, K1, z::zscore),
    write("zincrby", 4, K1, z::zincrby),
    read("zcard", 2, K1, z::zcard),
    read("zrange", -4, K1, z::zrange),
    read("zrangebyscore", -4, K1, z::zrangebyscore),
    read("zrevrange", -4, K1, z::zrevrange),
    read("zrevrangebyscore", -4, K1, z::zrevrangebyscore),
    read("zrangebylex", -4, K1, z::zrangebylex),
    read("zrevrangebylex", -4, K1, z::zrevrangebylex),
    read("zlexcount", 4, K1, z::zlexcount),
    read("zcount", 4, K1, z::zcount),
    read("zmscore", -3, K1, z::zmscore),
    write("zrem", -3, K1, z::zrem),
    read("zrank", 3, K1, z::zrank),
    read("zrevrank", 3, K1, z::zrevrank),
    write("zpopmin", -2, K1, z::zpopmin),
    blocking("bzpopmin", -3, (1, -2, 1), BlockCmd::Bzpopmin, b::bzpopmin),
    blocking("bzpopmax", -3, (1, -2, 1), BlockCmd::Bzpopmax, b::bzpopmax),
    write("zpopmax", -2, K1, z::zpopmax),
];

/// PUBLISH, and PUBSUB's subcommands: every shard answers a part.
/// MEMORY USAGE key, run where the key lives.
pub static MEMORY_USAGE: Spec = read("memory", -3, (2, 2, 1), k::memory_usage);
/// DEBUG OBJECT key, run where the key lives.
pub static DEBUG_OBJECT: Spec = read("debug", 3, (2, 2, 1), k::debug_object);
pub static PUBLISH: Spec = all("publish", 3, Gather::Publish, no_check, false);
pub static PUBSUB_CHANNELS: Spec = all("pubsub", -2, Gather::Channels, no_check, false);
pub static PUBSUB_NUMSUB: Spec = all("pubsub", -2, Gather::Numsub, no_check, false);
pub static PUBSUB_NUMPAT: Spec = all("pubsub", -2, Gather::Numpat, no_check, false);

/// CLIENT LIST: a subcommand of CLIENT that every shard answers a part of.
pub static CLIENT_LIST: Spec = all("client", -2, Gather::Clients, check_client_list, false);

pub static CLIENT_UNBLOCK: Spec = all("client", -3, Gather::Unblock, check_client_unblock, false);

/// CLIENT UNBLOCK id [TIMEOUT|ERROR], checked as Redis 7.0 does.
fn check_client_unblock(a: &Args<'_>) -> Result<(), Msg> {
    unblock_args(a).map(|_| ())
}

/// CLIENT UNBLOCK's client id and whether it answers with an error.
pub fn unblock_args(a: &Args<'_>) -> Result<(u64, bool), Msg> {
    let id = super::parse_i64(a.get(2)).ok_or(super::NOT_INT)?;
    let error = match a.len() {
        3 => false,
        4 if a.get(3).eq_ignore_ascii_case(b"timeout") => false,
        4 if a.get(3).eq_ignore_ascii_case(b"error") => true,
        4 => return Err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into()),
        _ => return Err(super::SYNTAX.into()),
    };
    Ok((id as u64, error))
}

fn check_client_list(a: &Args<'_>) -> Result<(), Msg> {
    super::super::clients::list_filter(a).map(|_| ())
}

fn no_check(_: &Args<'_>) -> Result<(), Msg> {
    Ok(())
}

/// The spec of command `name` (any case): one hash lookup.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    lookup_indexed(name).map(|(_, spec)| spec)
}

/// As [`lookup`], with the command's place in [`COMMANDS`] (what INFO
/// commandstats counts by).
pub fn lookup_indexed(name: &[u8]) -> Option<(usize, &'static Spec)> {
    type Table = std::collections::HashMap<&'static [u8], (usize, &'static Spec), Fx>;
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    if name.len() > 16 {
        return None;
    }
    let mut lower = [0u8; 16];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let table = TABLE.get_or_init(|| {
        COMMANDS
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_bytes(), (i, s)))
            .collect()
    });
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
pub fn key_positions(spec: &Spec, a: &Args<'_>) -> impl Iterator<Item = usize> {
    let k = spec.keys;
    let n = a.len();
    let last = if k.numkeys {
        // Argument first-1 counts the keys; a bad count names none (the
        // handler answers the error).
        let count = (k.first >= 1 && k.first - 1 < n)
            .then(|| super::parse_i64(a.get(k.first - 1)))
            .flatten()
            .filter(|&c| c > 0)
            .unwrap_or(0);
        k.first as isize + count.min(n as i64) as isize - 1
    } else if k.last < 0 {
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
    let dst = (k.dst && n > 1).then_some(1);
    let stored = k
        .store_word
        .then(|| (2..n.saturating_sub(1)).find(|&i| a.get(i).eq_ignore_ascii_case(b"store")))
        .flatten()
        .map(|i| i + 1);
    dst.into_iter()
        .chain((first..end.min(n)).step_by(step))
        .chain(stored)
}
