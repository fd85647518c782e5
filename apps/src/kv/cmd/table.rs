//! The command table: every command kv knows with Redis 7's arity and key
//! positions, the request arguments, and the lookups the connection makes
//! before running a command.

mod commands;
use commands::DENYOOM;
pub use commands::{
    unblock_args, CLIENT_LIST, CLIENT_UNBLOCK, COMMANDS, DEBUG_OBJECT, MEMORY_USAGE, PUBLISH,
    PUBSUB_CHANNELS, PUBSUB_NUMPAT, PUBSUB_NUMSUB,
};

use std::ops::Range;

pub use super::super::blocking::BlockCmd;

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
