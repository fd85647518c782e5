//! What kv says about a key itself: OBJECT, DEBUG OBJECT, MEMORY USAGE.

use super::*;

/// OBJECT ENCODING, REFCOUNT, IDLETIME, FREQ and HELP. kv keeps one
/// representation per type; ENCODING answers the encoding redis-server
/// 7.0 would use for the value with its default thresholds (so clients
/// and tests that branch on it see what Redis would say), REFCOUNT 1,
/// IDLETIME and FREQ from the key's access clock and LFU counter (which
/// of the two Redis tracks depends on the policy, and so does which of
/// the two it refuses; see `evict`). Reading them is no access.
pub(crate) fn object(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let sub = a.get(1).to_ascii_lowercase();
    if sub == b"help" && a.len() == 2 {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ];
        reply::array(out, lines.len());
        for l in lines {
            reply::simple(out, l);
        }
        return Ok(());
    }
    let known = matches!(
        sub.as_slice(),
        b"encoding" | b"refcount" | b"idletime" | b"freq"
    );
    if !known || a.len() != 3 {
        return Err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(c_str(a.get(1)))
        )
        .into());
    }
    // Expired keys go as on any access, but this look is not one.
    if !db.contains_untouched(a.get(2), now) {
        reply::nil(out);
        return Ok(());
    }
    let e = db.peek(a.get(2)).expect("checked above");
    let lfu = super::super::super::evict::policy().is_lfu();
    match sub.as_slice() {
        b"encoding" => reply::bulk(out, encoding(&e.value).as_bytes()),
        b"refcount" => reply::int(out, 1),
        b"idletime" if lfu => {
            return err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        }
        b"idletime" => reply::int(out, i64::from((now as u32).wrapping_sub(e.touched) / 1000)),
        _ if lfu => reply::int(out, i64::from(super::super::super::access::lfu_counter(e.lfu, now))),
        _ => {
            return err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        }
    }
    Ok(())
}

/// The encoding redis-server 7.0 picks for `v` with its default limits.
pub(super) fn encoding(v: &Value) -> &'static str {
    let small = |n: usize, longest: usize, max_n: usize| n <= max_n && longest <= 64;
    match v {
        Value::Str(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
        Value::Str(s) if s.len() <= 44 => "embstr",
        Value::Str(_) => "raw",
        Value::List(_) => "quicklist",
        Value::Hash(h) => {
            let longest = h
                .iter()
                .map(|(f, v)| f.len().max(v.len()))
                .max()
                .unwrap_or(0);
            if small(h.len(), longest, 128) {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Value::Set(s) => {
            if s.len() <= 512 && s.iter().all(|m| parse_i64(m).is_some()) {
                "intset"
            } else {
                "hashtable"
            }
        }
        Value::ZSet(z) => {
            let longest = z.scores.keys().map(Vec::len).max().unwrap_or(0);
            if small(z.len(), longest, 128) {
                "listpack"
            } else {
                "skiplist"
            }
        }
    }
}

/// DEBUG OBJECT key: Redis's line about a value. `at:` is where kv holds
/// the value (it stays put while the value is changed in place), the
/// encoding is OBJECT ENCODING's, the serialized length the value's bytes.
pub(crate) fn debug_object(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let Some(e) = db.get(a.get(2), now) else {
        return err("ERR no such key");
    };
    let bytes: usize = match &e.value {
        Value::Str(s) => s.len(),
        Value::List(l) => l.iter().map(Vec::len).sum(),
        Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len()).sum(),
        Value::Set(s) => s.iter().map(Vec::len).sum(),
        Value::ZSet(z) => z.scores.keys().map(|m| m.len() + 8).sum(),
    };
    let mut line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{bytes} lru:0 lru_seconds_idle:0",
        &e.value,
        encoding(&e.value)
    );
    if let Value::List(l) = &e.value {
        line += &format!(
            " ql_nodes:1 ql_avg_node:{}.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:{bytes}",
            l.len()
        );
    }
    reply::simple(out, &line);
    Ok(())
}

/// MEMORY USAGE key [SAMPLES n]: an estimate of the bytes kv holds for the
/// key (its name, its value's bytes, and a per-element overhead like
/// Redis's); nil for a missing key.
pub(crate) fn memory_usage(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    match a.len() {
        3 => {}
        5 if a.get(3).eq_ignore_ascii_case(b"samples") => {
            if parse_i64(a.get(4)).is_none() {
                return err(NOT_INT);
            }
        }
        _ => return err(SYNTAX),
    }
    let key = a.get(2);
    let Some(e) = db.get(key, now) else {
        reply::nil(out);
        return Ok(());
    };
    const ENTRY: usize = 16;
    let value: usize = match &e.value {
        Value::Str(s) => s.len(),
        Value::List(l) => l.iter().map(|e| e.len() + ENTRY).sum(),
        Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 2 * ENTRY).sum(),
        Value::Set(s) => s.iter().map(|m| m.len() + ENTRY).sum(),
        Value::ZSet(z) => z.scores.keys().map(|m| 2 * (m.len() + ENTRY) + 8).sum(),
    };
    reply::int(out, (56 + key.len() + value) as i64);
    Ok(())
}
