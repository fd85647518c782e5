//! Pipelined multi-key commands, a key renamed across shards, and real-time
//! order across shards.

use super::*;

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
