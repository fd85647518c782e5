//! Pub/sub output limits, a BLPOP job queue and INFO's commandstats, with
//! real clients.

use super::*;

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
