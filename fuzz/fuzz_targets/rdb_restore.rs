//! RESTORE's payload reader: any bytes are refused or read without a
//! panic, and what was read dumps into a payload that reads back as the
//! same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardloop_apps::kv::rdb;

fuzz_target!(|data: &[u8]| {
    // Fix the footer half the time, so the reader itself is reached.
    let mut payload = data.to_vec();
    if data.first().is_some_and(|b| b & 1 == 1) && payload.len() > 10 {
        let n = payload.len();
        payload[n - 10..n - 8].copy_from_slice(&10u16.to_le_bytes());
        let crc = rdb::crc64(&payload[..n - 8]);
        payload[n - 8..].copy_from_slice(&crc.to_le_bytes());
    }
    if let Ok(v) = rdb::restore(&payload) {
        let again = rdb::restore(&rdb::dump(&v)).expect("a dump reads back");
        assert_eq!(v.canonical(), again.canonical());
    }
});
