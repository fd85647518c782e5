//! kv's append-only logs against crashes and damage, with real processes,
//! real files and real Redis tools:
//!
//! * `kill -9` at a random moment under a SET/INCR/RPUSH/MSET load (MSET
//!   across shards: a transaction), with automatic rewrites running: after
//!   the restart, every acknowledged write is there and no key holds a
//!   value that was never written. `KV_CRASHES` sets how many crashes per
//!   policy (3 by default; `benches/kv-crash` runs 20);
//! * a log cut inside a command loads up to the command before, and is
//!   truncated there; a corrupt log stops start-up naming the file and
//!   the byte offset;
//! * `redis-check-aof` accepts every shard's manifest, and redis-server
//!   loads a one-shard log with the same keys.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn config(dir: &Path, shards: usize, fsync: &str) -> String {
    format!(
        "[runtime]\nshards = {shards}\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"kv\"\naddress = \"127.0.0.1:0\"\napp = \"kv\"\n\
         [listener.kv]\nappendonly = true\nappendfsync = \"{fsync}\"\ndir = \"{}\"\n\
         auto_aof_rewrite_min_size = \"64KB\"\nauto_aof_rewrite_percentage = 50\n",
        dir.display()
    )
}

/// A RESP client: one command, one reply line (bulk and array replies read
/// whole).
struct Conn<S = TcpStream>(BufReader<S>);

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(DEADLINE))?;
        Ok(Self(BufReader::new(s)))
    }
}

impl<S: Read + Write> Conn<S> {
    /// Sends `args`, returns the reply: `+x`/`:n`/`-e` as its line, a bulk
    /// as its content, an array as its items joined by `,`.
    fn ask<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<String> {
        self.0.get_mut().write_all(&multibulk(args))?;
        self.reply()
    }

    fn reply(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.0.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end().to_string();
        match line.as_bytes().first() {
            Some(b'$') if line != "$-1" => {
                let n: usize = line[1..].parse().unwrap();
                let mut b = vec![0; n + 2];
                self.0.read_exact(&mut b)?;
                b.truncate(n);
                Ok(String::from_utf8(b).unwrap())
            }
            Some(b'*') => {
                let n: usize = line[1..].parse().unwrap();
                let items: Vec<String> = (0..n).map(|_| self.reply()).collect::<Result<_, _>>()?;
                Ok(items.join(","))
            }
            _ => Ok(line),
        }
    }
}

/// What one client had acknowledged when the server died, and the one
/// command it had sent and not seen answered.
#[derive(Debug, Default, Clone)]
struct Acked {
    prefix: String,
    /// The value each `PREFIX:sJ` was last set to.
    strings: Vec<Option<u64>>,
    incrs: u64,
    pushed: Vec<u64>,
    /// The value of the last MSET of `PREFIX:a` and `PREFIX:b`.
    pair: Option<u64>,
    /// The command in flight: (op, i).
    in_flight: Option<(u64, u64)>,
}

const STRINGS: u64 = 20;

/// Writes until the connection breaks (the server was killed).
fn writer(addr: SocketAddr, prefix: String) -> Acked {
    let mut a = Acked {
        prefix: prefix.clone(),
        strings: vec![None; STRINGS as usize],
        ..Acked::default()
    };
    let Ok(mut c) = Conn::open(addr) else {
        return a;
    };
    for i in 0.. {
        let op = i % 4;
        let v = i.to_string();
        a.in_flight = Some((op, i));
        let r = match op {
            0 => c.ask(&["SET", &format!("{prefix}:s{}", i % STRINGS), &v]),
            1 => c.ask(&["INCR", &format!("{prefix}:n")]),
            2 => c.ask(&["RPUSH", &format!("{prefix}:l"), &v]),
            _ => c.ask(&[
                "MSET",
                &format!("{prefix}:a"),
                &v,
                &format!("{prefix}:b"),
                &v,
            ]),
        };
        let Ok(r) = r else {
            return a;
        };
        match op {
            0 => {
                assert_eq!(r, "+OK");
                a.strings[(i % STRINGS) as usize] = Some(i);
            }
            1 => {
                a.incrs += 1;
                assert_eq!(r, format!(":{}", a.incrs));
            }
            2 => {
                a.pushed.push(i);
                assert_eq!(r, format!(":{}", a.pushed.len()));
            }
            _ => {
                assert_eq!(r, "+OK");
                a.pair = Some(i);
            }
        }
        a.in_flight = None;
    }
    unreachable!()
}

/// Checks what kv holds against what was acknowledged; returns how many
/// acknowledged writes it checked. Panics on a lost write or a value never
/// written.
fn check(c: &mut Conn, a: &Acked) -> u64 {
    let p = &a.prefix;
    let flight = |op: u64| a.in_flight.filter(|(o, _)| *o == op).map(|(_, i)| i);
    let mut checked = 0;
    for j in 0..STRINGS {
        let got = c.ask(&["GET", &format!("{p}:s{j}")]).unwrap();
        let want = a.strings[j as usize];
        let pending = flight(0).filter(|i| i % STRINGS == j);
        let ok = match (want, pending) {
            (w, Some(i)) => {
                got == i.to_string() || w.map_or(got == "$-1", |w| got == w.to_string())
            }
            (Some(w), None) => got == w.to_string(),
            (None, None) => got == "$-1",
        };
        assert!(
            ok,
            "{p}:s{j} is {got:?}: acknowledged {want:?}, in flight {pending:?}"
        );
        checked += want.is_some() as u64;
    }
    let n = c.ask(&["GET", &format!("{p}:n")]).unwrap();
    let n: u64 = if n == "$-1" { 0 } else { n.parse().unwrap() };
    let extra = flight(1).is_some() as u64;
    assert!(
        (a.incrs..=a.incrs + extra).contains(&n),
        "{p}:n is {n}: {} INCRs acknowledged, {extra} in flight",
        a.incrs
    );
    checked += a.incrs;
    let list = c.ask(&["LRANGE", &format!("{p}:l"), "0", "-1"]).unwrap();
    let got: Vec<u64> = list
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let mut with_flight = a.pushed.clone();
    with_flight.extend(flight(2));
    assert!(
        got == a.pushed || got == with_flight,
        "{p}:l is {got:?}: acknowledged {:?}, in flight {:?}",
        a.pushed,
        flight(2)
    );
    checked += a.pushed.len() as u64;
    for k in ["a", "b"] {
        let got = c.ask(&["GET", &format!("{p}:{k}")]).unwrap();
        let ok = got == a.pair.map_or("$-1".into(), |v| v.to_string())
            || flight(3).is_some_and(|i| got == i.to_string());
        assert!(
            ok,
            "{p}:{k} is {got:?}: acknowledged {:?}, in flight {:?}",
            a.pair,
            flight(3)
        );
    }
    checked + a.pair.is_some() as u64
}

/// Serves `config` and drains its log on a thread; returns the server and
/// its address.
fn start(config: &str) -> (Reap, SocketAddr) {
    let (child, addr, log) = serve(config);
    std::thread::spawn(move || for _ in log.lines() {});
    (Reap(child), addr)
}

/// `crashes` times: 4 writers on 2 shards, `kill -9` after a random
/// 150–650 ms, restart, check every round's acknowledged writes so far.
fn crashes(fsync: &str) {
    let crashes: usize = std::env::var("KV_CRASHES").map_or(3, |v| v.parse().unwrap());
    let dir = temp_dir(&format!("kv-crash-{fsync}"));
    let config = config(&dir, 2, fsync);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut all: Vec<Acked> = Vec::new();
    let (mut server, mut addr) = start(&config);
    for round in 0..crashes {
        let writers: Vec<_> = (0..4)
            .map(|c| {
                let prefix = format!("r{round}c{c}");
                std::thread::spawn(move || writer(addr, prefix))
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(150 + seed % 500);
        std::thread::sleep(after);
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        all.extend(writers.into_iter().map(|w| w.join().unwrap()));
        (server, addr) = start(&config);
        let mut c = Conn::open(addr).unwrap();
        let checked: u64 = all.iter().map(|a| check(&mut c, a)).sum();
        let in_flight = all.iter().filter(|a| a.in_flight.is_some()).count();
        drop(c);
        eprintln!(
            "{fsync}, crash {} after {} ms: {checked} acknowledged writes checked over {} rounds, 0 lost, \
             no value never written ({in_flight} commands were in flight)",
            round + 1,
            after.as_millis(),
            round + 1
        );
        assert!(all.iter().any(|a| a.incrs > 0), "the writers wrote");
    }
    sigterm(&server.0);
    assert!(wait_exit(&mut server.0).success());
    // Automatic rewrites ran under the load (and some were cut by a kill):
    // a manifest past its first base.
    let seqs: Vec<u64> = (0..2)
        .map(|k| {
            let m = std::fs::read_to_string(
                dir.join(format!("appendonlydir/appendonly-{k}of2.aof.manifest")),
            )
            .unwrap();
            m.split_whitespace()
                .skip_while(|w| *w != "seq")
                .nth(1)
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    eprintln!("{fsync}: the shards' bases are now of rewrite {seqs:?}");
    assert!(seqs.iter().any(|&s| s > 1), "no rewrite ran: {seqs:?}");
}

#[test]
fn kill_9_under_load_with_fsync_always_loses_no_acknowledged_write() {
    crashes("always");
}

/// A process crash loses nothing with `everysec` either: the log is
/// written before the replies leave, and the kernel keeps what was
/// written; `everysec` risks about a second only if the machine fails.
#[test]
fn kill_9_under_load_with_fsync_everysec_loses_no_acknowledged_write() {
    crashes("everysec");
}

fn incr_file(dir: &Path, shard: usize, shards: usize) -> PathBuf {
    let name = format!("appendonly-{shard}of{shards}.aof");
    let manifest =
        std::fs::read_to_string(dir.join("appendonlydir").join(format!("{name}.manifest")))
            .unwrap();
    let line = manifest.lines().find(|l| l.contains("type i")).unwrap();
    dir.join("appendonlydir")
        .join(line.split_whitespace().nth(1).unwrap())
}

#[test]
fn a_log_cut_in_a_command_loads_to_the_command_before_and_a_corrupt_one_stops_start_up() {
    let dir = temp_dir("kv-damaged");
    let config = config(&dir, 1, "always");
    let (mut server, addr) = start(&config);
    let mut c = Conn::open(addr).unwrap();
    for i in 0..10 {
        assert_eq!(
            c.ask(&["SET", &format!("k{i}"), &i.to_string()]).unwrap(),
            "+OK"
        );
    }
    assert_eq!(c.ask(&["RPUSH", "l", "a", "b"]).unwrap(), ":2");
    server.0.kill().unwrap();
    server.0.wait().unwrap();

    // A crash in the middle of writing a command (and of a transaction).
    let incr = incr_file(&dir, 0, 1);
    let whole = std::fs::metadata(&incr).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap();
    f.write_all(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$2\r\nk0\r\n$1\r\nX\r\n*3\r\n$3\r\nSET\r\n$2\r\nk1")
        .unwrap();
    drop(f);
    let (mut server, addr) = start(&config);
    let mut c = Conn::open(addr).unwrap();
    assert_eq!(
        c.ask(&["GET", "k0"]).unwrap(),
        "0",
        "the unfinished MULTI is not applied"
    );
    assert_eq!(c.ask(&["GET", "k9"]).unwrap(), "9");
    assert_eq!(c.ask(&["LRANGE", "l", "0", "-1"]).unwrap(), "a,b");
    assert_eq!(
        std::fs::metadata(&incr).unwrap().len(),
        whole,
        "truncated to the last command"
    );
    assert_eq!(c.ask(&["SET", "after", "1"]).unwrap(), "+OK");
    drop(c);
    sigterm(&server.0);
    assert!(wait_exit(&mut server.0).success());

    // Damage in the middle: start-up stops and says where.
    let mut bytes = std::fs::read(&incr).unwrap();
    let at = bytes.len() / 2;
    bytes[at..at + 4].copy_from_slice(b"!!!!");
    std::fs::write(&incr, &bytes).unwrap();
    let path = temp_config("damaged.toml", &config);
    let out = Command::new(BIN)
        .args(["serve", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a corrupt log must stop start-up: {err}"
    );
    assert!(
        err.contains(incr.file_name().unwrap().to_str().unwrap())
            && err.contains("corrupt at byte"),
        "{err}"
    );
}

#[test]
fn redis_check_aof_accepts_every_shard_and_redis_server_loads_a_one_shard_log() {
    let dir = temp_dir("kv-redis-tools");
    // Three shards, then one: the reshard writes a one-shard base.
    let (mut server, addr) = start(&config(&dir, 3, "everysec"));
    let mut c = Conn::open(addr).unwrap();
    let script: &[&[&str]] = &[
        &["SET", "s", "v"],
        &["SET", "t", "v", "EX", "100000"],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "f", "1", "g", "2"],
        &["SADD", "set", "x", "y", "z"],
        &["SPOP", "set"],
        &["ZADD", "z", "1.5", "a", "-2", "b"],
        &["MSET", "m1", "1", "m2", "2", "m3", "3"],
        &["INCRBYFLOAT", "f", "0.1"],
        &["EXPIRE", "l", "100000"],
        &["BGREWRITEAOF"],
        &["LPUSH", "l", "z"],
    ];
    for cmd in script {
        assert!(!c.ask(cmd).unwrap().starts_with('-'), "{cmd:?}");
    }
    let ours = dump(&mut c);
    drop(c);
    sigterm(&server.0);
    assert!(wait_exit(&mut server.0).success());
    for k in 0..3 {
        let manifest = dir.join(format!("appendonlydir/appendonly-{k}of3.aof.manifest"));
        let out = tool("redis-check-aof").arg(&manifest).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("are valid"), "{text}");
    }
    let (mut server, _) = start(&config(&dir, 1, "everysec"));
    sigterm(&server.0);
    assert!(wait_exit(&mut server.0).success());
    let sock = dir.join("redis.sock");
    let mut redis = Reap(
        tool("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "yes"])
            .args(["--appendfilename", "appendonly-0of1.aof", "--dir"])
            .arg(&dir)
            .arg("--unixsocket")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    let stream = loop {
        if let Ok(s) = std::os::unix::net::UnixStream::connect(&sock) {
            break s;
        }
        assert!(start.elapsed() < DEADLINE, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut r = Conn(BufReader::new(stream));
    // (Wait out LOADING.)
    while r.ask(&["PING"]).unwrap() != "+PONG" {
        std::thread::sleep(Duration::from_millis(20));
    }
    let theirs = dump(&mut r);
    assert_eq!(theirs, ours);
    assert_eq!(ours.len(), 10, "{ours:?}");
    let _ = redis.0.kill();
}

/// Every key: its type, value (a set by its size: SPOP took one member
/// of three) and whether it expires, sorted by key.
fn dump<S: Read + Write>(c: &mut Conn<S>) -> Vec<String> {
    let mut keys: Vec<String> = c
        .ask(&["KEYS", "*"])
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    keys.sort();
    keys.iter()
        .map(|k| {
            let t = c.ask(&["TYPE", k]).unwrap();
            let v = match t.as_str() {
                "+string" => c.ask(&["GET", k]),
                "+list" => c.ask(&["LRANGE", k, "0", "-1"]),
                "+hash" => c.ask(&["HGET", k, "g"]),
                "+set" => c.ask(&["SCARD", k]),
                _ => c.ask(&["ZRANGE", k, "0", "-1", "WITHSCORES"]),
            }
            .unwrap();
            let ttl = c.ask(&["PEXPIRETIME", k]).unwrap();
            format!(
                "{k} {t} {v} {}",
                if ttl.starts_with(":-") {
                    "persistent"
                } else {
                    "volatile"
                }
            )
        })
        .collect()
}
