//! Server features, script against script with redis-server: keyspace
//! notifications, CONFIG SET's checks, maxmemory, DUMP/RESTORE and WATCH with
//! expiry.

use super::*;

/// Keyspace notifications against both servers: a subscriber of
/// `__key*` receives, for a script of commands on one shard's keys (a hash
/// tag), the same events in the same order as from redis-server, with
/// `notify-keyspace-events` set to every class; then with a mask (lists
/// only) and with keyevent only; an expiry is told as `expired`; CONFIG
/// GET prints the flags as Redis does. The commands: the string, generic,
/// list, set, hash and sorted-set writes, RENAME, COPY, the moves, the
/// STOREs, the pops and the range removals.
#[test]
fn keyspace_notifications_are_redis_server_s() {
    let dir = temp_dir("kv-notify");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let _child = Reap(child);
    let script: &[&[&str]] = &[
        &["SET", "{t}s", "1"],
        &["SET", "{t}s", "2", "EX", "100"],
        &["INCR", "{t}s"],
        &["INCRBYFLOAT", "{t}s", "1.5"],
        &["APPEND", "{t}s", "x"],
        &["SETRANGE", "{t}s", "0", "y"],
        &["PERSIST", "{t}s"],
        &["EXPIRE", "{t}s", "100"],
        &["PERSIST", "{t}s"],
        &["GETSET", "{t}s", "3"],
        &["SETNX", "{t}s", "4"],
        &["SETNX", "{t}n", "4"],
        &["SETEX", "{t}n", "100", "5"],
        &["MSET", "{t}a", "1", "{t}b", "2"],
        &["DEL", "{t}a", "{t}nothing", "{t}b"],
        &["GETDEL", "{t}n"],
        &["LPUSH", "{t}l", "a", "b"],
        &["RPUSH", "{t}l", "c"],
        &["LPUSHX", "{t}l", "d"],
        &["RPUSHX", "{t}none", "d"],
        &["LPOP", "{t}l"],
        &["RPOP", "{t}l", "5"],
        &["SADD", "{t}set", "a", "b"],
        &["SADD", "{t}set", "a"],
        &["SREM", "{t}set", "x"],
        &["SREM", "{t}set", "a", "b"],
        &["HSET", "{t}h", "f", "1"],
        &["HMSET", "{t}h", "g", "2"],
        &["HSETNX", "{t}h", "f", "9"],
        &["HSETNX", "{t}h", "n", "9"],
        &["HINCRBY", "{t}h", "f", "2"],
        &["HINCRBYFLOAT", "{t}h", "f", "0.5"],
        &["HDEL", "{t}h", "f", "g", "n"],
        &["ZADD", "{t}z", "1", "a", "2", "b"],
        &["ZADD", "{t}z", "1", "a"],
        &["ZADD", "{t}z", "INCR", "5", "a"],
        &["ZINCRBY", "{t}z", "1", "b"],
        &["ZREM", "{t}z", "x"],
        &["ZREM", "{t}z", "a", "b"],
        &["RPUSH", "{t}l2", "a", "b", "c", "d", "e", "a"],
        &["LSET", "{t}l2", "0", "z"],
        &["LINSERT", "{t}l2", "BEFORE", "b", "y"],
        &["LINSERT", "{t}l2", "BEFORE", "nope", "y"],
        &["LREM", "{t}l2", "0", "a"],
        &["LREM", "{t}l2", "0", "nope"],
        &["LTRIM", "{t}l2", "0", "3"],
        &["LMOVE", "{t}l2", "{t}l3", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "{t}l3", "{t}l3"],
        &["LTRIM", "{t}l3", "5", "1"],
        &["RENAME", "{t}l2", "{t}l4"],
        &["COPY", "{t}l4", "{t}l5"],
        &["RENAMENX", "{t}l5", "{t}l4"],
        &["RENAME", "{t}l5", "{t}l4"],
        &["RENAME", "{t}l4", "{t}l4"],
        &["SORT", "{t}l4", "ALPHA", "STORE", "{t}sorted"],
        &["SORT", "{t}missing", "STORE", "{t}sorted"],
        &["SADD", "{t}s1", "a", "b", "c"],
        &["SADD", "{t}s2", "b", "c", "d"],
        &["SINTERSTORE", "{t}s3", "{t}s1", "{t}s2"],
        &["SUNIONSTORE", "{t}s3", "{t}s1", "{t}s2"],
        &["SDIFFSTORE", "{t}s3", "{t}s1", "{t}s1"],
        &["SMOVE", "{t}s1", "{t}s2", "a"],
        &["SMOVE", "{t}s1", "{t}s2", "b"],
        &["SMOVE", "{t}s1", "{t}s2", "c"],
        &["SPOP", "{t}s2"],
        &["SPOP", "{t}s2", "0"],
        &["SPOP", "{t}s2", "10"],
        &["ZADD", "{t}z1", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["ZADD", "{t}z2", "1", "a"],
        &["ZUNIONSTORE", "{t}z3", "2", "{t}z1", "{t}z2"],
        &["ZINTERSTORE", "{t}z3", "2", "{t}z1", "{t}z2"],
        &["ZDIFFSTORE", "{t}z3", "2", "{t}z2", "{t}z1"],
        &["ZRANGESTORE", "{t}z4", "{t}z1", "0", "1"],
        &["ZPOPMIN", "{t}z1"],
        &["ZPOPMAX", "{t}z1", "1"],
        &["ZREMRANGEBYSCORE", "{t}z4", "0", "1"],
        &["ZREMRANGEBYRANK", "{t}z4", "0", "0"],
        &["ZADD", "{t}z5", "0", "a", "0", "b"],
        &["ZREMRANGEBYLEX", "{t}z5", "-", "+"],
        &["ZPOPMIN", "{t}z1", "5"],
        &["RPUSH", "{t}ml", "a", "b", "c"],
        &["LMPOP", "1", "{t}ml", "LEFT", "COUNT", "2"],
        &["LMPOP", "1", "{t}ml", "RIGHT"],
        &["ZADD", "{t}mz", "1", "a", "2", "b"],
        &["ZMPOP", "1", "{t}mz", "MIN"],
        &["ZMPOP", "1", "{t}mz", "MAX", "COUNT", "5"],
        &["SET", "{t}gx", "v"],
        &["GETEX", "{t}gx", "EX", "100"],
        &["GETEX", "{t}gx", "PERSIST"],
        &["GETEX", "{t}gx", "PERSIST"],
        &["GETEX", "{t}gx", "PXAT", "1"],
        &["SETBIT", "{t}bits", "7", "1"],
        &["SETBIT", "{t}bits", "7", "1"],
        &["EXPIRE", "{t}s", "0"],
        &["PSETEX", "{t}e", "20", "v"],
    ];
    fn run<S: Read + Write>(
        mut connect: impl FnMut() -> Client<S>,
        script: &[&[&str]],
    ) -> Vec<Vec<Reply>> {
        let mut c = connect();
        let mut sub = connect();
        sub.send(&multibulk(&["PSUBSCRIBE", "__key*"]));
        sub.read();
        let mut runs = Vec::new();
        for flags in ["KEA", "KEAn", "Kl", "E$x", ""] {
            c.send(&multibulk(&["FLUSHALL"]));
            c.read();
            c.send(&multibulk(&[
                "CONFIG",
                "SET",
                "notify-keyspace-events",
                flags,
            ]));
            assert_eq!(c.read(), Reply::Simple(b"OK".to_vec()));
            c.send(&multibulk(&["CONFIG", "GET", "notify-keyspace-events"]));
            let mut got = vec![c.read()];
            for cmd in script {
                c.send(&multibulk(cmd));
                c.read();
            }
            // The key set with a 20 ms expiry goes: wait until it has.
            let start = Instant::now();
            loop {
                c.send(&multibulk(&["EXISTS", "{t}e"]));
                if c.read() == Reply::Int(0) {
                    break;
                }
                assert!(start.elapsed() < DEADLINE, "{{t}}e never expired");
                std::thread::sleep(Duration::from_millis(10));
            }
            c.send(&multibulk(&["PUBLISH", "__keyend", flags]));
            c.read();
            loop {
                let m = sub.read();
                let end = matches!(&m, Reply::Array(Some(parts)) if parts.get(2) == Some(&Reply::Bulk(Some(b"__keyend".to_vec()))));
                got.push(m);
                if end {
                    break;
                }
            }
            runs.push(got);
        }
        c.send(&multibulk(&[
            "CONFIG",
            "SET",
            "notify-keyspace-events",
            "KQ",
        ]));
        runs.push(vec![c.read()]);
        runs
    }
    let theirs = run(|| redis_client(&sock), script);
    let ours = run(|| kv_client(addr), script);
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            o.iter().map(show).collect::<Vec<_>>(),
            t.iter().map(show).collect::<Vec<_>>(),
            "run {i}"
        );
    }
    assert!(theirs[0].len() > 40, "{}", theirs[0].len());
}

/// CONFIG SET checks values as Redis 7.0 does (booleans, enums, numbers
/// with their bounds, memory units, percents, a parameter named twice),
/// with Redis's error texts, and CONFIG GET prints what was stored as
/// redis-server prints it.
#[test]
fn config_set_checks_values_as_redis_server_does() {
    let dir = temp_dir("kv-config-set");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let _child = Reap(child);
    let (mut theirs, mut ours) = (redis_client(&sock), kv_client(addr));
    let sets: &[&[&str]] = &[
        &["maxmemory", "bla"],
        &["maxmemory", "-1"],
        &["maxmemory", "12KB"],
        &["maxmemory", "3m"],
        &["maxmemory", "0"],
        &["maxmemory-policy", "lru"],
        &["maxmemory-policy", "VOLATILE-TTL"],
        &["maxmemory-policy", "noeviction"],
        &["maxmemory-samples", "0"],
        &["maxmemory-samples", "+5"],
        &["maxmemory-samples", "7"],
        &["maxmemory-clients", "200%"],
        &["maxmemory-clients", "10%"],
        &["maxmemory-clients", "0"],
        &["hz", "01"],
        &["hz", "10"],
        &["maxclients", "-1"],
        &["lazyfree-lazy-eviction", "maybe"],
        &["lazyfree-lazy-eviction", "No"],
        &["appendfsync", "sometimes"],
        &["shutdown-on-sigterm", "nosave now"],
        &["shutdown-on-sigterm", "default"],
        &["list-max-listpack-size", "-2"],
        &["maxmemory", "1", "maxmemory", "2"],
        &["maxmemory", "1", "hz", "x"],
    ];
    for args in sets {
        let mut cmd = vec!["CONFIG", "SET"];
        cmd.extend_from_slice(args);
        let cmd = multibulk(&cmd);
        theirs.send(&cmd);
        ours.send(&cmd);
        assert_eq!(ours.read(), theirs.read(), "CONFIG SET {args:?}");
    }
    for name in [
        "maxmemory",
        "maxmemory-policy",
        "maxmemory-samples",
        "maxmemory-clients",
        "hz",
        "lazyfree-lazy-eviction",
        "shutdown-on-sigterm",
    ] {
        let cmd = multibulk(&["CONFIG", "GET", name]);
        theirs.send(&cmd);
        ours.send(&cmd);
        assert_eq!(ours.read(), theirs.read(), "CONFIG GET {name}");
    }
}

/// Over `maxmemory` (1 byte) with `noeviction`: writes are refused with
/// Redis's OOM error, reads and deletes run, MULTI refuses what it would
/// queue and EXEC aborts; EXEC of a transaction holding a write aborts
/// with the reason when the limit is lowered while it is queued, one of
/// reads only runs; DISCARD runs. With `allkeys-lru`, lowering the limit
/// evicts at once, with an `evicted` event. Every reply is redis-server's.
#[test]
fn maxmemory_refusals_and_evictions_answer_as_redis_server_does() {
    let dir = temp_dir("kv-maxmemory");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let _child = Reap(child);
    let (mut theirs, mut ours) = (redis_client(&sock), kv_client(addr));
    let (mut theirs2, mut ours2) = (redis_client(&sock), kv_client(addr));
    // (client, command): client 1 is the admin connection.
    let script: &[(u8, &[&str])] = &[
        (0, &["SET", "foo", "bar"]),
        (1, &["CONFIG", "SET", "maxmemory", "1"]),
        (0, &["SET", "a", "b"]),
        (0, &["LPUSH", "l", "x"]),
        (0, &["GET", "foo"]),
        (0, &["DEL", "nope"]),
        (0, &["MULTI"]),
        (0, &["SET", "x", "1"]),
        (0, &["GET", "x"]),
        (0, &["EXEC"]),
        (0, &["MULTI"]),
        (0, &["DISCARD"]),
        (1, &["CONFIG", "SET", "maxmemory", "0"]),
        (0, &["MULTI"]),
        (0, &["SET", "x", "1"]),
        (0, &["GET", "x"]),
        (1, &["CONFIG", "SET", "maxmemory", "1"]),
        (0, &["EXEC"]),
        (0, &["GET", "x"]),
        (1, &["CONFIG", "SET", "maxmemory", "0"]),
        (0, &["MULTI"]),
        (0, &["GET", "foo"]),
        (0, &["PING"]),
        (1, &["CONFIG", "SET", "maxmemory", "1"]),
        (0, &["EXEC"]),
        (1, &["CONFIG", "SET", "maxmemory", "0"]),
        (0, &["INFO", "nosuchsection"]),
    ];
    for (who, cmd) in script {
        let bytes = multibulk(cmd);
        let (t, o) = if *who == 0 {
            (&mut theirs, &mut ours)
        } else {
            (&mut theirs2, &mut ours2)
        };
        t.send(&bytes);
        o.send(&bytes);
        assert_eq!(o.read(), t.read(), "{cmd:?}");
    }
    // allkeys-lru: lowering the limit evicts foo at once.
    let (mut theirs_sub, mut ours_sub) = (redis_client(&sock), kv_client(addr));
    for cmd in [
        &["CONFIG", "SET", "notify-keyspace-events", "Ee"][..],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    ] {
        theirs.send(&multibulk(cmd));
        ours.send(&multibulk(cmd));
        assert_eq!(ours.read(), theirs.read(), "{cmd:?}");
    }
    let psub = multibulk(&["PSUBSCRIBE", "*"]);
    theirs_sub.send(&psub);
    ours_sub.send(&psub);
    assert_eq!(ours_sub.read(), theirs_sub.read());
    for cmd in [&["CONFIG", "SET", "maxmemory", "1"][..], &["DBSIZE"]] {
        theirs.send(&multibulk(cmd));
        ours.send(&multibulk(cmd));
        assert_eq!(ours.read(), theirs.read(), "{cmd:?}");
    }
    assert_eq!(ours_sub.read(), theirs_sub.read(), "the evicted event");
    for cmd in [
        &["CONFIG", "SET", "maxmemory", "0"][..],
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
    ] {
        theirs.send(&multibulk(cmd));
        ours.send(&multibulk(cmd));
        assert_eq!(ours.read(), theirs.read(), "{cmd:?}");
    }
}

/// DUMP and RESTORE move every type both ways between kv and redis-server
/// (small and big lists, hashes, sets and sorted sets, integer, long and
/// binary strings: listpacks, quicklists, intsets and LZF strings as Redis
/// 7.0 writes them, kv's plain encodings as Redis reads them), and
/// RESTORE refuses what redis-server refuses with its errors.
#[test]
fn dump_and_restore_move_values_between_kv_and_redis_server() {
    python_module("redis", "redis");
    let dir = temp_dir("kv-dump");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let _child = Reap(child);
    let script = r#"import redis, random
kv = redis.Redis(port={port}); rs = redis.Redis(unix_socket_path="{sock}")
def build(r):
    r.flushall()
    r.set("s:int", 12345); r.set("s:neg", -7); r.set("s:big", 2**40); r.set("s:str", "hello")
    r.set("s:long", "abc" * 5000); r.set("s:rand", bytes(random.getrandbits(8) for _ in range(3000)))
    r.rpush("l:small", 127, 32767, 2147483647, 9223372036854775807, 0, 12, -1, -100, "x"*31, "x"*8191, "x"*65535, 1.5, -2**63)
    r.rpush("l:big", *[f"e{i}" for i in range(2000)])
    r.rpush("l:ints", *range(-3000, 3000, 7))
    r.hset("h:small", mapping={"a": 1, "b": "two", "c": -5000000000})
    r.hset("h:big", mapping={f"f{i}": "v"*i for i in range(600)})
    r.sadd("set:int", *range(100)); r.sadd("set:int64", 2**40, -2**40, 5)
    r.sadd("set:str", *[f"m{i}" for i in range(50)]); r.sadd("set:big", *range(1000))
    r.zadd("z:small", {"a": 1.5, "b": -2, "c": 1e300, "d": 0, "e": 3})
    r.zadd("z:big", {f"m{i}": i / 3 for i in range(500)})
    r.zadd("z:inf", {"p": float("inf"), "n": float("-inf")})
def snapshot(r):
    out = {}
    for k in sorted(r.keys("*")):
        t = r.type(k).decode()
        if t == "string": v = r.get(k)
        elif t == "list": v = r.lrange(k, 0, -1)
        elif t == "hash": v = sorted(r.hgetall(k).items())
        elif t == "set": v = sorted(r.smembers(k))
        else: v = r.zrange(k, 0, -1, withscores=True)
        out[k] = (t, v)
    return out
for src, dst, name in [(rs, kv, "redis -> kv"), (kv, rs, "kv -> redis")]:
    build(src)
    dumps = {k: src.dump(k) for k in src.keys("*")}
    want = snapshot(src)
    dst.flushall()
    for k, d in dumps.items():
        dst.restore(k, 0, d)
    got = snapshot(dst)
    bad = [k for k in want if want[k] != got.get(k)]
    assert len(dumps) == 18 and not bad, (name, bad)
# Refusals, as redis-server words them.
for r in (kv, rs):
    r.flushall()
    r.set("k", "v")
d = rs.dump("k")
def answer(r, *args):
    try:
        return r.execute_command(*args)
    except redis.exceptions.ResponseError as e:
        return "error: " + str(e)
cases = [
    ("RESTORE", "k", 0, d),
    ("RESTORE", "n", -1, d),
    ("RESTORE", "n", "x", d),
    ("RESTORE", "n", 0, d[:-1] + bytes([d[-1] ^ 1])),
    ("RESTORE", "n", 0, b"\x00\x01"),
    ("RESTORE", "n", 0, b"\x0f" + d[1:-10] + d[-10:]),
    ("RESTORE", "n", 0, d, "IDLETIME", -1),
    ("RESTORE", "n", 0, d, "FREQ", 300),
    ("RESTORE", "n", 0, d, "IDLETIME", 5, "FREQ", 3),
    ("RESTORE", "n", 0, d, "BOGUS"),
    ("RESTORE", "k", 0, d, "REPLACE"),
    ("RESTORE", "p", 1, d, "ABSTTL"),
    ("RESTORE", "q", 100000, d),
    ("EXISTS", "p"),
    ("GET", "q"),
    ("DUMP", "nope"),
]
for c in cases:
    assert answer(kv, *c) == answer(rs, *c), (c, answer(kv, *c), answer(rs, *c))
print("ok")
"#
        .replace("{port}", &addr.port().to_string())
        .replace("{sock}", &sock.display().to_string());
    let out = tool("python3").arg("-c").arg(&script).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// WATCH and expiry as Redis 7.0 has them: a key watched live that
/// expires before EXEC fails it, read or not (expiry lazy only here);
/// a key already expired when watched does not, even when FLUSHDB or a
/// DEL removes it. Every reply is redis-server's.
#[test]
fn watched_keys_that_expire_fail_exec_as_in_redis_server() {
    let dir = temp_dir("kv-watch-expiry");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let _child = Reap(child);
    let (mut theirs, mut ours) = (redis_client(&sock), kv_client(addr));
    let mut both = |cmd: &[&str]| {
        let bytes = multibulk(cmd);
        theirs.send(&bytes);
        ours.send(&bytes);
        let (t, o) = (theirs.read(), ours.read());
        assert_eq!(o, t, "{cmd:?}");
    };
    both(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    // Watched live, expires, never read: EXEC fails.
    both(&["SET", "key", "1", "PX", "100"]);
    both(&["WATCH", "key"]);
    std::thread::sleep(Duration::from_millis(150));
    both(&["MULTI"]);
    both(&["INCR", "key"]);
    both(&["EXEC"]);
    // Watched when already expired: EXEC runs, after a FLUSHDB too, and
    // after a DEL.
    for then in [&["FLUSHDB"][..], &["DEL", "x"], &["PING"]] {
        both(&["SET", "x", "foo", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(5));
        both(&["WATCH", "x"]);
        both(then);
        both(&["MULTI"]);
        both(&["PING"]);
        both(&["EXEC"]);
    }
    // Watched live with an expiry far off, written meanwhile: fails.
    both(&["SET", "y", "1", "EX", "1000"]);
    both(&["WATCH", "y"]);
    both(&["EXPIRE", "y", "2000"]);
    both(&["MULTI"]);
    both(&["PING"]);
    both(&["EXEC"]);
    both(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
}
