//! kv's commands on one shard's keyspace against a simple model: random
//! sequences of string, list, set and hash commands over a few keys, each
//! reply checked against what the model says Redis answers.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use libfuzzer_sys::fuzz_target;
use shardloop_apps::kv::cmd::{self, Args};
use shardloop_apps::kv::db::Db;

enum V {
    Str(Vec<u8>),
    List(VecDeque<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
}

const WRONGTYPE: &[u8] = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

fn bulk(b: Option<&[u8]>) -> Vec<u8> {
    match b {
        None => b"$-1\r\n".to_vec(),
        Some(b) => {
            let mut out = format!("${}\r\n", b.len()).into_bytes();
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
            out
        }
    }
}

fn run(db: &mut Db, args: &[&[u8]]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for a in args {
        ranges.push(buf.len()..buf.len() + a.len());
        buf.extend_from_slice(a);
    }
    let spec = cmd::lookup(args[0]).expect("a known command");
    let mut out = Vec::new();
    cmd::exec(
        db,
        spec,
        &Args {
            buf: &buf,
            ranges: &ranges,
        },
        1_000,
        &mut out,
    );
    out
}

fuzz_target!(|data: &[u8]| {
    let mut db = Db::default();
    let mut model: HashMap<Vec<u8>, V> = HashMap::new();
    for op in data.chunks(3) {
        let [c, k, v] = match op {
            [a, b, c] => [*a, *b, *c],
            _ => return,
        };
        let key = vec![b'k', b'0' + k % 4];
        let val = vec![b'a' + v % 5];
        let (args, want): (Vec<&[u8]>, Vec<u8>) = match c % 16 {
            0 => {
                model.insert(key.clone(), V::Str(val.clone()));
                (vec![b"SET", &key, &val], b"+OK\r\n".to_vec())
            }
            1 => (
                vec![b"GET", &key],
                match model.get(&key) {
                    None => bulk(None),
                    Some(V::Str(s)) => bulk(Some(s)),
                    Some(_) => WRONGTYPE.to_vec(),
                },
            ),
            2 => (vec![b"DEL", &key], int(model.remove(&key).is_some() as i64)),
            3 => (vec![b"EXISTS", &key], int(model.contains_key(&key) as i64)),
            4 => (
                vec![b"APPEND", &key, &val],
                match model
                    .entry(key.clone())
                    .or_insert_with(|| V::Str(Vec::new()))
                {
                    V::Str(s) => {
                        s.extend_from_slice(&val);
                        int(s.len() as i64)
                    }
                    _ => WRONGTYPE.to_vec(),
                },
            ),
            5 | 6 => {
                let left = c % 16 == 5;
                let name: &[u8] = if left { b"LPUSH" } else { b"RPUSH" };
                let want = match model
                    .entry(key.clone())
                    .or_insert_with(|| V::List(VecDeque::new()))
                {
                    V::List(l) => {
                        if left {
                            l.push_front(val.clone());
                        } else {
                            l.push_back(val.clone());
                        }
                        int(l.len() as i64)
                    }
                    _ => WRONGTYPE.to_vec(),
                };
                (vec![name, &key, &val], want)
            }
            7 | 8 => {
                let left = c % 16 == 7;
                let name: &[u8] = if left { b"LPOP" } else { b"RPOP" };
                let want = match model.get_mut(&key) {
                    None => bulk(None),
                    Some(V::List(l)) => {
                        let x = if left { l.pop_front() } else { l.pop_back() };
                        let out = bulk(x.as_deref());
                        if l.is_empty() {
                            model.remove(&key);
                        }
                        out
                    }
                    Some(_) => WRONGTYPE.to_vec(),
                };
                (vec![name, &key], want)
            }
            9 => (
                vec![b"LLEN", &key],
                match model.get(&key) {
                    None => int(0),
                    Some(V::List(l)) => int(l.len() as i64),
                    Some(_) => WRONGTYPE.to_vec(),
                },
            ),
            10 => (
                vec![b"SADD", &key, &val],
                match model
                    .entry(key.clone())
                    .or_insert_with(|| V::Set(BTreeSet::new()))
                {
                    V::Set(s) => int(s.insert(val.clone()) as i64),
                    _ => WRONGTYPE.to_vec(),
                },
            ),
            11 => {
                let want = match model.get_mut(&key) {
                    None => int(0),
                    Some(V::Set(s)) => {
                        let n = s.remove(&val) as i64;
                        if s.is_empty() {
                            model.remove(&key);
                        }
                        int(n)
                    }
                    Some(_) => WRONGTYPE.to_vec(),
                };
                (vec![b"SREM", &key, &val], want)
            }
            12 => (
                vec![b"SCARD", &key],
                match model.get(&key) {
                    None => int(0),
                    Some(V::Set(s)) => int(s.len() as i64),
                    Some(_) => WRONGTYPE.to_vec(),
                },
            ),
            13 => (
                vec![b"HSET", &key, &val, &key],
                match model
                    .entry(key.clone())
                    .or_insert_with(|| V::Hash(BTreeMap::new()))
                {
                    V::Hash(h) => int(h.insert(val.clone(), key.clone()).is_none() as i64),
                    _ => WRONGTYPE.to_vec(),
                },
            ),
            14 => (
                vec![b"HGET", &key, &val],
                match model.get(&key) {
                    None => bulk(None),
                    Some(V::Hash(h)) => bulk(h.get(&val).map(Vec::as_slice)),
                    Some(_) => WRONGTYPE.to_vec(),
                },
            ),
            _ => (
                vec![b"TYPE", &key],
                format!(
                    "+{}\r\n",
                    match model.get(&key) {
                        None => "none",
                        Some(V::Str(_)) => "string",
                        Some(V::List(_)) => "list",
                        Some(V::Set(_)) => "set",
                        Some(V::Hash(_)) => "hash",
                    }
                )
                .into_bytes(),
            ),
        };
        let got = run(&mut db, &args);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{:?}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        );
    }
    // Every key agrees at the end.
    for k in 0..4u8 {
        let key = vec![b'k', b'0' + k];
        assert_eq!(
            run(&mut db, &[b"EXISTS", &key]),
            int(model.contains_key(&key) as i64)
        );
    }
});
