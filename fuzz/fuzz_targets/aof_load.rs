//! kv's append-only log loader: any bytes load without a panic (up to the
//! last complete command, or an error naming the offset), and a rewrite
//! round-trips: the base written from what loaded loads into the same
//! keyspace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardloop_apps::kv::aof::{replay, rewrite};
use shardloop_apps::kv::db::Db;

/// The keyspace, canonically: keys sorted, sets and hashes sorted.
fn dump(db: &Db) -> Vec<String> {
    let mut out: Vec<String> = db
        .entries()
        .map(|(k, e)| format!("{k:?} {} {:?}", e.value.canonical(), e.expires_at))
        .collect();
    out.sort();
    out
}

fuzz_target!(|data: &[u8]| {
    let mut db = Db::default();
    let Ok(good) = replay(data, &mut db) else {
        return;
    };
    assert!(good <= data.len());
    let base = rewrite(&db);
    let mut again = Db::default();
    assert_eq!(replay(&base, &mut again), Ok(base.len()), "a base loads whole");
    assert_eq!(dump(&again), dump(&db), "a rewrite keeps the keyspace");
});
