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

mod common;

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

#[test]
fn pipelined_multi_key_commands_are_each_atomic_and_in_order() {
    let (child, addr, _log) = serve(&kv_config(4));
    let keys: Vec<String> = (0..12).map(|i| format!("pipe:{i}")).collect();
    let mset = |round: usize| {
        let mut c = vec![b"MSET".to_vec()];
        for k in &keys {
            c.push(k.clone().into_bytes());
            c.push(round.to_string().into_bytes());
        }
        c
    };
    let mget = {
        let mut c = vec![b"MGET".to_vec()];
        c.extend(keys.iter().map(|k| k.clone().into_bytes()));
        c
    };
    // One connection's pipeline: its own writes and reads in the order
    // sent, a single-key command between them waiting its turn.
    let mut c = connect(addr);
    c.send(&[
        mset(1),
        mget.clone(),
        mset(2),
        cmd(&["GET", &keys[5]]),
        cmd(&["DEL", &keys[0], &keys[7], "pipe:none"]),
        cmd(&["EXISTS", &keys[0], &keys[1], &keys[7]]),
        mget.clone(),
    ]);
    assert_eq!(c.read(), Reply::Simple("OK".into()));
    let Reply::Array(Some(v)) = c.read() else {
        panic!()
    };
    assert!(v.iter().all(|x| int(x) == 1), "{v:?}");
    assert_eq!(c.read(), Reply::Simple("OK".into()));
    assert_eq!(int(&c.read()), 2);
    assert_eq!(c.read(), Reply::Int(2));
    assert_eq!(c.read(), Reply::Int(1));
    let Reply::Array(Some(v)) = c.read() else {
        panic!()
    };
    assert_eq!(v[0], Reply::Bulk(None));
    assert_eq!(int(&v[1]), 2);

    // A writer pipelines rounds of MSET over every key; readers pipeline
    // MGETs: each MGET sees one round whole, and a reader never sees a
    // round older than one it saw.
    let writer_keys = keys.clone();
    let writer = std::thread::spawn(move || {
        let mut w = connect(addr);
        for batch in 0..60 {
            let cmds: Vec<_> = (0..16)
                .map(|i| {
                    let round = 10 + batch * 16 + i;
                    let mut c = vec![b"MSET".to_vec()];
                    for k in &writer_keys {
                        c.push(k.clone().into_bytes());
                        c.push(round.to_string().into_bytes());
                    }
                    c
                })
                .collect();
            w.send(&cmds);
            for _ in 0..16 {
                assert_eq!(w.read(), Reply::Simple("OK".into()));
            }
        }
    });
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mget = mget.clone();
            std::thread::spawn(move || {
                let mut r = connect(addr);
                let mut last = 0;
                for _ in 0..300 {
                    r.send(&vec![mget.clone(); 8]);
                    for _ in 0..8 {
                        let Reply::Array(Some(v)) = r.read() else {
                            panic!()
                        };
                        let seen: Vec<i64> = v
                            .iter()
                            .map(|x| match x {
                                Reply::Bulk(None) => 0,
                                x => int(x),
                            })
                            .collect();
                        let round = seen.iter().copied().max().unwrap();
                        assert!(
                            seen.iter().all(|&x| x == round || (x == 0 && round <= 2)),
                            "half a pipelined MSET seen: {seen:?}"
                        );
                        assert!(round >= last, "went back from round {last} to {round}");
                        last = round;
                    }
                }
            })
        })
        .collect();
    // And single GETs, one after the other: once one key shows a round,
    // every key read after it shows that round or a later one (an MSET is
    // seen whole or not at all, across shards too).
    let single_keys = keys.clone();
    let singles = std::thread::spawn(move || {
        let mut r = connect(addr);
        let value = |r: &mut Resp<TcpStream>, k: &str| {
            r.send(&[cmd(&["GET", k])]);
            match r.read() {
                Reply::Bulk(None) => 0,
                x => int(&x),
            }
        };
        for i in 0..3000 {
            let first = value(&mut r, &single_keys[0]);
            let other = &single_keys[1 + i % (single_keys.len() - 1)];
            let then = value(&mut r, other);
            assert!(
                then >= first || (first <= 2 && then == 0),
                "{} showed round {first}, then {other} showed {then}",
                single_keys[0]
            );
        }
    });
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    singles.join().unwrap();
    drop(c);
    stop(child);
}

#[test]
fn a_key_renamed_across_shards_is_in_exactly_one_place_at_every_moment() {
    let (child, addr, _log) = serve(&kv_config(4));
    let names: Vec<String> = (0..8).map(|i| format!("token:{i}")).collect();
    let mut c = connect(addr);
    c.send(&[cmd(&["SET", &names[0], "the token"])]);
    assert_eq!(c.read(), Reply::Simple("OK".into()));
    // Movers RENAME the token from one random name to another (an error
    // when it is not there); a reader counts the names that exist.
    let movers: Vec<_> = (0..4)
        .map(|m| {
            let names = names.clone();
            std::thread::spawn(move || {
                let mut c = connect(addr);
                let mut rng = Rng(0xDEAD_BEEF + m);
                let mut moved = 0;
                for _ in 0..400 {
                    let v = rng.accounts(2);
                    c.send(&[cmd(&["RENAME", &names[v[0]], &names[v[1]]])]);
                    match c.read() {
                        Reply::Simple(ok) if ok == "OK" => moved += 1,
                        Reply::Error(e) if e.starts_with("ERR no such key") => {}
                        other => panic!("RENAME answered {other:?}"),
                    }
                }
                moved
            })
        })
        .collect();
    let mut r = connect(addr);
    let mut looks = 0;
    while !movers.iter().all(|m| m.is_finished()) && looks < 100_000 {
        let mut exists = vec![b"EXISTS".to_vec()];
        exists.extend(names.iter().map(|n| n.as_bytes().to_vec()));
        r.send(&[exists]);
        assert_eq!(r.read(), Reply::Int(1), "the token in two places or none");
        looks += 1;
    }
    let moved: usize = movers.into_iter().map(|m| m.join().unwrap()).sum();
    assert!(moved > 0 && looks > 0);
    // Where it is now holds it, whole.
    let mut mget = vec![b"MGET".to_vec()];
    mget.extend(names.iter().map(|n| n.as_bytes().to_vec()));
    c.send(&[mget]);
    let Reply::Array(Some(v)) = c.read() else {
        panic!()
    };
    let found: Vec<_> = v.iter().filter(|x| **x != Reply::Bulk(None)).collect();
    assert_eq!(found, vec![&Reply::Bulk(Some(b"the token".to_vec()))]);
    drop((c, r));
    stop(child);
}

#[test]
fn a_multi_shard_read_never_sees_a_clients_second_write_without_its_first() {
    let (child, addr, _log) = serve(&kv_config(4));
    // Pairs of keys; a writer sets the first of each pair, then (once
    // that is acknowledged) the second, to the same rising number.
    let pairs: Vec<(String, String)> = (0..6)
        .map(|i| (format!("w1:{i}"), format!("w2:{i}")))
        .collect();
    let writer_pairs = pairs.clone();
    let writer = std::thread::spawn(move || {
        let mut w = connect(addr);
        for n in 1..=600 {
            let (a, b) = &writer_pairs[n % writer_pairs.len()];
            for k in [a, b] {
                w.send(&[cmd(&["SET", k, &n.to_string()])]);
                assert_eq!(w.read(), Reply::Simple("OK".into()));
            }
        }
    });
    let value = |r: &Reply| match r {
        Reply::Bulk(None) => 0,
        x => int(x),
    };
    let mut r = connect(addr);
    let mut reads = 0;
    while !writer.is_finished() && reads < 100_000 {
        let (a, b) = &pairs[reads % pairs.len()];
        // MGET runs in place on each shard; MULTI of GETs runs on copies.
        let got: Vec<Reply> = if reads % 2 == 0 {
            r.send(&[cmd(&["MGET", a, b])]);
            let Reply::Array(Some(v)) = r.read() else {
                panic!()
            };
            v
        } else {
            let gets = vec![cmd(&["GET", a]), cmd(&["GET", b])];
            let Reply::Array(Some(v)) = multi_exec(&mut r, gets) else {
                panic!()
            };
            v
        };
        let (first, second) = (value(&got[0]), value(&got[1]));
        assert!(
            first >= second,
            "{b} = {second} seen with {a} = {first}, though {a} was set first"
        );
        reads += 1;
    }
    writer.join().unwrap();
    assert!(reads > 0);
    drop(r);
    stop(child);
}
