//! Every command kv knows, declared once ([`COMMANDS`]), with Redis 7.0's
//! arity, key positions and flags, and the builders the declarations use.

use super::*;

/// The commands kv has that Redis 7.0 flags `denyoom`, sorted.
pub(super) const DENYOOM: &[&str] = &[
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

pub(super) const NO_KEYS: KeySpec = KeySpec {
    first: 0,
    last: 0,
    step: 0,
    numkeys: false,
    dst: false,
    store_word: false,
};

/// A keyed command that reads.
pub(super) const fn read(
    name: &'static str,
    arity: i32,
    keys: (usize, isize, usize),
    exec: Handler,
) -> Spec {
    keyed(name, arity, keys, false, exec)
}

/// A keyed command that writes.
pub(super) const fn write(
    name: &'static str,
    arity: i32,
    keys: (usize, isize, usize),
    exec: Handler,
) -> Spec {
    keyed(name, arity, keys, true, exec)
}

pub(super) const fn keyed(
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
pub(super) const fn conn(
    name: &'static str,
    arity: i32,
    c: ConnCmd,
    exec: Option<Handler>,
) -> Spec {
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

pub(super) const fn all(
    name: &'static str,
    arity: i32,
    gather: Gather,
    check: Check,
    write: bool,
) -> Spec {
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
pub(super) const fn numkeys(mut spec: Spec) -> Spec {
    spec.keys.numkeys = true;
    spec
}

/// A command whose `STORE` word names a key too (SORT).
pub(super) const fn store_word(mut spec: Spec) -> Spec {
    spec.keys.store_word = true;
    spec
}

/// As `numkeys`, with argument 1 a key too (the destination).
pub(super) const fn dst_numkeys(mut spec: Spec) -> Spec {
    spec.keys.numkeys = true;
    spec.keys.dst = true;
    spec
}

/// A blocking command: its handler is its run inside MULTI.
pub(super) const fn blocking(
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

pub(super) const fn txn(name: &'static str, t: TxnCmd) -> Spec {
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
pub(super) const K1: (usize, isize, usize) = (1, 1, 1);
/// Every argument a key.
pub(super) const KALL: (usize, isize, usize) = (1, -1, 1);
/// Keys and values alternating (MSET).
pub(super) const KPAIRS: (usize, isize, usize) = (1, -1, 2);

use super::super::super::blocking as b;
use super::super::{
    dump, hashes as h, keys as k, lists as l, sets as s, strings as st, zsets as z,
};
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
            select: super::super::keys_matching,
            cursor: false,
        },
        no_check,
        false,
    ),
    all(
        "scan",
        -2,
        Gather::Keys {
            select: super::super::scan_matching,
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
pub(super) fn check_client_unblock(a: &Args<'_>) -> Result<(), Msg> {
    unblock_args(a).map(|_| ())
}

/// CLIENT UNBLOCK's client id and whether it answers with an error.
pub fn unblock_args(a: &Args<'_>) -> Result<(u64, bool), Msg> {
    let id = super::super::parse_i64(a.get(2)).ok_or(super::super::NOT_INT)?;
    let error = match a.len() {
        3 => false,
        4 if a.get(3).eq_ignore_ascii_case(b"timeout") => false,
        4 if a.get(3).eq_ignore_ascii_case(b"error") => true,
        4 => return Err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into()),
        _ => return Err(super::super::SYNTAX.into()),
    };
    Ok((id as u64, error))
}

pub(super) fn check_client_list(a: &Args<'_>) -> Result<(), Msg> {
    super::super::super::clients::list_filter(a).map(|_| ())
}

pub(super) fn no_check(_: &Args<'_>) -> Result<(), Msg> {
    Ok(())
}
