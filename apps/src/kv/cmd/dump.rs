//! DUMP and RESTORE, with Redis's payloads (see `kv::rdb`), so values move
//! between kv and Redis either way.

use super::super::rdb;
use super::*;

/// `DUMP key`: the value's payload, or nil.
pub(super) fn dump(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    match db.get(a.get(1), now) {
        Some(e) => reply::bulk(out, &rdb::dump(&e.value)),
        None => reply::nil(out),
    }
    Ok(())
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ n]`, its
/// checks in Redis 7.0's order and with its errors.
pub(super) fn restore(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        let more = j + 1 < a.len();
        match opt.as_slice() {
            b"replace" => replace = true,
            b"absttl" => absttl = true,
            b"idletime" if more && freq.is_none() => {
                let v = int_arg(a, j + 1)?;
                if v < 0 {
                    return err("ERR Invalid IDLETIME value, must be >= 0");
                }
                idle = Some(v);
                j += 1;
            }
            b"freq" if more && idle.is_none() => {
                let v = int_arg(a, j + 1)?;
                if !(0..=255).contains(&v) {
                    return err("ERR Invalid FREQ value, must be >= 0 and <= 255");
                }
                freq = Some(v);
                j += 1;
            }
            _ => return err(SYNTAX),
        }
        j += 1;
    }
    let key = a.get(1);
    if !replace && db.contains(key, now) {
        return err("BUSYKEY Target key name already exists.");
    }
    let ttl = int_arg(a, 2)?;
    if ttl < 0 {
        return err("ERR Invalid TTL value, must be >= 0");
    }
    let value = match rdb::restore(a.get(3)) {
        Ok(v) => v,
        Err(rdb::Refused::Footer) => return err("ERR DUMP payload version or checksum are wrong"),
        Err(rdb::Refused::Format) => return err("ERR Bad data format"),
    };
    let deleted = replace && db.remove(key).is_some();
    let expires_at = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(now.saturating_add(t as u64)),
    };
    if expires_at.is_some_and(|t| t <= now) {
        // Already expired: nothing is added (the old value is gone).
        if deleted {
            db.emit(n::GENERIC, "del", key);
        }
        reply::ok(out);
        return Ok(());
    }
    db.set(key, value, expires_at);
    if let Some(e) = db.peek_mut(key) {
        if let Some(secs) = idle {
            e.touched = (now as u32).wrapping_sub((secs as u64).saturating_mul(1000) as u32);
        }
        if let Some(f) = freq {
            e.lfu = (e.lfu & !0xff) | f as u32;
        }
    }
    db.emit(n::GENERIC, "restore", key);
    reply::ok(out);
    Ok(())
}
