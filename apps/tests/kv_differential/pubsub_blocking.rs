//! Pub/sub and blocking pops across shards, the same script against kv and
//! redis-server, in RESP2 and RESP3.

use super::*;

/// Pub/sub, the same script against both: four connections (spread over
/// kv's three shards) subscribe to channels and patterns, publish, read
/// what is pushed to them, ask PUBSUB and leave; every reply and every
/// message must be redis-server's, byte for byte (PUBSUB CHANNELS' order
/// aside).
#[test]
fn pub_sub_across_shards_answers_as_redis_server_does() {
    pub_sub(false);
}

/// The same script after HELLO 3 on every connection: pushes for the
/// messages and the subscription replies, and no subscribe mode (RESP3
/// lets a subscriber run any command).
#[test]
fn pub_sub_in_resp3_answers_as_redis_server_does() {
    pub_sub(true);
}

pub(super) fn pub_sub(resp3: bool) {
    let dir = temp_dir(if resp3 { "kv-pubsub3" } else { "kv-pubsub" });
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(3));
    let _child = Reap(child);
    // (connection, command, replies to read)
    let script: &[(usize, &[&str], usize)] = &[
        (0, &["SUBSCRIBE", "news", "sport"], 2),
        (0, &["SUBSCRIBE", "news"], 1),
        (1, &["PSUBSCRIBE", "n*", "s?ort"], 2),
        (2, &["SUBSCRIBE", "news"], 1),
        (0, &["GET", "k"], 1),
        (0, &["PING"], 1),
        (0, &["PING", "hi"], 1),
        (0, &["PING", "a", "b"], 1),
        (3, &["PUBLISH", "news", "first"], 1),
        (0, &[], 1),
        (1, &[], 1),
        (2, &[], 1),
        (3, &["PUBLISH", "sport", "second"], 1),
        (0, &[], 1),
        (1, &[], 1),
        (3, &["PUBLISH", "nobody", "third"], 1),
        (1, &[], 1),
        (3, &["PUBLISH", "quiet", "fourth"], 1),
        (3, &["PUBSUB", "NUMSUB", "news", "sport", "quiet"], 1),
        (3, &["PUBSUB", "NUMSUB"], 1),
        (3, &["PUBSUB", "NUMPAT"], 1),
        (3, &["PUBSUB", "NUMPAT", "x"], 1),
        (3, &["PUBSUB", "CHANNELS"], 1),
        (3, &["PUBSUB", "CHANNELS", "n*"], 1),
        (3, &["PUBSUB", "CHANNELS", "a", "b"], 1),
        (3, &["PUBSUB", "FOO"], 1),
        (3, &["PUBSUB"], 1),
        (3, &["PUBLISH", "news"], 1),
        (3, &["SUBSCRIBE"], 1),
        (0, &["UNSUBSCRIBE", "sport", "none"], 2),
        (0, &["UNSUBSCRIBE"], 1),
        (0, &["UNSUBSCRIBE"], 1),
        (0, &["GET", "k"], 1),
        (1, &["PUNSUBSCRIBE", "s?ort"], 1),
        (3, &["PUBLISH", "sport", "fifth"], 1),
        (3, &["PUBLISH", "news", "sixth"], 1),
        (1, &[], 1),
        (2, &[], 1),
        (1, &["PUNSUBSCRIBE"], 1),
        (2, &["UNSUBSCRIBE", "news"], 1),
        (3, &["PUBLISH", "news", "seventh"], 1),
        (3, &["PUBSUB", "NUMPAT"], 1),
        (3, &["PUBSUB", "CHANNELS"], 1),
    ];
    let mut redis: Vec<Client<UnixStream>> = (0..4).map(|_| redis_client(&sock)).collect();
    let mut ours: Vec<Client<TcpStream>> = (0..4).map(|_| kv_client(addr)).collect();
    if resp3 {
        for c in 0..4 {
            let hello = multibulk(&["HELLO", "3"]);
            redis[c].send(&hello);
            ours[c].send(&hello);
            assert!(matches!(redis[c].read(), Reply::Map(_)));
            assert!(matches!(ours[c].read(), Reply::Map(_)));
        }
    }
    for (step, (c, args, replies)) in script.iter().enumerate() {
        if !args.is_empty() {
            redis[*c].send(&multibulk(args));
            ours[*c].send(&multibulk(args));
        }
        for _ in 0..*replies {
            let (theirs, mine) = (redis[*c].read(), ours[*c].read());
            let sorted = |r: Reply| match (args, r) {
                ([_, sub, ..], Reply::Array(Some(mut v)))
                    if sub.eq_ignore_ascii_case("channels") =>
                {
                    v.sort();
                    Reply::Array(Some(v))
                }
                (_, r) => r,
            };
            let (theirs, mine) = (sorted(theirs), sorted(mine));
            assert_eq!(
                mine,
                theirs,
                "step {step}, connection {c}, {args:?}: kv {}, redis-server {}",
                show(&mine),
                show(&theirs)
            );
        }
    }
}

#[test]
fn blocking_pops_across_shards_answer_as_redis_server_does() {
    blocking_pops(false);
}

#[test]
fn blocking_pops_in_resp3_answer_as_redis_server_does() {
    blocking_pops(true);
}

/// BLPOP, BRPOP, BZPOPMIN, BZPOPMAX, BLMOVE and BRPOPLPUSH: four
/// connections over three shards, a script run on kv and redis-server
/// alike. A step that blocks reads nothing; the script then waits until
/// both servers report that many `blocked_clients` (as Redis's own tests
/// wait), so each block is in place before the push that serves it.
/// Waiters are served in arrival order, one element each; a timeout
/// answers nil; a move into a list another client waits on serves it;
/// inside MULTI nothing blocks; errors are Redis's. Then WATCH: EXEC answers nil
/// when a watched key was written, UNWATCH, EXEC and DISCARD let go, a
/// FLUSHALL touches only watched keys that exist.
pub(super) fn blocking_pops(resp3: bool) {
    let dir = temp_dir(if resp3 { "kv-block3" } else { "kv-block" });
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(3));
    let _child = Reap(child);
    // (connection, command, replies to read now, blocked clients after)
    #[allow(clippy::type_complexity)]
    let script: &[(usize, &[&str], usize, Option<u64>)] = &[
        (0, &["BLPOP", "q1", "q2", "0"], 0, Some(1)),
        (1, &["BLPOP", "q1", "0"], 0, Some(2)),
        (2, &["BRPOP", "q2", "0"], 0, Some(3)),
        (3, &["RPUSH", "q1", "a", "b", "c"], 1, None),
        (0, &[], 1, None),
        (1, &[], 1, Some(1)),
        (3, &["LRANGE", "q1", "0", "-1"], 1, None),
        (3, &["RPUSH", "q2", "x", "y"], 1, None),
        (2, &[], 1, Some(0)),
        (3, &["LRANGE", "q2", "0", "-1"], 1, None),
        (0, &["BLPOP", "q3", "0.05"], 1, Some(0)),
        (0, &["BRPOP", "q3", "q4", "0.01"], 1, None),
        (0, &["BZPOPMIN", "z", "0"], 0, Some(1)),
        (1, &["BZPOPMAX", "z", "0"], 0, Some(2)),
        (3, &["ZADD", "z", "2", "b", "1", "a", "3", "c"], 1, None),
        (0, &[], 1, None),
        (1, &[], 1, Some(0)),
        (3, &["ZRANGE", "z", "0", "-1", "WITHSCORES"], 1, None),
        (0, &["BZPOPMIN", "z", "0"], 1, None),
        (1, &["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"], 0, Some(1)),
        (3, &["RPUSH", "s", "e1", "e2"], 1, None),
        (1, &[], 1, Some(0)),
        (3, &["LRANGE", "s", "0", "-1"], 1, None),
        (3, &["LRANGE", "d", "0", "-1"], 1, None),
        (2, &["BRPOPLPUSH", "s2", "d2", "0"], 0, Some(1)),
        (3, &["LPUSH", "s2", "m", "n"], 1, None),
        (2, &[], 1, Some(0)),
        (3, &["LRANGE", "d2", "0", "-1"], 1, None),
        // A move into a list another client waits on serves it too.
        (0, &["BLMOVE", "c1", "c2", "LEFT", "LEFT", "0"], 0, Some(1)),
        (1, &["BLPOP", "c2", "0"], 0, Some(2)),
        (3, &["RPUSH", "c1", "v"], 1, None),
        (0, &[], 1, None),
        (1, &[], 1, Some(0)),
        (3, &["EXISTS", "c1", "c2"], 1, None),
        // A transaction's pushes serve a waiter after EXEC, with the
        // first element.
        (0, &["BLPOP", "t", "0"], 0, Some(1)),
        (3, &["MULTI"], 1, None),
        (3, &["RPUSH", "t", "a"], 1, None),
        (3, &["RPUSH", "t", "b"], 1, None),
        (3, &["EXEC"], 1, None),
        (0, &[], 1, Some(0)),
        (3, &["LRANGE", "t", "0", "-1"], 1, None),
        // Inside MULTI nothing blocks.
        (3, &["MULTI"], 1, None),
        (3, &["BLPOP", "none", "0"], 1, None),
        (3, &["BLPOP", "t", "0"], 1, None),
        (3, &["BZPOPMAX", "none", "0"], 1, None),
        (3, &["BLMOVE", "none", "x", "LEFT", "LEFT", "0"], 1, None),
        (3, &["EXEC"], 1, None),
        // Errors.
        (3, &["SET", "str", "v"], 1, None),
        (3, &["BLPOP", "str", "0"], 1, None),
        (3, &["BLPOP", "none", "str", "0"], 1, None),
        (3, &["BZPOPMIN", "str", "0"], 1, None),
        (3, &["BLPOP", "k", "-1"], 1, None),
        (3, &["BLPOP", "k", "abc"], 1, None),
        (3, &["BLPOP", "k", "inf"], 1, None),
        (3, &["BLMOVE", "a", "b", "UP", "DOWN", "0"], 1, None),
        (3, &["BLPOP", "k"], 1, None),
        (3, &["BRPOPLPUSH", "a", "b"], 1, None),
        // WATCH: a write by another client fails EXEC; UNWATCH, EXEC and
        // DISCARD let go; WATCH inside MULTI is refused alone; FLUSHALL
        // touches watched keys that exist only.
        (0, &["WATCH", "w1"], 1, None),
        (1, &["SET", "w1", "x"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["SET", "w2", "y"], 1, None),
        (0, &["EXEC"], 1, None),
        (0, &["GET", "w2"], 1, None),
        (0, &["WATCH", "w1", "w3"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["INCR", "w4"], 1, None),
        (0, &["EXEC"], 1, None),
        (1, &["SET", "w1", "after"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["EXEC"], 1, None),
        (0, &["WATCH", "w3"], 1, None),
        (0, &["UNWATCH"], 1, None),
        (1, &["SET", "w3", "z"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["EXEC"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["WATCH", "x"], 1, None),
        (0, &["PING"], 1, None),
        (0, &["EXEC"], 1, None),
        (0, &["WATCH", "w3"], 1, None),
        (1, &["SET", "w3", "again"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["DISCARD"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["EXEC"], 1, None),
        (0, &["WATCH", "nokey"], 1, None),
        (1, &["FLUSHALL"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["PING"], 1, None),
        (0, &["EXEC"], 1, None),
        (0, &["SET", "w5", "1"], 1, None),
        (0, &["WATCH", "w5"], 1, None),
        (1, &["FLUSHDB"], 1, None),
        (0, &["MULTI"], 1, None),
        (0, &["PING"], 1, None),
        (0, &["EXEC"], 1, None),
        (2, &["WATCH", "w6", "w7", "w8"], 1, None),
        (2, &["MULTI"], 1, None),
        (2, &["MSET", "w6", "1", "w7", "2", "w8", "3"], 1, None),
        (2, &["EXEC"], 1, None),
        (3, &["MGET", "w6", "w7", "w8"], 1, None),
        // A non-empty list answers at once.
        (3, &["RPUSH", "ready", "1", "2"], 1, None),
        (0, &["BLPOP", "empty", "ready", "0"], 1, None),
        (0, &["BRPOP", "ready", "0"], 1, None),
        (0, &["BLPOP", "ready", "0.01"], 1, None),
        // A move's timeout is a nil array too (`*-1`), as Redis 7.0's.
        (
            0,
            &["BLMOVE", "nothing", "dst", "LEFT", "LEFT", "0.01"],
            1,
            None,
        ),
        (0, &["BRPOPLPUSH", "nothing", "dst", "0.01"], 1, None),
    ];
    let mut redis: Vec<Client<UnixStream>> = (0..4).map(|_| redis_client(&sock)).collect();
    let mut ours: Vec<Client<TcpStream>> = (0..4).map(|_| kv_client(addr)).collect();
    let (mut redis_probe, mut kv_probe) = (redis_client(&sock), kv_client(addr));
    if resp3 {
        for c in 0..4 {
            let hello = multibulk(&["HELLO", "3"]);
            redis[c].send(&hello);
            ours[c].send(&hello);
            assert!(matches!(redis[c].read(), Reply::Map(_)));
            assert!(matches!(ours[c].read(), Reply::Map(_)));
        }
    }
    fn blocked<S: Read + Write>(c: &mut Client<S>) -> u64 {
        c.send(&multibulk(&["INFO", "clients"]));
        let Reply::Bulk(Some(text)) = c.read() else {
            panic!("INFO")
        };
        let text = String::from_utf8(text).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("blocked_clients:"))
            .expect("blocked_clients in INFO");
        line[16..].trim().parse().unwrap()
    }
    for (step, (c, args, replies, want_blocked)) in script.iter().enumerate() {
        if !args.is_empty() {
            redis[*c].send(&multibulk(args));
            ours[*c].send(&multibulk(args));
        }
        for _ in 0..*replies {
            let (theirs, mine) = (redis[*c].read(), ours[*c].read());
            assert_eq!(
                mine,
                theirs,
                "step {step}, connection {c}, {args:?}: kv {}, redis-server {}",
                show(&mine),
                show(&theirs)
            );
        }
        if let Some(n) = want_blocked {
            let start = Instant::now();
            while blocked(&mut redis_probe) != *n || blocked(&mut kv_probe) != *n {
                assert!(
                    start.elapsed() < DEADLINE,
                    "step {step}: {n} blocked clients never reported (kv {}, redis-server {})",
                    blocked(&mut kv_probe),
                    blocked(&mut redis_probe)
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
