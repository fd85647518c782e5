//! kv's multi-shard transactions against their claims (`kv` module docs):
//! atomic and serializable under many concurrent clients, free of
//! deadlock however their keys cross, and whole even when the client that
//! sent one goes away before its reply.
//!
//! The model-based test runs random transfers between accounts spread
//! over four shards (MULTI/EXEC of DECRBY/INCRBY, three-way splits, and
//! WATCH-guarded read-modify-writes), while readers take the whole
//! ledger at once (MGET, and GETs inside MULTI). The checker holds the
//! history to two invariants that any serial order keeps and a lost or
//! half-applied transaction breaks: every snapshot sums to the total, and
//! the final balances are the initial ones plus every committed
//! transaction's effect, each counted once.

#[path = "../common/mod.rs"]
mod common;

mod pipelines;

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};

use common::resp::{Reply, Resp};
use common::*;

const ACCOUNTS: usize = 8;
const START: i64 = 1000;

fn kv_config(shards: usize) -> String {
    format!(
        "[runtime]\nshards = {shards}\npin_cores = false\n[log]\nlevel = \"info\"\nformat = \"json\"\n\
         [[listener]]\nname = \"kv\"\naddress = \"127.0.0.1:0\"\napp = \"kv\"\n"
    )
}

fn connect(addr: SocketAddr) -> Resp<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    Resp {
        r: BufReader::new(s),
    }
}

fn cmd(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn account(i: usize) -> String {
    format!("acct:{i}")
}

/// Every account at `START`: a connection, and the total that every
/// snapshot must sum to.
fn open_ledger(addr: SocketAddr) -> (Resp<TcpStream>, i64) {
    let mut c = connect(addr);
    let mut mset = vec![b"MSET".to_vec()];
    for i in 0..ACCOUNTS {
        mset.push(account(i).into_bytes());
        mset.push(START.to_string().into_bytes());
    }
    c.send(&[mset]);
    assert_eq!(c.read(), Reply::Simple("OK".into()));
    (c, START * ACCOUNTS as i64)
}

/// Stops the server; it must exit cleanly.
fn stop(mut child: std::process::Child) {
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

fn int(r: &Reply) -> i64 {
    match r {
        Reply::Int(n) => *n,
        Reply::Bulk(Some(b)) => std::str::from_utf8(b).unwrap().parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

/// A small deterministic generator (xorshift), seeded per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    /// Two or three distinct accounts.
    fn accounts(&mut self, k: usize) -> Vec<usize> {
        let mut v: Vec<usize> = Vec::new();
        while v.len() < k {
            let a = self.below(ACCOUNTS);
            if !v.contains(&a) {
                v.push(a);
            }
        }
        v
    }
}

/// Runs `cmds` inside MULTI/EXEC; returns EXEC's reply (every command
/// before it must be queued).
fn multi_exec(c: &mut Resp<TcpStream>, cmds: Vec<Vec<Vec<u8>>>) -> Reply {
    let n = cmds.len();
    let mut all = vec![cmd(&["MULTI"])];
    all.extend(cmds);
    all.push(cmd(&["EXEC"]));
    c.send(&all);
    assert_eq!(c.read(), Reply::Simple("OK".into()));
    for _ in 0..n {
        assert_eq!(c.read(), Reply::Simple("QUEUED".into()));
    }
    c.read()
}

/// The whole ledger as one snapshot: MGET, or GETs inside MULTI.
fn snapshot(c: &mut Resp<TcpStream>, in_multi: bool) -> Vec<i64> {
    let names: Vec<String> = (0..ACCOUNTS).map(account).collect();
    if in_multi {
        let gets = names.iter().map(|n| cmd(&["GET", n])).collect();
        let Reply::Array(Some(vals)) = multi_exec(c, gets) else {
            panic!("EXEC of GETs answered no array")
        };
        return vals.iter().map(int).collect();
    }
    let mut mget = vec![b"MGET".to_vec()];
    mget.extend(names.iter().map(|n| n.as_bytes().to_vec()));
    c.send(&[mget]);
    let Reply::Array(Some(vals)) = c.read() else {
        panic!("MGET answered no array")
    };
    vals.iter().map(int).collect()
}

/// One writer's transactions; returns the net effect it committed on each
/// account and how many committed.
fn writer(addr: SocketAddr, seed: u64, rounds: usize) -> (Vec<i64>, usize) {
    let mut c = connect(addr);
    let mut rng = Rng(seed);
    let mut net = [0i64; ACCOUNTS];
    let mut committed = 0;
    for _ in 0..rounds {
        let x = 1 + rng.below(50) as i64;
        match rng.below(3) {
            // A transfer.
            0 => {
                let v = rng.accounts(2);
                let (a, b) = (account(v[0]), account(v[1]));
                let moves = vec![
                    cmd(&["DECRBY", &a, &x.to_string()]),
                    cmd(&["INCRBY", &b, &x.to_string()]),
                ];
                let Reply::Array(Some(r)) = multi_exec(&mut c, moves) else {
                    panic!("EXEC failed")
                };
                assert_eq!(r.len(), 2);
                net[v[0]] -= x;
                net[v[1]] += x;
                committed += 1;
            }
            // A split three ways.
            1 => {
                let v = rng.accounts(3);
                let y = x / 2;
                let moves = vec![
                    cmd(&["DECRBY", &account(v[0]), &x.to_string()]),
                    cmd(&["INCRBY", &account(v[1]), &y.to_string()]),
                    cmd(&["INCRBY", &account(v[2]), &(x - y).to_string()]),
                ];
                let Reply::Array(Some(r)) = multi_exec(&mut c, moves) else {
                    panic!("EXEC failed")
                };
                assert_eq!(r.len(), 3);
                net[v[0]] -= x;
                net[v[1]] += y;
                net[v[2]] += x - y;
                committed += 1;
            }
            // A read-modify-write guarded by WATCH: moves half of one
            // balance to another, or nothing when another client wrote
            // either key between the read and EXEC.
            _ => {
                let v = rng.accounts(2);
                let (a, b) = (account(v[0]), account(v[1]));
                c.send(&[cmd(&["WATCH", &a, &b]), cmd(&["MGET", &a, &b])]);
                c.read();
                let Reply::Array(Some(vals)) = c.read() else {
                    panic!("MGET answered no array")
                };
                let (va, vb) = (int(&vals[0]), int(&vals[1]));
                let moved = va / 2;
                let sets = vec![
                    cmd(&["SET", &a, &(va - moved).to_string()]),
                    cmd(&["SET", &b, &(vb + moved).to_string()]),
                ];
                match multi_exec(&mut c, sets) {
                    Reply::Array(Some(_)) => {
                        net[v[0]] -= moved;
                        net[v[1]] += moved;
                        committed += 1;
                    }
                    Reply::Array(None) => {}
                    other => panic!("EXEC answered {other:?}"),
                }
            }
        }
    }
    (net.to_vec(), committed)
}

#[test]
fn random_transactions_on_four_shards_are_serializable_and_lose_nothing() {
    let (child, addr, _log) = serve(&kv_config(4));
    let (mut c, total) = open_ledger(addr);

    let writers: Vec<_> = (0..6)
        .map(|w| std::thread::spawn(move || writer(addr, 0x9E37_79B9 + w, 400)))
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stop = std::sync::Arc::clone(&done);
            let h = std::thread::spawn(move || {
                let mut c = connect(addr);
                let mut snapshots = 0usize;
                // Bounded: stops when the writers are done, or after 100,000.
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && snapshots < 100_000 {
                    let ledger = snapshot(&mut c, (snapshots + r) % 2 == 1);
                    assert_eq!(
                        ledger.iter().sum::<i64>(),
                        total,
                        "a snapshot saw part of a transaction: {ledger:?}"
                    );
                    snapshots += 1;
                }
                snapshots
            });
            (done, h)
        })
        .collect();
    let mut net = [0i64; ACCOUNTS];
    let mut committed = 0;
    for w in writers {
        let (n, k) = w.join().unwrap();
        for (t, d) in net.iter_mut().zip(n) {
            *t += d;
        }
        committed += k;
    }
    let mut snapshots = 0;
    for (done, h) in readers {
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        snapshots += h.join().unwrap();
    }
    // Every committed transaction counted once, none lost or doubled.
    let last = snapshot(&mut c, false);
    let want: Vec<i64> = net.iter().map(|d| START + d).collect();
    assert_eq!(last, want, "final balances against the committed history");
    assert!(committed >= 6 * 400 * 2 / 3, "{committed} committed");
    assert!(snapshots > 0);
    eprintln!("{committed} transactions committed, {snapshots} snapshots, all consistent");
    drop(c);
    stop(child);
}

#[test]
fn transactions_whose_client_leaves_before_the_reply_still_apply_whole() {
    let (child, addr, _log) = serve(&kv_config(4));
    let (mut c, total) = open_ledger(addr);
    let mut rng = Rng(42);
    // 40 clients each send 25 transfers and an MSETNX across shards, then
    // close at once, without reading: their transactions are in flight
    // on other shards when the connection goes.
    for _ in 0..40 {
        let mut leaver = connect(addr);
        let mut cmds = Vec::new();
        for _ in 0..25 {
            let v = rng.accounts(2);
            let x = (1 + rng.below(9)).to_string();
            cmds.push(cmd(&["MULTI"]));
            cmds.push(cmd(&["DECRBY", &account(v[0]), &x]));
            cmds.push(cmd(&["INCRBY", &account(v[1]), &x]));
            cmds.push(cmd(&["EXEC"]));
        }
        cmds.push(cmd(&[
            "MSETNX", "left:a", "1", "left:b", "1", "left:c", "1",
        ]));
        leaver.send(&cmds);
        drop(leaver);
        // Meanwhile the ledger stays whole, and every key answers (a lock
        // left behind would hold this read until its timeout).
        let ledger = snapshot(&mut c, false);
        assert_eq!(ledger.iter().sum::<i64>(), total, "{ledger:?}");
    }
    // MSETNX set all three keys or none, and every account still answers
    // a write.
    c.send(&[cmd(&["EXISTS", "left:a", "left:b", "left:c"])]);
    let n = int(&c.read());
    assert!(n == 0 || n == 3, "MSETNX applied in part: {n} of 3 keys");
    for i in 0..ACCOUNTS {
        c.send(&[cmd(&["INCRBY", &account(i), "0"])]);
        int(&c.read());
    }
    assert_eq!(snapshot(&mut c, true).iter().sum::<i64>(), total);
    drop(c);
    stop(child);
}
