//! kv's memory limits against redis-py: eviction under maxmemory and the
//! noeviction refusals; and RANDOMKEY over every shard.

use super::*;

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
pub(super) fn redis_py(shards: usize, kv_options: &str, script: &str) {
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
