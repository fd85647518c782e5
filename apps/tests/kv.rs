//! The kv app against real Redis clients: redis-cli, redis-benchmark,
//! redis-py. (The differential test against redis-server itself is
//! `kv_differential/`.)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use common::resp::{Reply, Resp};
use common::*;

fn kv_config(shards: usize) -> String {
    format!(
        "[runtime]\nshards = {shards}\npin_cores = false\n[log]\nlevel = \"info\"\nformat = \"json\"\n\
         [[listener]]\nname = \"kv\"\naddress = \"127.0.0.1:0\"\napp = \"kv\"\n"
    )
}

fn cli(addr: SocketAddr, args: &[&str]) -> String {
    let out = tool("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args)
        .output()
        .expect("redis-cli (Debian package redis-tools) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a Python script; fails the test with its output unless it exits
/// with 0. Returns what it printed.
fn python(script: &str) -> String {
    let out = tool("python3").arg("-c").arg(script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn stop(mut child: Child) {
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn redis_cli_session_against_kv_on_three_shards() {
    let (child, addr, _log) = serve(&kv_config(3));
    let cases: &[(&[&str], &str)] = &[
        (&["PING"], "PONG\n"),
        (&["SET", "greeting", "hello"], "OK\n"),
        (&["GET", "greeting"], "hello\n"),
        (&["MSET", "a", "1", "b", "2", "c", "3", "d", "4"], "OK\n"),
        (&["MGET", "a", "b", "c", "d", "nope"], "1\n2\n3\n4\n\n"),
        (&["INCRBY", "a", "41"], "42\n"),
        (&["RENAME", "a", "answer"], "OK\n"),
        (&["EXISTS", "a", "answer", "b"], "2\n"),
        (&["DEL", "b", "c", "d"], "3\n"),
        (&["RPUSH", "list", "x", "y", "z"], "3\n"),
        (&["LRANGE", "list", "0", "-1"], "x\ny\nz\n"),
        (&["HSET", "h", "field", "value"], "1\n"),
        (&["HGET", "h", "field"], "value\n"),
        (&["ZADD", "z", "1", "one", "2", "two"], "2\n"),
        (
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            "one\n1\ntwo\n2\n",
        ),
        (&["TYPE", "list"], "list\n"),
        (&["DBSIZE"], "5\n"),
        (&["SET", "e", "v", "EX", "100"], "OK\n"),
        (&["TTL", "e"], "100\n"),
        // redis-cli prints an error reply followed by an empty line.
        (
            &["GET"],
            "ERR wrong number of arguments for 'get' command\n\n",
        ),
        (
            &["NOSUCH", "x"],
            "ERR unknown command 'NOSUCH', with args beginning with: 'x' \n\n",
        ),
        (
            &["LPUSH", "greeting", "x"],
            "WRONGTYPE Operation against a key holding the wrong kind of value\n\n",
        ),
        (&["FLUSHALL"], "OK\n"),
        (&["DBSIZE"], "0\n"),
        (&["CONFIG", "GET", "appendonly"], "appendonly\nno\n"),
        // Not persisting, so there is no log to rewrite.
        (
            &["BGREWRITEAOF"],
            "ERR kv's append-only log is off (appendonly = false in [listener.kv])\n\n",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(cli(addr, args), *want, "redis-cli {args:?}");
    }
    let info = cli(addr, &["INFO", "stats"]);
    assert!(info.contains("kv_cross_shard_hops:"), "{info}");
    stop(child);
}

#[test]
fn redis_benchmark_default_set_pipelined_with_no_error() {
    let (child, addr, _log) = serve(&kv_config(2));
    let out = tool("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args([
            "-q", "-P", "16", "-n", "5000", "-c", "10", "-r", "1000", "-e",
        ])
        .output()
        .expect("redis-benchmark is installed");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for test in [
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_600 (first 600 elements)",
        "MSET (10 keys)",
    ] {
        let done = text.split(['\r', '\n']).any(|l| {
            l.trim_start().starts_with(&format!("{test}: ")) && l.contains("requests per second")
        });
        assert!(done, "{test} ran to the end: {text}");
    }
    assert!(
        !text.contains("ERR") && !text.contains("WRONGTYPE"),
        "no error reply: {text}"
    );
    stop(child);
}

#[test]
fn protocol_garbage_and_limits_get_redis_errors_then_a_close() {
    let (child, addr, _log) = serve(&kv_config(2));
    for (req, want) in [
        (
            &b"*2147483648\r\n"[..],
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$536870913\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n+PING\r\n",
            "-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            b"SET k \"unclosed\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.write_all(b"PING\r\n").unwrap();
        s.write_all(req).unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert!(got.starts_with("+PONG\r\n"), "{got:?}");
        assert!(got[7..].starts_with(want), "{req:?}: {got:?}");
    }
    // The server serves on.
    assert_eq!(cli(addr, &["PING"]), "PONG\n");
    stop(child);
}

#[test]
fn mset_across_shards_is_atomic_for_concurrent_readers() {
    let (child, addr, _log) = serve(&kv_config(3));
    // Keys that land on different shards (the hash spreads them).
    let keys: Vec<String> = (0..6).map(|i| format!("atomic:{i}")).collect();
    let writer_keys = keys.clone();
    let writer = std::thread::spawn(move || {
        let mut w = Resp {
            r: BufReader::new(TcpStream::connect(addr).unwrap()),
        };
        for round in 0..300 {
            let mut c = vec![b"MSET".to_vec()];
            for k in &writer_keys {
                c.push(k.clone().into_bytes());
                c.push(round.to_string().into_bytes());
            }
            w.send(&[c]);
            assert_eq!(w.read(), Reply::Simple("OK".into()));
        }
    });
    let mut r = Resp {
        r: BufReader::new(TcpStream::connect(addr).unwrap()),
    };
    let mut seen = 0;
    while !writer.is_finished() || seen == 0 {
        let mut c = vec![b"MGET".to_vec()];
        c.extend(keys.iter().map(|k| k.clone().into_bytes()));
        r.send(&[c]);
        let Reply::Array(Some(vals)) = r.read() else {
            panic!()
        };
        assert!(
            vals.windows(2).all(|w| w[0] == w[1]),
            "half an MSET seen: {vals:?}"
        );
        seen += 1;
    }
    writer.join().unwrap();
    assert!(seen > 0);
    drop(r);
    stop(child);
}

#[test]
fn redis_py_basic_use_pipelines_and_transactions() {
    python_module("redis", "redis");
    let (child, addr, _log) = serve(&kv_config(2));
    let script = format!(
        r#"
import redis
r = redis.Redis(host="127.0.0.1", port={port}, decode_responses=True, protocol=2)
# RESP3 too (HELLO 3): maps, sets and doubles as redis-py reads them.
r3 = redis.Redis(host="127.0.0.1", port={port}, decode_responses=True, protocol=3)
r3.hset("py3:h", mapping={{"x": "1"}})
assert r3.hgetall("py3:h") == {{"x": "1"}}
r3.sadd("py3:s", "a", "b")
assert r3.smembers("py3:s") == {{"a", "b"}}
r3.zadd("py3:z", {{"m": 1.5}})
assert r3.zscore("py3:z", "m") == 1.5
assert r3.zrange("py3:z", 0, -1, withscores=True) == [["m", 1.5]] or r3.zrange("py3:z", 0, -1, withscores=True) == [("m", 1.5)]
assert r3.get("py3:none") is None
r3.delete("py3:h", "py3:s", "py3:z")
assert r.ping()
assert r.set("py:a", "1") is True
assert r.get("py:a") == "1"
assert r.incr("py:a", 5) == 6
r.hset("py:h", mapping={{"x": "1", "y": "2"}})
assert r.hgetall("py:h") == {{"x": "1", "y": "2"}}
p = r.pipeline(transaction=False)
for i in range(100):
    p.set(f"py:k{{i}}", i)
p.mget([f"py:k{{i}}" for i in range(100)])
res = p.execute()
assert res[-1] == [str(i) for i in range(100)], res[-1]
t = r.pipeline(transaction=True)
t.set("py:t1", "a").set("py:t2", "b").mget("py:t1", "py:t2")
assert t.execute() == [True, True, ["a", "b"]]
assert r.dbsize() == 104, r.dbsize()
# CLIENT SETNAME, ID, INFO and LIST as redis-py parses them.
r.client_setname("py")
me = r.client_id()
others = [redis.Redis(host="127.0.0.1", port={port}, protocol=2) for _ in range(5)]
for o in others:
    o.ping()
clients = r.client_list()
assert len(clients) == 7, clients  # r, r3 and the five others
assert [c["resp"] for c in clients].count("3") == 1, clients
assert {{int(c["id"]) for c in clients}} >= {{me}}, clients
mine = [c for c in clients if int(c["id"]) == me][0]
assert mine["name"] == "py" and mine["cmd"] == "client|list", mine
assert r.client_info()["id"] == me
assert r.client_list(client_id=[me])[0]["name"] == "py"
assert r.client_list(_type="pubsub") == []
print("ok")
"#,
        port = addr.port()
    );
    assert_eq!(python(&script).trim(), "ok");
    stop(child);
}

#[test]
fn a_client_that_pipelines_without_reading_is_paused_and_memory_stays_bounded() {
    let (child, addr, _log) = serve(&kv_config(1));
    let value = vec![b'v'; 32 * 1024];
    let mut setter = Resp {
        r: BufReader::new(TcpStream::connect(addr).unwrap()),
    };
    setter.send(&[vec![b"SET".to_vec(), b"big".to_vec(), value.clone()]]);
    assert_eq!(setter.read(), Reply::Simple("OK".into()));
    let before = rss_kib(child.id());
    // 3,000 GETs of 32 KiB: 96 MiB of replies, sent without reading.
    const N: usize = 3000;
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let req = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(N);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&req).is_ok());
    // Give the server time to take what it will (bounded wait), then look.
    let start = Instant::now();
    let mut peak = 0;
    while start.elapsed() < Duration::from_millis(500) {
        peak = peak.max(rss_kib(child.id()));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        peak < before + 32 * 1024,
        "the server holds at most a few MiB for a client that does not read: {before} KiB before, {peak} KiB peak"
    );
    // Now read everything: every reply arrives, whole and in order.
    let mut r = Resp {
        r: BufReader::new(s),
    };
    for i in 0..N {
        assert_eq!(r.read(), Reply::Bulk(Some(value.clone())), "reply {i}");
    }
    assert!(writer.join().unwrap());
    drop(r);
    drop(setter);
    stop(child);
}

#[test]
fn kv_exports_per_shard_keys_commands_and_hops_on_the_metrics_endpoint() {
    let config = kv_config(2).replace(
        "[[listener]]",
        "[metrics]\naddress = \"127.0.0.1:0\"\n[[listener]]",
    );
    let (child, addr, mut log) = serve(&config);
    let mut line = String::new();
    let maddr: SocketAddr = loop {
        line.clear();
        assert!(log.read_line(&mut line).unwrap() > 0, "no metrics line");
        if line.contains("metrics on") {
            let start = line.find("\"address\":\"").unwrap() + 11;
            let end = start + line[start..].find('"').unwrap();
            break line[start..end].parse().unwrap();
        }
    };
    for i in 0..20 {
        cli(addr, &["SET", &format!("m{i}"), "x"]);
    }
    let mut s = TcpStream::connect(maddr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let body = resp.split_once("\r\n\r\n").unwrap().1;
    let sum = |family: &str| -> u64 {
        body.lines()
            .filter(|l| l.starts_with(&format!("{family}{{shard=")))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(sum("shardloop_kv_keys"), 20, "{body}");
    assert!(sum("shardloop_kv_commands_total") >= 20, "{body}");
    assert!(
        body.contains("shardloop_kv_cross_shard_hops_total{shard=\"1\"}"),
        "{body}"
    );
    assert_promtool_clean(body);
    stop(child);
}

#[test]
fn a_subscriber_that_does_not_read_is_closed_at_its_output_limit_and_others_go_on() {
    // Redis's client-output-buffer-limit pubsub: here max_output_buffer.
    let config = kv_config(2) + "[listener.kv]\nmax_output_buffer = \"1MiB\"\n";
    let (child, addr, _log) = serve(&config);
    let subscribe = |addr| {
        let mut s = Resp {
            r: BufReader::new(TcpStream::connect(addr).unwrap()),
        };
        s.r.get_ref().set_read_timeout(Some(DEADLINE)).unwrap();
        s.send(&[vec![b"SUBSCRIBE".to_vec(), b"firehose".to_vec()]]);
        assert!(matches!(s.read(), Reply::Array(Some(_))));
        s
    };
    let deaf = subscribe(addr);
    let mut reader = subscribe(addr);
    let mut publisher = Resp {
        r: BufReader::new(TcpStream::connect(addr).unwrap()),
    };
    let before = rss_kib(child.id());
    // 64 MiB published: the reader takes every message, the deaf
    // subscriber's queue passes 1 MiB and it is closed.
    let message = vec![b'm'; 64 * 1024];
    let mut receivers = Vec::new();
    for _ in 0..1024 {
        publisher.send(&[vec![
            b"PUBLISH".to_vec(),
            b"firehose".to_vec(),
            message.clone(),
        ]]);
        match publisher.read() {
            Reply::Int(n) => receivers.push(n),
            other => panic!("{other:?}"),
        }
        match reader.read() {
            Reply::Array(Some(m)) => assert_eq!(m[2], Reply::Bulk(Some(message.clone()))),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(receivers[0], 2, "both subscribers at first");
    assert_eq!(*receivers.last().unwrap(), 1, "the deaf one is gone");
    let peak = rss_kib(child.id());
    assert!(
        peak < before + 32 * 1024,
        "a deaf subscriber costs its limit, not what is published: {before} KiB before, {peak} KiB after"
    );
    drop(deaf);
    drop(reader);
    drop(publisher);
    stop(child);
}

/// A job queue as redis-py users build one (RQ, Celery's Redis broker):
/// producers RPUSH jobs to four queues over three shards, consumers
/// BLPOP from all four with a timeout. Fifty clients blocked on the
/// queues drop their connections first. Every job is taken exactly once:
/// none popped for a client that left, none twice.
#[test]
fn a_job_queue_on_blpop_takes_every_job_exactly_once() {
    python_module("redis", "redis");
    let (child, addr, _log) = serve(&kv_config(3));
    let script = format!(
        r#"
import redis, threading
PORT = {port}
QUEUES = ["jobs:a", "jobs:b", "jobs:c", "jobs:d"]
JOBS = 2000
taken, lock, done = [], threading.Lock(), threading.Event()

def consume(n):
    r = redis.Redis(host="127.0.0.1", port=PORT, decode_responses=True)
    while not done.is_set():
        got = r.blpop(QUEUES, timeout=0.2)
        if got:
            with lock:
                taken.append(got[1])
                if len(taken) == 4 * JOBS:
                    done.set()

def blocked(r):
    return int(r.info("clients")["blocked_clients"])

def wait_blocked(r, n):
    for _ in range(2000):
        if blocked(r) == n:
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"blocked_clients {{blocked(r)}}, not {{n}}")

def produce(p):
    r = redis.Redis(host="127.0.0.1", port=PORT)
    pipe = r.pipeline(transaction=False)
    for i in range(JOBS):
        pipe.rpush(QUEUES[(p + i) % 4], f"{{p}}:{{i}}")
        if i % 100 == 99:
            pipe.execute()
    pipe.execute()

probe = redis.Redis(host="127.0.0.1", port=PORT)
# Fifty clients block on the queues and leave without a word: nothing may
# be popped for them once they are gone.
quitters = []
for _ in range(50):
    c = redis.Redis(host="127.0.0.1", port=PORT).connection_pool.get_connection("BLPOP")
    c.send_command("BLPOP", *QUEUES, 0)
    quitters.append(c)
wait_blocked(probe, 50)
for c in quitters:
    c.disconnect()
wait_blocked(probe, 0)
consumers = [threading.Thread(target=consume, args=(n,)) for n in range(6)]
for t in consumers:
    t.start()
producers = [threading.Thread(target=produce, args=(p,)) for p in range(4)]
for t in producers:
    t.start()
for t in producers:
    t.join()
done.wait(60)
done.set()
for t in consumers:
    t.join()
r = redis.Redis(host="127.0.0.1", port=PORT)
left = sum(r.llen(k) for k in QUEUES)
assert left == 0, left
assert len(taken) == 4 * JOBS, len(taken)
assert len(set(taken)) == 4 * JOBS, "a job taken twice"
assert set(taken) == {{f"{{p}}:{{i}}" for p in range(4) for i in range(JOBS)}}
print("ok", len(taken))
"#,
        port = addr.port()
    );
    assert_eq!(python(&script).trim(), "ok 8000");
    stop(child);
}

#[test]
fn info_commandstats_counts_every_command_once_across_shards_and_info_takes_sections() {
    // redis-py parses the sections as monitoring tools do. Four clients
    // (over both shards) pipeline single-shard commands, multi-shard ones
    // (which wait behind the replies before them and are handled again)
    // and a call of the wrong arity; each is counted once, the last as
    // rejected.
    python_module("redis", "redis");
    let (child, addr, _log) = serve(&kv_config(2));
    let script = format!(
        r#"
import redis
clients = [redis.Redis(host="127.0.0.1", port={port}, decode_responses=True) for _ in range(4)]
for c in clients:
    p = c.pipeline(transaction=False)
    for i in range(25):
        p.set(f"k{{i}}", i)
        p.mset({{f"a{{i}}": 1, f"b{{i}}": 2, f"c{{i}}": 3}})
        p.get(f"k{{i}}")
    p.execute()
    try:
        c.execute_command("GET")
        raise SystemExit("GET with no key was answered")
    except redis.ResponseError:
        pass
r = clients[0]
stats = r.info("commandstats")
assert stats["cmdstat_set"]["calls"] == 100, stats
assert stats["cmdstat_mset"]["calls"] == 100, stats
assert stats["cmdstat_get"]["calls"] == 100, stats
assert stats["cmdstat_get"]["rejected_calls"] == 4, stats
assert stats["cmdstat_set"]["rejected_calls"] == 0, stats
cpu = r.info("cpu")
assert cpu["used_cpu_user"] >= 0 and "used_cpu_sys_children" in cpu, cpu
assert "used_memory" not in cpu and "redis_version" not in cpu, cpu
default = r.info()
assert "redis_version" in default and "used_cpu_user" in default and "role" in default
assert not any(k.startswith("cmdstat_") for k in default), default
both = r.info("cpu", "commandstats")
assert "used_cpu_user" in both and "cmdstat_set" in both and "redis_version" not in both
everything = r.info("all")
assert "cmdstat_set" in everything and "used_memory" in everything
print("ok")
"#,
        port = addr.port()
    );
    assert_eq!(python(&script).trim(), "ok");
    stop(child);
}

#[test]
fn randomkey_draws_every_live_key_across_shards_and_nothing_else() {
    // 100 keys over 3 shards (and 20 deleted, 20 expired): 3,000 draws
    // reach every live key (missing one has a chance of about 1e-11) and
    // never a key that is gone; an empty keyspace answers nil; inside
    // MULTI too.
    python_module("redis", "redis");
    let (child, addr, _log) = serve(&kv_config(3));
    let script = format!(
        r#"
import redis, time
r = redis.Redis(host="127.0.0.1", port={port}, decode_responses=True)
assert r.randomkey() is None
live = {{f"k{{i}}" for i in range(100)}}
r.mset({{k: 1 for k in live}})
r.mset({{f"gone{{i}}": 1 for i in range(20)}})
r.delete(*[f"gone{{i}}" for i in range(20)])
for i in range(20):
    r.set(f"short{{i}}", 1, px=1)
time.sleep(0.05)
seen = set()
for _ in range(3000):
    k = r.randomkey()
    assert k in live, k
    seen.add(k)
assert seen == live, len(seen)
p = r.pipeline(transaction=True)
p.randomkey()
p.set("x", 1)
assert p.execute()[0] in live
r.flushall()
assert r.randomkey() is None
print("ok")
"#,
        port = addr.port()
    );
    assert_eq!(python(&script).trim(), "ok");
    stop(child);
}

/// Runs a redis-py script against kv on `shards` shards (`{port}` in the
/// script is kv's port); the script prints "ok".
fn redis_py(shards: usize, kv_options: &str, script: &str) {
    python_module("redis", "redis");
    let config = format!("{}[listener.kv]\n{kv_options}\n", kv_config(shards));
    let (child, addr, _log) = serve(&config);
    let script = script.replace("{port}", &addr.port().to_string());
    assert_eq!(python(&script).trim(), "ok");
    stop(child);
}

#[test]
fn allkeys_lru_keeps_memory_at_maxmemory_and_the_keys_in_use() {
    // 2 shards, a limit 8 MiB over what kv uses empty, 40,000 values of
    // 1 KB written in pipelines while a hot set of 1,000 keys is read
    // between them: nothing is refused, memory stays at the limit, keys
    // are evicted (INFO, an `evicted` event each), and the hot keys
    // survive (a random choice would keep about one in five).
    redis_py(
        2,
        "maxmemory_policy = \"allkeys-lru\"",
        r#"
import redis, time
r = redis.Redis(host="127.0.0.1", port={port})
assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
sub = redis.Redis(host="127.0.0.1", port={port}).pubsub()
r.config_set("notify-keyspace-events", "Ee")
events = []
sub.psubscribe(**{"__keyevent@0__:evicted": events.append})
reader = sub.run_in_thread(sleep_time=0.01, daemon=True)
base = r.info("memory")["used_memory"]
limit = base + 8 * 1024 * 1024
r.config_set("maxmemory", limit)
assert r.info("memory")["maxmemory"] == limit
hot = [f"hot:{i}" for i in range(1000)]
r.mset({k: "h" * 1000 for k in hot})
for b in range(80):
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set(f"cold:{b}:{i}", "c" * 1000)
    for k in hot[(b % 2) * 500:(b % 2 + 1) * 500]:
        p.get(k)
    for x in p.execute():
        assert x is not False, x
used = r.info("memory")["used_memory"]
assert used <= limit + 1024 * 1024, (used, limit)
r.config_set("maxmemory", 0)
evicted = r.info("stats")["evicted_keys"]
assert evicted > 20000, evicted
assert r.dbsize() + evicted == 41000, (r.dbsize(), evicted)
alive = sum(1 for v in r.mget(hot) if v)
assert alive >= 900, alive
for _ in range(100):
    if len(events) == evicted:
        break
    time.sleep(0.05)
reader.stop()
assert len(events) == evicted, (len(events), evicted)
assert all(e["data"].startswith(b"cold:") or e["data"].startswith(b"hot:") for e in events)
print("ok")
"#,
    );
}

#[test]
fn noeviction_refuses_writes_over_maxmemory_and_volatile_ttl_takes_the_nearest_expiry() {
    redis_py(
        2,
        "",
        r#"
import redis
r = redis.Redis(host="127.0.0.1", port={port})
base = r.info("memory")["used_memory"]
r.config_set("maxmemory", base + 4 * 1024 * 1024)
refused = 0
for b in range(40):
    p = r.pipeline(transaction=False)
    for i in range(200):
        p.set(f"k:{b}:{i}", "v" * 1000)
    for x in p.execute(raise_on_error=False):
        if isinstance(x, redis.exceptions.ResponseError):
            assert "command not allowed when used memory > 'maxmemory'" in str(x), x
            refused += 1
assert refused > 1000, refused
assert r.info("stats")["evicted_keys"] == 0
# Reads and deletes still run; once under, writes do again.
assert r.get("k:0:0") == b"v" * 1000
r.delete(*[f"k:{b}:{i}" for b in range(10) for i in range(200)])
assert r.set("again", "1")
r.flushall()

# A FLUSHALL gives the keyspace's memory back: after 100,000 keys (more
# table than the limit leaves room for) and a FLUSHALL, writes run.
r.config_set("maxmemory", 0)
for b in range(10):
    r.mset({f"small:{b}:{i}": "x" for i in range(10000)})
r.flushall()
r.config_set("maxmemory", base + 4 * 1024 * 1024)
assert r.set("after-flush", "1")
r.config_set("maxmemory", 0)

# volatile-ttl: the nearest expiries go first; keys without one stay.
r.config_set("maxmemory-policy", "volatile-ttl")
r.config_set("maxmemory", base + 6 * 1024 * 1024)
p = r.pipeline(transaction=False)
for i in range(1500):
    p.set(f"forever:{i}", "f" * 1000)
for i in range(1500):
    p.set(f"soon:{i}", "s" * 1000, ex=1000)
for i in range(1500):
    p.set(f"late:{i}", "l" * 1000, ex=100000)
p.execute(raise_on_error=False)
for b in range(10):
    p = r.pipeline(transaction=False)
    for i in range(300):
        p.set(f"more:{b}:{i}", "m" * 1000, ex=50000)
    p.execute(raise_on_error=False)
forever = sum(1 for v in r.mget([f"forever:{i}" for i in range(1500)]) if v)
soon = sum(1 for v in r.mget([f"soon:{i}" for i in range(1500)]) if v)
late = sum(1 for v in r.mget([f"late:{i}" for i in range(1500)]) if v)
assert forever == 1500, forever
assert r.info("stats")["evicted_keys"] > 0
assert soon < late, (soon, late)
r.config_set("maxmemory", 0)
print("ok")
"#,
    );
}
