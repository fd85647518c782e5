//! Strings as bits and sequences: SETBIT, GETBIT, and LCS (bounded by
//! [`LCS_TABLE_MAX`]).

use super::*;

/// A bit offset as Redis's getBitOffsetFromArgument reads it: below
/// 512 MiB of bytes.
pub(super) fn bit_offset(arg: &[u8]) -> Result<usize, Msg> {
    parse_i64(arg)
        .filter(|&o| o >= 0 && (o >> 3) < 512 << 20)
        .map(|o| o as usize)
        .ok_or_else(|| Msg::from("ERR bit offset is not an integer or out of range"))
}

/// SETBIT key offset 0|1: the bit's old value; the string grows with
/// zero bytes to reach it (bit 0 is the first byte's highest bit).
pub(crate) fn setbit(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let offset = bit_offset(a.get(2))?;
    let on = match parse_i64(a.get(3)) {
        Some(0) => false,
        Some(1) => true,
        _ => return err("ERR bit is not an integer or out of range"),
    };
    let key = a.get(1);
    let mut dirty = false;
    if get_str(db, key, now)?.is_none() {
        db.set(key, Value::Str(Vec::new()), None);
        dirty = true;
    }
    let s = get_str(db, key, now)?.expect("created");
    let byte = offset >> 3;
    if s.len() <= byte {
        s.resize(byte + 1, 0);
        dirty = true;
    }
    let mask = 1u8 << (7 - (offset & 7));
    let old = s[byte] & mask != 0;
    if on {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    // Redis tells of a new key, a longer string or a changed bit only.
    if dirty || old != on {
        db.emit(n::STRING, "setbit", key);
    }
    reply::int(out, old as i64);
    Ok(())
}

/// GETBIT key offset: 0 past the string's end or for a missing key.
pub(crate) fn getbit(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    let offset = bit_offset(a.get(2))?;
    let bit = get_str(db, a.get(1), now)?
        .and_then(|s| s.get(offset >> 3).copied())
        .is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0);
    reply::int(out, bit as i64);
    Ok(())
}

/// The most memory LCS's table may take, as Redis's default
/// `proto-max-bulk-len` bounds it: a longer pair is refused, not computed.
pub(super) const LCS_TABLE_MAX: u64 = 512 << 20;

/// LCS a b [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest common
/// subsequence of two strings (a missing key is empty), by Redis 7.0's
/// dynamic programme and walk back, so ties break as Redis's do. The
/// table takes 4 bytes per pair of positions, bounded by
/// [`LCS_TABLE_MAX`].
pub(crate) fn lcs(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> R {
    const STRINGS: &str = "ERR The specified keys must contain string values";
    let x = match get_str(db, a.get(1), now) {
        Ok(v) => v.map(|v| v.clone()).unwrap_or_default(),
        Err(_) => return err(STRINGS),
    };
    let y = match get_str(db, a.get(2), now) {
        Ok(v) => v.map(|v| v.clone()).unwrap_or_default(),
        Err(_) => return err(STRINGS),
    };
    let (mut len_only, mut idx, mut with_len, mut min_len) = (false, false, false, 0i64);
    let mut i = 3;
    while i < a.len() {
        let opt = a.get(i).to_ascii_lowercase();
        match opt.as_slice() {
            b"idx" => idx = true,
            b"len" => len_only = true,
            b"withmatchlen" => with_len = true,
            b"minmatchlen" if i + 1 < a.len() => {
                min_len = int_arg(a, i + 1)?.max(0);
                i += 1;
            }
            _ => return err(SYNTAX),
        }
        i += 1;
    }
    if len_only && idx {
        return err("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (n, m) = (x.len(), y.len());
    if n as u64 >= u32::MAX as u64 - 1 || m as u64 >= u32::MAX as u64 - 1 {
        return err("ERR String too long for LCS");
    }
    let cells = (n as u64 + 1) * (m as u64 + 1);
    if cells * 4 > LCS_TABLE_MAX {
        return err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let w = m + 1;
    let mut t = vec![0u32; cells as usize];
    for i in 1..=n {
        for j in 1..=m {
            t[i * w + j] = if x[i - 1] == y[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[n * w + m];
    if len_only {
        reply::int(out, total as i64);
        return Ok(());
    }
    // Walk back from the end, gathering the string and the ranges (as
    // Redis: a range is emitted when the match stops being contiguous).
    let mut common = vec![0u8; total as usize];
    let mut ranges: Vec<[usize; 4]> = Vec::new();
    let (mut i, mut j, mut k) = (n, m, total as usize);
    let mut range: Option<[usize; 4]> = None; // a_start, a_end, b_start, b_end
    while i > 0 && j > 0 {
        let mut emit = false;
        if x[i - 1] == y[j - 1] {
            common[k - 1] = x[i - 1];
            match &mut range {
                None => range = Some([i - 1, i - 1, j - 1, j - 1]),
                Some(r) if r[0] == i && r[2] == j => {
                    r[0] -= 1;
                    r[2] -= 1;
                }
                Some(_) => emit = true,
            }
            if range.is_some_and(|r| r[0] == 0 || r[2] == 0) {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some(r) = range.take() {
                if (r[1] - r[0] + 1) as i64 >= min_len {
                    ranges.push(r);
                }
            }
        }
    }
    if !idx {
        reply::bulk(out, &common);
        return Ok(());
    }
    reply::map(out, 2);
    reply::bulk(out, b"matches");
    reply::array(out, ranges.len());
    for r in &ranges {
        reply::array(out, 2 + with_len as usize);
        reply::array(out, 2);
        reply::int(out, r[0] as i64);
        reply::int(out, r[1] as i64);
        reply::array(out, 2);
        reply::int(out, r[2] as i64);
        reply::int(out, r[3] as i64);
        if with_len {
            reply::int(out, (r[1] - r[0] + 1) as i64);
        }
    }
    reply::bulk(out, b"len");
    reply::int(out, total as i64);
    Ok(())
}
