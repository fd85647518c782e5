//! The random command: the first half of the table (draws 0 to 69).

use super::*;

/// A random command of the table, with edge values.
pub(super) fn command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let n = rng.below(105);
    // Two halves of the table, drawn from one number as before.
    let mut c = if n < 70 {
        command_low(rng, n)
    } else {
        command_high(rng, n)
    };
    // Sometimes a wrong number of arguments.
    if rng.chance(2) && c.len() > 1 {
        c.pop();
    } else if rng.chance(2) {
        c.push(value(rng));
    }
    c
}

/// Commands 0 to 69 of [`command`]'s draw: strings, keys, lists, hashes,
/// sets and the rest of the first part of the table.
pub(super) fn command_low(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    let k = key;
    let s = |x: &str| x.as_bytes().to_vec();
    match n {
        0 => vec![s("SET"), k(rng), value(rng)],
        1 => {
            let mut c = vec![s("SET"), k(rng), value(rng)];
            for _ in 0..1 + rng.below(2) {
                match rng.below(8) {
                    0 => c.push(rng.pick(&["NX", "XX", "GET", "KEEPTTL", "nx", "FOO"])),
                    1..=3 => {
                        c.push(rng.pick(&["EX", "PX", "ex"]));
                        c.push(rng.pick(EXPIRES));
                    }
                    // An absolute time in the past leaves a key that is
                    // expired but still counted by DBSIZE until either
                    // server's sweep finds it: at a moment of its own, so
                    // the two could not be compared. Future or invalid
                    // times only.
                    4 | 5 => {
                        c.push(rng.pick(&["EXAT", "PXAT"]));
                        c.push(rng.pick(FUTURE));
                    }
                    _ => c.push(rng.pick(&["EX"])),
                }
            }
            c
        }
        2 => vec![s("GET"), k(rng)],
        3 => vec![s("GETSET"), k(rng), value(rng)],
        4 => vec![s("GETDEL"), k(rng)],
        5 => vec![s("SETNX"), k(rng), value(rng)],
        6 => vec![
            rng.pick(&["SETEX", "PSETEX"]),
            k(rng),
            rng.pick(EXPIRES),
            value(rng),
        ],
        7 => vec![s("APPEND"), k(rng), value(rng)],
        8 => vec![s("STRLEN"), k(rng)],
        9 => vec![s("GETRANGE"), k(rng), rng.pick(INDEXES), rng.pick(INDEXES)],
        10 => vec![
            s("SETRANGE"),
            k(rng),
            rng.pick(&["0", "1", "-1", "5", "536870912", "x"]),
            value(rng),
        ],
        11 => vec![rng.pick(&["INCR", "DECR"]), k(rng)],
        12 => vec![rng.pick(&["INCRBY", "DECRBY"]), k(rng), rng.pick(INTS)],
        13 => vec![s("INCRBYFLOAT"), k(rng), rng.pick(FLOATS)],
        14 | 15 => {
            let mut c = vec![rng.pick(&["MSET", "MSETNX"])];
            for _ in 0..1 + rng.below(3) {
                c.push(k(rng));
                c.push(value(rng));
            }
            c
        }
        16 => {
            let mut c = vec![s("MGET")];
            c.extend((0..1 + rng.below(4)).map(|_| k(rng)));
            c
        }
        17 | 18 => {
            let mut c = vec![rng.pick(&["DEL", "UNLINK", "EXISTS"])];
            c.extend((0..1 + rng.below(4)).map(|_| k(rng)));
            c
        }
        19 => vec![s("TYPE"), k(rng)],
        20 => vec![rng.pick(&["RENAME", "RENAMENX"]), k(rng), k(rng)],
        21 | 22 => {
            let mut c = vec![
                rng.pick(&["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]),
                k(rng),
                rng.pick(EXPIRES),
            ];
            if rng.chance(30) {
                c.push(rng.pick(&["NX", "XX", "GT", "LT", "AB", "nx"]));
                // GT/LT between two expiries made relative to two clocks
                // (now + 100 s on each server, a millisecond apart) would
                // compare the servers' timing, not their logic.
                let relative = c[0] == b"EXPIRE" || c[0] == b"PEXPIRE";
                if relative && c[2] == b"100000" {
                    c[2] = rng.pick(FUTURE);
                }
            }
            c
        }
        23 => vec![rng.pick(&["TTL", "PTTL"]), k(rng)],
        24 => vec![s("PERSIST"), k(rng)],
        25 | 26 => {
            let mut c = vec![rng.pick(&["LPUSH", "RPUSH"]), k(rng)];
            c.extend((0..1 + rng.below(3)).map(|_| value(rng)));
            c
        }
        27 => {
            let mut c = vec![rng.pick(&["LPOP", "RPOP"]), k(rng)];
            if rng.chance(50) {
                c.push(rng.pick(COUNTS));
            }
            c
        }
        28 => vec![s("LLEN"), k(rng)],
        29 => vec![s("LRANGE"), k(rng), rng.pick(INDEXES), rng.pick(INDEXES)],
        30 => vec![s("LINDEX"), k(rng), rng.pick(INDEXES)],
        31 => vec![s("LSET"), k(rng), rng.pick(INDEXES), value(rng)],
        32 => vec![s("LREM"), k(rng), rng.pick(INDEXES), value(rng)],
        33 => vec![s("LTRIM"), k(rng), rng.pick(INDEXES), rng.pick(INDEXES)],
        34 | 35 => {
            let mut c = vec![rng.pick(&["HSET", "HMSET"]), k(rng)];
            for _ in 0..1 + rng.below(2) {
                c.push(rng.pick(FIELDS));
                c.push(value(rng));
            }
            c
        }
        36 => vec![s("HGET"), k(rng), rng.pick(FIELDS)],
        37 => vec![s("HMGET"), k(rng), rng.pick(FIELDS), rng.pick(FIELDS)],
        38 => vec![s("HDEL"), k(rng), rng.pick(FIELDS), rng.pick(FIELDS)],
        39 => vec![rng.pick(&["HLEN", "HGETALL", "HKEYS", "HVALS"]), k(rng)],
        40 => vec![s("HEXISTS"), k(rng), rng.pick(FIELDS)],
        41 => vec![s("HINCRBY"), k(rng), rng.pick(FIELDS), rng.pick(INTS)],
        42 | 43 => {
            let mut c = vec![rng.pick(&["SADD", "SREM"]), k(rng)];
            c.extend((0..1 + rng.below(3)).map(|_| rng.pick(MEMBERS)));
            c
        }
        44 => vec![rng.pick(&["SMEMBERS", "SCARD"]), k(rng)],
        45 => vec![s("SISMEMBER"), k(rng), rng.pick(MEMBERS)],
        46 => {
            let mut c = vec![rng.pick(&["SINTER", "SUNION", "SDIFF"])];
            c.extend((0..1 + rng.below(3)).map(|_| k(rng)));
            c
        }
        47 | 48 => {
            let mut c = vec![s("ZADD"), k(rng)];
            if rng.chance(40) {
                c.push(rng.pick(&["NX", "XX", "GT", "LT", "CH", "INCR"]));
            }
            if rng.chance(20) {
                c.push(rng.pick(&["NX", "XX", "GT", "LT", "CH"]));
            }
            for _ in 0..1 + rng.below(2) {
                c.push(rng.pick(FLOATS));
                c.push(rng.pick(MEMBERS));
            }
            c
        }
        49 => vec![s("ZSCORE"), k(rng), rng.pick(MEMBERS)],
        50 => vec![s("ZINCRBY"), k(rng), rng.pick(FLOATS), rng.pick(MEMBERS)],
        51 => vec![s("ZCARD"), k(rng)],
        52 => {
            let mut c = vec![s("ZRANGE"), k(rng), rng.pick(INDEXES), rng.pick(INDEXES)];
            if rng.chance(50) {
                c.push(s("WITHSCORES"));
            }
            c
        }
        53 => {
            let mut c = vec![
                s("ZRANGEBYSCORE"),
                k(rng),
                rng.pick(&["-inf", "(1", "0", "1", "x", "(x", "+inf", "nan"]),
                rng.pick(&["+inf", "2", "(2.5", "-inf", "(", "1.5"]),
            ];
            if rng.chance(40) {
                c.push(s("WITHSCORES"));
            }
            limit(rng, &mut c);
            c
        }
        54 => vec![s("ZREM"), k(rng), rng.pick(MEMBERS), rng.pick(MEMBERS)],
        55 => vec![s("ZRANK"), k(rng), rng.pick(MEMBERS)],
        56 => {
            let mut c = vec![rng.pick(&["ZPOPMIN", "ZPOPMAX"]), k(rng)];
            if rng.chance(50) {
                c.push(rng.pick(COUNTS));
            }
            c
        }
        57 => vec![s("DBSIZE")],
        58 => vec![s("ECHO"), value(rng)],
        59 => {
            let mut c = vec![s("PING")];
            if rng.chance(30) {
                c.push(value(rng));
            }
            c
        }
        60 => vec![s("SELECT"), rng.pick(&["0", "1", "-1", "x", "16"])],
        61 => vec![s("KEYS"), rng.pick(PATTERNS)],
        62 if rng.chance(10) => vec![rng.pick(&["FLUSHDB", "FLUSHALL"])],
        63 => vec![s("NOSUCHCOMMAND"), value(rng)],
        64 => vec![s("GET")],
        65 => vec![rng.pick(&["SET", "HSET", "ZADD", "LPUSH", "MSET"]), k(rng)],
        // Overflow: a string counter at i64's ends.
        66 => vec![
            s("SET"),
            k(rng),
            rng.pick(&[
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775806",
            ]),
        ],
        67 => vec![
            s("HSET"),
            k(rng),
            s("f"),
            rng.pick(&["9223372036854775807", "-9223372036854775808"]),
        ],
        68 => vec![
            s("SET"),
            k(rng),
            rng.pick(&["1.7976931348623157e308", "1e-300", "-1e308"]),
        ],
        69 => vec![
            rng.pick(&["LPOP", "RPOP", "ZPOPMIN"]),
            k(rng),
            rng.pick(COUNTS),
        ],
        _ => vec![s("EXISTS"), k(rng)],
    }
}
