//! The second half of the random command table (draws 70 and up).

use super::*;

/// Commands 70 and up of [`command`]'s draw (anything not drawn: EXISTS).
pub(super) fn command_high(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    let k = key;
    let s = |x: &str| x.as_bytes().to_vec();
    match n {
        // The common commands of Redis 6.2 and 7.0.
        70 => {
            let mut c = vec![s("GETEX"), k(rng)];
            match rng.below(6) {
                0 => {}
                1 => c.push(rng.pick(&["PERSIST", "persist", "KEEPTTL"])),
                2 | 3 => {
                    c.push(rng.pick(&["EX", "PX", "px"]));
                    c.push(rng.pick(EXPIRES));
                }
                4 => {
                    c.push(rng.pick(&["EXAT", "PXAT"]));
                    c.push(rng.pick(FUTURE));
                }
                _ => {
                    c.push(rng.pick(&["EX", "PERSIST"]));
                    c.push(rng.pick(&["PERSIST", "PX", "10"]));
                }
            }
            c
        }
        71 => vec![rng.pick(&["EXPIRETIME", "PEXPIRETIME"]), k(rng)],
        72 => {
            let mut c = vec![s("COPY"), k(rng), k(rng)];
            match rng.below(5) {
                0 => c.push(s("REPLACE")),
                1 => {
                    c.push(s("DB"));
                    c.push(rng.pick(&["0", "1", "x", "-1"]));
                }
                2 => c.push(rng.pick(&["DB", "FOO"])),
                _ => {}
            }
            c
        }
        73 => vec![
            s("LMOVE"),
            k(rng),
            k(rng),
            rng.pick(&["LEFT", "RIGHT", "left", "up"]),
            rng.pick(&["LEFT", "RIGHT", "right"]),
        ],
        74 => vec![s("RPOPLPUSH"), k(rng), k(rng)],
        75 => vec![s("HSETNX"), k(rng), rng.pick(FIELDS), value(rng)],
        76 => vec![s("HSTRLEN"), k(rng), rng.pick(FIELDS)],
        77 => vec![
            s("HINCRBYFLOAT"),
            k(rng),
            rng.pick(FIELDS),
            rng.pick(FLOATS),
        ],
        78 => {
            let mut c = vec![s("SMISMEMBER"), k(rng)];
            c.extend((0..1 + rng.below(3)).map(|_| rng.pick(MEMBERS)));
            c
        }
        79 => vec![s("SMOVE"), k(rng), k(rng), rng.pick(MEMBERS)],
        80 => vec![
            s("ZCOUNT"),
            k(rng),
            rng.pick(&["-inf", "(1", "0", "1", "x", "+inf"]),
            rng.pick(&["+inf", "2", "(2.5", "-inf", "("]),
        ],
        81 => {
            let mut c = vec![s("ZREVRANGE"), k(rng), rng.pick(INDEXES), rng.pick(INDEXES)];
            if rng.chance(40) {
                c.push(rng.pick(&["WITHSCORES", "REV", "BYSCORE", "LIMIT"]));
            }
            c
        }
        82 => {
            let mut c = vec![
                s("ZREVRANGEBYSCORE"),
                k(rng),
                rng.pick(&["+inf", "2", "(2.5", "-inf", "x"]),
                rng.pick(&["-inf", "(1", "0", "1", "+inf"]),
            ];
            if rng.chance(40) {
                c.push(s("WITHSCORES"));
            }
            limit(rng, &mut c);
            c
        }
        83 => vec![s("ZREVRANK"), k(rng), rng.pick(MEMBERS)],
        84 => {
            let mut c = vec![s("ZMSCORE"), k(rng)];
            c.extend((0..1 + rng.below(3)).map(|_| rng.pick(MEMBERS)));
            c
        }
        85 => {
            let mut c = vec![
                rng.pick(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]),
                k(rng),
                rng.pick(LEX),
                rng.pick(LEX),
            ];
            if !limit(rng, &mut c) && rng.chance(10) {
                c.push(s("WITHSCORES"));
            }
            c
        }
        86 => {
            let mut c = vec![
                s("ZRANGE"),
                k(rng),
                rng.pick(LEX),
                rng.pick(LEX),
                s("BYLEX"),
            ];
            if rng.chance(40) {
                c.push(s("REV"));
            }
            limit(rng, &mut c);
            if rng.chance(10) {
                c.push(rng.pick(&["WITHSCORES", "BYSCORE", "BYLEX"]));
            }
            c
        }
        87 => vec![s("ZLEXCOUNT"), k(rng), rng.pick(LEX), rng.pick(LEX)],
        88 | 89 => {
            let mut c = vec![s("LPOS"), k(rng), value(rng)];
            for _ in 0..rng.below(3) {
                c.push(rng.pick(&["RANK", "COUNT", "MAXLEN", "rank", "FOO"]));
                // (Redis 7.0 negates RANK unchecked, so RANK at i64's ends
                // answers by undefined behaviour there: kept out.)
                c.push(rng.pick(&["1", "-1", "2", "-2", "3", "0", "x", "100"]));
            }
            c
        }
        90 | 91 | 95 => {
            // LMPOP/ZMPOP, and now and then their blocking kin with a
            // timeout that ends at once (never 0: that waits for ever).
            let zset = rng.chance(2);
            let mut c = match (n, zset) {
                (95, false) => vec![s("BLMPOP"), rng.pick(&["0.001", "0.002", "-1", "x"])],
                (95, true) => vec![s("BZMPOP"), rng.pick(&["0.001", "0.002", "-1", "x"])],
                (_, false) => vec![s("LMPOP")],
                (_, true) => vec![s("ZMPOP")],
            };
            let keys = 1 + rng.below(3);
            c.push(if rng.chance(10) {
                rng.pick(&["0", "-1", "x", "4"])
            } else {
                keys.to_string().into_bytes()
            });
            for _ in 0..keys {
                c.push(k(rng));
            }
            c.push(rng.pick(if zset {
                &["MIN", "MAX", "min", "LEFT", "FOO"]
            } else {
                &["LEFT", "RIGHT", "left", "MIN", "FOO"]
            }));
            if rng.chance(2) {
                c.push(rng.pick(&["COUNT", "count", "FOO"]));
                c.push(rng.pick(&["1", "2", "10", "0", "-1", "x"]));
            }
            c
        }
        92 => {
            let keys = 1 + rng.below(3);
            let mut c = vec![
                s("SINTERCARD"),
                if rng.chance(10) {
                    rng.pick(&["0", "-1", "x", "5"])
                } else {
                    keys.to_string().into_bytes()
                },
            ];
            for _ in 0..keys {
                c.push(k(rng));
            }
            if rng.chance(2) {
                c.push(rng.pick(&["LIMIT", "limit", "FOO"]));
                c.push(rng.pick(&["0", "1", "2", "-1", "x"]));
            }
            c
        }
        93 => vec![
            s("LINSERT"),
            k(rng),
            rng.pick(&["BEFORE", "AFTER", "before", "FOO"]),
            value(rng),
            value(rng),
        ],
        94 => {
            let mut c = vec![rng.pick(&["LPUSHX", "RPUSHX"]), k(rng)];
            for _ in 0..1 + rng.below(3) {
                c.push(value(rng));
            }
            c
        }
        97 => vec![
            rng.pick(&["ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZREMRANGEBYLEX"]),
            k(rng),
            rng.pick(&[
                "0", "1", "-1", "(1", "-inf", "+inf", "[a", "(b", "-", "+", "x", "2",
            ]),
            rng.pick(&[
                "0", "1", "-1", "(2", "+inf", "-inf", "[c", "(a", "+", "-", "x", "10",
            ]),
        ],
        98 => vec![
            s("SETBIT"),
            k(rng),
            // (Not 4294967295: a 512 MiB string in both servers.)
            rng.pick(&["0", "1", "7", "8", "100", "-1", "x", "4294967296", "65535"]),
            rng.pick(&["0", "1", "2", "-1", "x"]),
        ],
        99 => vec![
            s("GETBIT"),
            k(rng),
            rng.pick(&["0", "1", "7", "8", "100", "-1", "x", "4294967296"]),
        ],
        100 => {
            let mut c = vec![
                rng.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
                k(rng),
            ];
            for _ in 0..1 + rng.below(3) {
                c.push(k(rng));
            }
            c
        }
        101 | 102 => {
            let store = rng.chance(2);
            let op = rng.pick(&["ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD"]);
            let store = store && op != b"ZINTERCARD";
            let mut c = vec![if store {
                [op.as_slice(), b"STORE"].concat()
            } else {
                op.clone()
            }];
            if store {
                c.push(k(rng));
            }
            let keys = 1 + rng.below(3);
            c.push(if rng.chance(10) {
                rng.pick(&["0", "-1", "x", "5"])
            } else {
                keys.to_string().into_bytes()
            });
            for _ in 0..keys {
                c.push(k(rng));
            }
            if rng.chance(3) {
                c.push(s("WEIGHTS"));
                for _ in 0..keys {
                    c.push(rng.pick(FLOATS));
                }
            }
            if rng.chance(3) {
                c.push(s("AGGREGATE"));
                c.push(rng.pick(&["SUM", "MIN", "MAX", "max", "FOO"]));
            }
            if rng.chance(3) {
                c.push(rng.pick(&["WITHSCORES", "withscores", "FOO"]));
            }
            if rng.chance(3) {
                c.push(rng.pick(&["LIMIT", "limit"]));
                c.push(rng.pick(&["0", "1", "2", "-1", "x"]));
            }
            c
        }
        104 => {
            let mut c = vec![s("LCS"), k(rng), k(rng)];
            for _ in 0..rng.below(3) {
                match rng.below(6) {
                    0 => c.push(s("LEN")),
                    1 | 2 => c.push(s("IDX")),
                    3 => c.push(s("WITHMATCHLEN")),
                    4 => {
                        c.push(s("MINMATCHLEN"));
                        c.push(rng.pick(&["0", "2", "-1", "x"]));
                    }
                    _ => c.push(s("FOO")),
                }
            }
            c
        }
        103 => {
            let mut c = vec![
                s("ZRANGESTORE"),
                k(rng),
                k(rng),
                rng.pick(&["0", "1", "-1", "(1", "-inf", "[a", "-", "x"]),
                rng.pick(&["0", "-1", "2", "(2", "+inf", "[c", "+", "x"]),
            ];
            if rng.chance(2) {
                c.push(rng.pick(&["BYSCORE", "BYLEX", "REV", "WITHSCORES", "FOO"]));
            }
            limit(rng, &mut c);
            c
        }
        96 if rng.chance(4) => {
            let mut c = vec![
                rng.pick(&["SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"]),
                k(rng),
            ];
            if rng.chance(2) {
                c.push(rng.pick(&["0", "1", "2", "-3", "10", "-9223372036854775808", "x"]));
                if rng.chance(2) {
                    c.push(rng.pick(&["WITHVALUES", "WITHSCORES", "FOO"]));
                }
            }
            c
        }
        96 if rng.chance(2) => {
            // (No BY: a pattern names keys on other shards; no BY nosort:
            // a set's order is each server's own.)
            let mut c = vec![rng.pick(&["SORT", "SORT_RO"]), k(rng)];
            for _ in 0..rng.below(4) {
                match rng.below(6) {
                    0 => c.push(rng.pick(&["DESC", "ASC", "desc"])),
                    1 => c.push(s("ALPHA")),
                    2 => {
                        c.push(s("LIMIT"));
                        c.push(rng.pick(INDEXES));
                        c.push(rng.pick(COUNTS));
                    }
                    3 => {
                        c.push(s("STORE"));
                        c.push(k(rng));
                    }
                    4 => {
                        c.push(s("GET"));
                        c.push(s("#"));
                    }
                    _ => c.push(s("FOO")),
                }
            }
            c
        }
        96 if rng.chance(3) => vec![
            rng.pick(&["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"]),
            k(rng),
            rng.pick(&["0.001", "0.002", "-1", "x"]),
        ],
        _ => vec![s("EXISTS"), k(rng)],
    }
}
