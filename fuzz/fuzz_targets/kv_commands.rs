//! Every command of kv's table that runs on a keyspace, with arguments
//! from a pool of edge values and raw fuzz bytes, in RESP2 and RESP3: no
//! handler may panic (kv answers a panic with an internal error, which
//! this target counts as a crash), and each reply is one well-formed RESP
//! value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardloop_apps::kv::cmd::{self, Args};
use shardloop_apps::kv::db::Db;
use shardloop_apps::kv::resp::reply;

/// Argument values that reach the handlers' edge cases.
const POOL: &[&[u8]] = &[
    b"k0",
    b"k1",
    b"k2",
    b"a",
    b"b",
    b"",
    b"0",
    b"1",
    b"-1",
    b"2",
    b"100",
    b"1.5",
    b"-inf",
    b"+inf",
    b"(1",
    b"[a",
    b"(b",
    b"-",
    b"+",
    b"x",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"EX",
    b"PX",
    b"EXAT",
    b"PXAT",
    b"PERSIST",
    b"KEEPTTL",
    b"NX",
    b"XX",
    b"GT",
    b"LT",
    b"CH",
    b"INCR",
    b"GET",
    b"LEFT",
    b"RIGHT",
    b"RANK",
    b"COUNT",
    b"MAXLEN",
    b"LIMIT",
    b"WITHSCORES",
    b"BYSCORE",
    b"BYLEX",
    b"REV",
    b"REPLACE",
    b"DB",
    b"MATCH",
    b"TYPE",
];

/// Skips one RESP value at the start of `r`; returns what follows it.
fn skip_value(r: &[u8]) -> Option<&[u8]> {
    let end = r.windows(2).position(|w| w == b"\r\n")?;
    let (line, rest) = (&r[..end], &r[end + 2..]);
    let n = || -> Option<i64> { std::str::from_utf8(line.get(1..)?).ok()?.parse().ok() };
    match *line.first()? {
        b'+' | b'-' | b':' | b'_' | b',' => Some(rest),
        b'$' | b'=' => match n()? {
            -1 => Some(rest),
            len if len >= 0 => {
                let len = len as usize;
                (rest.get(len..len + 2)? == b"\r\n").then(|| &rest[len + 2..])
            }
            _ => None,
        },
        b'*' | b'~' | b'>' | b'%' => {
            let count = n()?;
            let count = if *line.first()? == b'%' {
                2 * count
            } else {
                count
            };
            (0..count.max(0)).try_fold(rest, |r, _| skip_value(r))
        }
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let keyspace: Vec<&cmd::Spec> = cmd::COMMANDS.iter().filter(|s| s.exec.is_some()).collect();
    let mut db = Db::default();
    let mut input = data;
    let mut now = 1_000_000u64;
    while input.len() >= 3 {
        let (head, rest) = input.split_at(3);
        input = rest;
        let spec = keyspace[head[0] as usize % keyspace.len()];
        reply::set_protocol(if head[1] & 1 == 1 { 3 } else { 2 });
        now += u64::from(head[1] >> 1);
        // 0 to 7 arguments after the name: pool values, or a run of raw
        // bytes taken from the input.
        let mut args: Vec<Vec<u8>> = vec![spec.name.as_bytes().to_vec()];
        for i in 0..(head[2] & 7) {
            let Some((&b, rest)) = input.split_first() else {
                break;
            };
            input = rest;
            if b & 0x80 == 0 || i == 0 {
                args.push(POOL[b as usize % POOL.len()].to_vec());
            } else {
                let n = ((b & 0x0f) as usize).min(input.len());
                args.push(input[..n].to_vec());
                input = &input[n..];
            }
        }
        if !cmd::arity_ok(spec, args.len()) {
            continue;
        }
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for a in &args {
            ranges.push(buf.len()..buf.len() + a.len());
            buf.extend_from_slice(a);
        }
        let a = Args {
            buf: &buf,
            ranges: &ranges,
        };
        let mut out = Vec::new();
        cmd::exec(&mut db, spec, &a, now, &mut out);
        let text = String::from_utf8_lossy(&out);
        // (A value may hold those words; only the whole reply is kv's
        // answer to a panic.)
        assert!(
            !out.starts_with(b"-ERR internal error"),
            "{args:?} panicked in its handler"
        );
        assert_eq!(
            skip_value(&out),
            Some(&[][..]),
            "{args:?}: not one RESP value: {text:?}"
        );
    }
});
