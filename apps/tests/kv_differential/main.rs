//! kv against redis-server, command for command: random commands drawn
//! from the whole command table kv implements, with edge values (0, -1,
//! i64's ends and one past them, overflowing expire times and increments,
//! huge counts, empty and binary strings, wrong types), pipelined, inside
//! MULTI/EXEC (all-shard commands and SELECT too), as inline commands with
//! Redis's quoting rules, and protocol garbage on connections of its own.
//! Every reply must be byte-for-byte Redis's (unordered replies sorted).
//!
//! Seeded: `KV_DIFF_SEED=<n>` reruns one seed, `KV_DIFF_COMMANDS=<n>`
//! sets how many commands (100,000 by default). A failure prints the seed
//! and the commands before it.
//!
//! redis-server runs with `--databases 1`: kv has one database, and that
//! is the Redis configuration it imitates (SELECT 1 is refused by both).

#[path = "../common/mod.rs"]
mod common;

mod server_features;

mod clients;

mod commands;
mod commands_high;
mod generator;
mod protocol;
mod pubsub_blocking;
mod random;
use generator::{
    key, limit, value, Rng, COUNTS, EXPIRES, FIELDS, FLOATS, FUTURE, INDEXES, INTS, LEX, MEMBERS,
    PATTERNS,
};

use commands::command;

use commands_high::command_high;

use random::{differential, kv_client, redis_client};

use protocol::ReadWrite;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A reply, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Reply {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
    // RESP3's types.
    Null,
    Double(Vec<u8>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Verbatim(Vec<u8>),
    Push(Vec<Reply>),
    Bool(bool),
    BigNum(Vec<u8>),
    Attribute(Vec<(Reply, Reply)>),
}

struct Client<S> {
    r: BufReader<S>,
}

impl<S: Read + Write> Client<S> {
    fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).unwrap();
    }

    fn line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).unwrap();
        assert!(l.ends_with(b"\r\n"), "truncated reply line {l:?}");
        l.truncate(l.len() - 2);
        l
    }

    fn read(&mut self) -> Reply {
        let l = self.line();
        let rest = l[1..].to_vec();
        let num = || -> i64 { std::str::from_utf8(&rest).unwrap().parse().unwrap() };
        match l[0] {
            b'+' => Reply::Simple(rest.clone()),
            b'-' => Reply::Error(rest.clone()),
            b':' => Reply::Int(num()),
            b'$' => {
                let n = num();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            b'*' => {
                let n = num();
                if n < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            b'_' => Reply::Null,
            b',' => Reply::Double(rest.clone()),
            b'%' => Reply::Map((0..num()).map(|_| (self.read(), self.read())).collect()),
            b'~' => Reply::Set((0..num()).map(|_| self.read()).collect()),
            b'>' => Reply::Push((0..num()).map(|_| self.read()).collect()),
            b'#' => Reply::Bool(rest == b"t"),
            b'(' => Reply::BigNum(rest.clone()),
            b'|' => Reply::Attribute((0..num()).map(|_| (self.read(), self.read())).collect()),
            b'=' => {
                let mut b = vec![0; num() as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(b.len() - 2);
                Reply::Verbatim(b)
            }
            _ => panic!("bad reply line {l:?}"),
        }
    }
}

/// A reply for a failure message, strings shown as text.
fn show(r: &Reply) -> String {
    let text = |b: &[u8]| format!("{:?}", String::from_utf8_lossy(b));
    match r {
        Reply::Simple(s) => format!("+{}", text(s)),
        Reply::Error(s) => format!("-{}", text(s)),
        Reply::Int(n) => format!(":{n}"),
        Reply::Bulk(None) | Reply::Array(None) => "nil".into(),
        Reply::Bulk(Some(b)) => text(b),
        Reply::Array(Some(v)) => format!("[{}]", v.iter().map(show).collect::<Vec<_>>().join(", ")),
        Reply::Null => "null".into(),
        Reply::Double(d) => format!(",{}", String::from_utf8_lossy(d)),
        Reply::Map(m) => format!(
            "%{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Reply::Set(v) => format!("~[{}]", v.iter().map(show).collect::<Vec<_>>().join(", ")),
        Reply::Push(v) => format!(">[{}]", v.iter().map(show).collect::<Vec<_>>().join(", ")),
        Reply::Verbatim(t) => format!("={}", text(t)),
        Reply::Bool(b) => format!("#{b}"),
        Reply::BigNum(n) => format!("({}", text(n)),
        Reply::Attribute(m) => format!(
            "|{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// An inline request for `args`: each argument bare when it can be, else
/// quoted with Redis's escapes, chosen at random.
fn inline(rng: &mut Rng, args: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            line.extend_from_slice(if rng.chance(20) { b"  \t" } else { b" " });
        }
        let bare = !a.is_empty()
            && a.iter()
                .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
        if bare && rng.chance(70) {
            line.extend_from_slice(a);
        } else if rng.chance(70) {
            line.push(b'"');
            for &b in a {
                match b {
                    b'"' => line.extend_from_slice(b"\\\""),
                    b'\\' => line.extend_from_slice(b"\\\\"),
                    b'\n' => line.extend_from_slice(b"\\n"),
                    b'\r' => line.extend_from_slice(b"\\r"),
                    b'\t' => line.extend_from_slice(b"\\t"),
                    0..=31 | 127..=255 => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                    _ if rng.chance(5) => line.extend_from_slice(format!("\\x{b:02X}").as_bytes()),
                    _ => line.push(b),
                }
            }
            line.push(b'"');
        } else {
            if a.contains(&b'\'') || a.contains(&0) || a.contains(&b'\n') || a.contains(&b'\r') {
                return None;
            }
            line.push(b'\'');
            line.extend_from_slice(a);
            line.push(b'\'');
        }
    }
    line.extend_from_slice(if rng.chance(50) { b"\r\n" } else { b"\n" });
    Some(line)
}

/// Replies whose order Redis does not define are sorted; a positive TTL
/// is 1 (the two servers read their clocks a moment apart).
fn normalise(cmd: &[u8], r: Reply) -> Reply {
    let name = String::from_utf8_lossy(cmd).to_lowercase();
    match (name.as_str(), r) {
        (
            "smembers" | "sinter" | "sunion" | "sdiff" | "hkeys" | "hvals" | "keys",
            Reply::Array(Some(mut v)),
        ) => {
            v.sort();
            Reply::Array(Some(v))
        }
        (
            "smembers" | "sinter" | "sunion" | "sdiff" | "hkeys" | "hvals" | "keys",
            Reply::Set(mut v),
        ) => {
            v.sort();
            Reply::Set(v)
        }
        ("hgetall", Reply::Map(mut m)) => {
            m.sort();
            Reply::Map(m)
        }
        ("hgetall", Reply::Array(Some(v))) => {
            let mut pairs: Vec<Vec<Reply>> = v.chunks(2).map(|c| c.to_vec()).collect();
            pairs.sort();
            Reply::Array(Some(pairs.concat()))
        }
        // Expiries relative to each server's clock, a millisecond apart.
        ("ttl" | "pttl" | "expiretime" | "pexpiretime", Reply::Int(n)) if n > 0 => Reply::Int(1),
        // Random draws: their shape and size only.
        ("srandmember" | "hrandfield" | "zrandmember", r) => blank(r),
        (_, r) => r,
    }
}

/// A reply with every string blanked: what a random draw's replies share.
fn blank(r: Reply) -> Reply {
    match r {
        Reply::Bulk(Some(_)) => Reply::Bulk(Some(Vec::new())),
        Reply::Double(_) => Reply::Double(Vec::new()),
        Reply::Array(Some(v)) => Reply::Array(Some(v.into_iter().map(blank).collect())),
        r => r,
    }
}

fn redis_server(dir: &std::path::Path) -> (Child, PathBuf) {
    let sock = dir.join("redis.sock");
    let _ = std::fs::remove_file(&sock);
    let child = tool("redis-server")
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "1",
            "--enable-debug-command",
            "yes",
        ])
        .arg("--unixsocket")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server) is installed");
    let start = Instant::now();
    while UnixStream::connect(&sock).is_err() {
        assert!(start.elapsed() < DEADLINE, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, sock)
}

fn kv_config(shards: usize) -> String {
    format!(
        "[runtime]\nshards = {shards}\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"kv\"\naddress = \"127.0.0.1:0\"\napp = \"kv\"\n"
    )
}

#[test]
fn a_hundred_thousand_random_commands_get_redis_server_s_replies_byte_for_byte() {
    differential(false, 100_000, false);
}

/// The same, after HELLO 3 on both: every reply in RESP3 (maps, sets,
/// doubles, nulls, verbatim strings).
#[test]
fn fifty_thousand_random_commands_in_resp3_get_redis_server_s_replies() {
    differential(true, 50_000, false);
}

/// kv persisting (`appendonly`, 3 shards, a BGREWRITEAOF every 300
/// batches, so writes land during rewrites): the replies are still
/// redis-server's; then every key is what redis-server holds, after a
/// `kill -9` and a restart, and after a restart on 2 shards (a reshard).
#[test]
fn random_commands_persisted_survive_a_crash_rewrites_and_a_reshard() {
    differential(false, 50_000, true);
}
