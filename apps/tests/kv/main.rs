//! The kv app against real Redis clients: redis-cli, redis-benchmark,
//! redis-py. (The differential test against redis-server itself is
//! `kv_differential/`.)

#[path = "../common/mod.rs"]
mod common;

mod memory;

mod features;

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
