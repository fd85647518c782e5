//! The handlers run on a keyspace directly: replies and key positions.

use super::*;

/// Runs `line` (space-separated) on `db`, returns the reply.
fn run_line(db: &mut Db, line: &str, now: u64) -> String {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for w in line.split(' ') {
        ranges.push(buf.len()..buf.len() + w.len());
        buf.extend_from_slice(w.as_bytes());
    }
    let a = Args {
        buf: &buf,
        ranges: &ranges,
    };
    let spec = lookup(a.get(0)).unwrap();
    assert!(arity_ok(spec, a.len()), "{line}");
    let mut out = Vec::new();
    exec(db, spec, &a, now, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn strings_and_expiry_answer_as_redis_does() {
    let mut db = Db::default();
    assert_eq!(run_line(&mut db, "SET k v EX 10", 1000), "+OK\r\n");
    assert_eq!(run_line(&mut db, "TTL k", 1000), ":10\r\n");
    assert_eq!(run_line(&mut db, "PTTL k", 2000), ":9000\r\n");
    assert_eq!(run_line(&mut db, "GET k", 11_000), "$-1\r\n", "expired");
    assert_eq!(run_line(&mut db, "SET k 5 NX", 0), "+OK\r\n");
    assert_eq!(run_line(&mut db, "SET k 6 NX GET", 0), "$1\r\n5\r\n");
    assert_eq!(run_line(&mut db, "INCRBY k 10", 0), ":15\r\n");
    assert_eq!(run_line(&mut db, "INCRBYFLOAT k 0.5", 0), "$4\r\n15.5\r\n");
    assert_eq!(
        run_line(&mut db, "INCR k", 0),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        run_line(&mut db, "SET k v EX 0", 0),
        "-ERR invalid expire time in 'set' command\r\n"
    );
    assert_eq!(
        run_line(&mut db, "SET k v NX XX", 0),
        "-ERR syntax error\r\n"
    );
    assert_eq!(run_line(&mut db, "APPEND k xy", 0), ":6\r\n");
    assert_eq!(run_line(&mut db, "GETRANGE k -2 -1", 0), "$2\r\nxy\r\n");
    assert_eq!(run_line(&mut db, "SETRANGE s 3 ab", 0), ":5\r\n");
    assert_eq!(run_line(&mut db, "GET s", 0), "$5\r\n\0\0\0ab\r\n");
    assert_eq!(
        run_line(&mut db, "LPUSH s x", 0),
        format!("-{WRONGTYPE}\r\n")
    );
}

#[test]
fn lists_hashes_sets_and_sorted_sets() {
    let mut db = Db::default();
    assert_eq!(run_line(&mut db, "RPUSH l a b c d", 0), ":4\r\n");
    assert_eq!(
        run_line(&mut db, "LRANGE l 1 -2", 0),
        "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert_eq!(
        run_line(&mut db, "LPOP l 2", 0),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(run_line(&mut db, "LTRIM l 5 10", 0), "+OK\r\n");
    assert_eq!(
        run_line(&mut db, "EXISTS l", 0),
        ":0\r\n",
        "emptied list deleted"
    );
    assert_eq!(run_line(&mut db, "HSET h f 1 g 2", 0), ":2\r\n");
    assert_eq!(run_line(&mut db, "HINCRBY h f 5", 0), ":6\r\n");
    assert_eq!(
        run_line(&mut db, "HMGET h f x", 0),
        "*2\r\n$1\r\n6\r\n$-1\r\n"
    );
    assert_eq!(run_line(&mut db, "SADD s a b c", 0), ":3\r\n");
    assert_eq!(run_line(&mut db, "SADD t b c d", 0), ":3\r\n");
    assert_eq!(run_line(&mut db, "SISMEMBER s a", 0), ":1\r\n");
    assert_eq!(run_line(&mut db, "ZADD z 1 a 2 b 3 c", 0), ":3\r\n");
    assert_eq!(
        run_line(&mut db, "ZRANGE z 0 -1 WITHSCORES", 0),
        "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    assert_eq!(
        run_line(&mut db, "ZRANGEBYSCORE z (1 3", 0),
        "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
    );
    assert_eq!(run_line(&mut db, "ZINCRBY z 0.5 a", 0), "$3\r\n1.5\r\n");
    assert_eq!(run_line(&mut db, "ZRANK z c", 0), ":2\r\n");
    assert_eq!(
        run_line(&mut db, "ZPOPMAX z", 0),
        "*2\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
}

#[test]
fn key_positions_follow_redis_key_specs() {
    let pos = |name: &str, n: usize| {
        let buf = vec![b'2'; n];
        let ranges: Vec<_> = (0..n).map(|i| i..i + 1).collect();
        let a = Args {
            buf: &buf,
            ranges: &ranges,
        };
        key_positions(lookup(name.as_bytes()).unwrap(), &a).collect::<Vec<_>>()
    };
    assert_eq!(pos("get", 2), vec![1]);
    assert_eq!(pos("mset", 5), vec![1, 3]);
    assert_eq!(pos("mget", 4), vec![1, 2, 3]);
    assert_eq!(pos("rename", 3), vec![1, 2]);
    assert_eq!(pos("ping", 1), Vec::<usize>::new());
    // numkeys: "2" keys after the count.
    assert_eq!(pos("lmpop", 5), vec![2, 3]);
    assert_eq!(pos("sintercard", 4), vec![2, 3]);
}
