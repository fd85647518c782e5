//! The random-command differential: one generator's commands to
//! redis-server and kv, every reply compared; and the keyspaces compared
//! after a crash and a reshard.

use super::*;

/// Sends the same random commands to redis-server and kv and compares
/// every reply (`KV_DIFF_SEED` and `KV_DIFF_COMMANDS` override the seed and
/// the count).
pub(super) fn differential(resp3: bool, commands: usize, persist: bool) {
    let seed: u64 = std::env::var("KV_DIFF_SEED").map_or(0x5eed_2026, |v| v.parse().unwrap());
    let total: usize = std::env::var("KV_DIFF_COMMANDS").map_or(commands, |v| v.parse().unwrap());
    let dir = temp_dir("kv-differential");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let config = |shards| {
        let mut c = kv_config(shards);
        if persist {
            c += &format!(
                "[listener.kv]\nappendonly = true\nappendfsync = \"everysec\"\ndir = \"{}\"\n",
                dir.display()
            );
        }
        c
    };
    let (child, addr, log) = serve(&config(3));
    let mut child = Reap(child);
    // The server's log on this test's stderr: a panic shows up there.
    std::thread::spawn(move || {
        for line in log.lines().map_while(Result::ok) {
            eprintln!("kv: {line}");
        }
    });
    let (mut theirs, mut ours) = (redis_client(&sock), kv_client(addr));
    if resp3 {
        let hello = multibulk(&["HELLO", "3"]);
        theirs.send(&hello);
        ours.send(&hello);
        // (Their connection ids differ.)
        let (t, o) = (theirs.read(), ours.read());
        assert!(matches!(t, Reply::Map(_)), "{}", show(&t));
        assert!(
            matches!(o, Reply::Map(ref m) if m.len() == 7),
            "{}",
            show(&o)
        );
    }
    // splitmix64 of the seed: every seed its own sequence, never zero.
    let mut rng = Rng({
        let z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) | 1
    });
    let mut compared = 0;
    let mut transactions = 0;
    let mut inlines = 0;
    let mut history: Vec<String> = Vec::new();
    let mut batch = 0;
    while compared < total {
        batch += 1;
        let n = 1 + rng.below(16);
        let mut cmds: Vec<Vec<Vec<u8>>> = (0..n).map(|_| command(&mut rng)).collect();
        if rng.chance(12) {
            // A transaction: any command inside, all-shard ones and
            // SELECT too; now and then a nested MULTI, a DISCARD, or an
            // EXEC with none.
            transactions += 1;
            cmds.insert(0, vec![b"MULTI".to_vec()]);
            if rng.chance(10) {
                let at = 1 + rng.below(cmds.len());
                cmds.insert(at, vec![b"MULTI".to_vec()]);
            }
            cmds.push(vec![if rng.chance(10) {
                b"DISCARD".to_vec()
            } else {
                b"EXEC".to_vec()
            }]);
        } else if rng.chance(2) {
            cmds.push(vec![b"EXEC".to_vec()]);
        }
        let mut wire = Vec::new();
        for c in &cmds {
            match rng.chance(8).then(|| inline(&mut rng, c)).flatten() {
                Some(line) => {
                    inlines += 1;
                    wire.extend_from_slice(&line);
                }
                None => wire.extend_from_slice(&multibulk(c)),
            }
        }
        theirs.send(&wire);
        ours.send(&wire);
        history.push(format!("-- batch {batch}"));
        let mut queued: Vec<Vec<u8>> = Vec::new();
        let mut in_multi = false;
        for c in &cmds {
            let name = c[0].to_ascii_lowercase();
            let (t, o) = (theirs.read(), ours.read());
            // EXEC's replies normalised one by one, by what was queued.
            let norm = |r: Reply| match (name.as_slice(), r) {
                (b"exec", Reply::Array(Some(v))) if v.len() == queued.len() => Reply::Array(Some(
                    v.into_iter()
                        .zip(&queued)
                        .map(|(r, q)| normalise(q, r))
                        .collect(),
                )),
                (_, r) => normalise(&name, r),
            };
            let (t, o) = (norm(t), norm(o));
            match name.as_slice() {
                b"multi" => in_multi = true,
                b"exec" | b"discard" => {
                    in_multi = false;
                    queued.clear();
                }
                _ if in_multi && t == Reply::Simple(b"QUEUED".to_vec()) => {
                    queued.push(name.clone())
                }
                _ => {}
            }
            let shown: Vec<String> = c
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            history.push(format!("{shown:?} -> {}", show(&t)));
            if o != t {
                let recent = history[history.len().saturating_sub(80)..].join("\n");
                panic!(
                    "seed {seed}, batch {batch}: {shown:?}: kv {}, redis-server {}\n\
                     rerun: KV_DIFF_SEED={seed} cargo nextest run -p shardloop-apps --test kv_differential\n\
                     before:\n{recent}",
                    show(&o),
                    show(&t)
                );
            }
            compared += 1;
        }
        if history.len() > 10_000 {
            history.drain(..5_000);
        }
        if persist && batch % 300 == 0 {
            ours.send(&multibulk(&["BGREWRITEAOF"]));
            assert_eq!(
                ours.read(),
                Reply::Simple(b"Background append only file rewriting started".to_vec())
            );
        }
    }
    if persist {
        drop(ours);
        let theirs = keyspace(&mut redis_client(&sock));
        let before = keyspace(&mut kv_client(addr));
        assert_eq!(without_times(&before), without_times(&theirs));
        assert!(theirs.iter().filter(|k| !k.contains(" none ")).count() > 0);
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        for shards in [3, 2] {
            let (c, addr, _log) = serve(&config(shards));
            child = Reap(c);
            let after = keyspace(&mut kv_client(addr));
            assert_eq!(after, before, "after a restart on {shards} shards");
            sigterm(&child.0);
            wait_exit(&mut child.0);
        }
        eprintln!("seed {seed}: {total} commands, persisted: the 7 keys are redis-server's after a kill -9 and a reshard: {before:?}");
        return;
    }
    // Every key ends the same on both.
    for k in 0..7 {
        let cmd = multibulk(&[b"TYPE".to_vec(), format!("k{k}").into_bytes()]);
        theirs.send(&cmd);
        ours.send(&cmd);
        assert_eq!(ours.read(), theirs.read(), "k{k}");
    }
    eprintln!(
        "seed {seed}{}: {compared} commands compared ({transactions} transactions, {inlines} inline), all equal",
        if resp3 { ", RESP3" } else { "" }
    );
    drop(ours);
    sigterm(&child.0);
}

pub(super) fn kv_client(addr: std::net::SocketAddr) -> Client<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    Client {
        r: BufReader::new(s),
    }
}

/// A client of the redis-server at `sock`.
pub(super) fn redis_client(sock: &std::path::Path) -> Client<UnixStream> {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    Client {
        r: BufReader::new(s),
    }
}

/// Each of the generator's keys: its type, its value (set members and
/// hash fields sorted) and its absolute expiry, a line each.
pub(super) fn keyspace<S: Read + Write>(c: &mut Client<S>) -> Vec<String> {
    let mut ask = |args: &[&str]| {
        c.send(&multibulk(args));
        c.read()
    };
    (0..7)
        .map(|k| {
            let key = format!("k{k}");
            let Reply::Simple(t) = ask(&["TYPE", &key]) else {
                panic!("TYPE")
            };
            let t = String::from_utf8(t).unwrap();
            let mut v = match t.as_str() {
                "string" => ask(&["GET", &key]),
                "list" => ask(&["LRANGE", &key, "0", "-1"]),
                "hash" => ask(&["HGETALL", &key]),
                "set" => ask(&["SMEMBERS", &key]),
                "zset" => ask(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                _ => Reply::Null,
            };
            if let (Reply::Array(Some(items)), "hash") = (&mut v, t.as_str()) {
                let mut pairs: Vec<Vec<Reply>> = items.chunks(2).map(<[_]>::to_vec).collect();
                pairs.sort();
                *items = pairs.concat();
            }
            if let (Reply::Array(Some(items)), "set") = (&mut v, t.as_str()) {
                items.sort();
            }
            let at = ask(&["PEXPIRETIME", &key]);
            format!("{key} {t} {} {}", show(&v), show(&at))
        })
        .collect()
}

/// Keyspace lines with the expiry only as "volatile" or not (kv and
/// redis-server each computed a relative expiry from its own clock).
pub(super) fn without_times(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let (head, at) = l.rsplit_once(' ').unwrap();
            format!(
                "{head} {}",
                if at.starts_with('-') { at } else { "volatile" }
            )
        })
        .collect()
}
