//! The compact encodings inside an RDB payload: LZF, intsets, listpacks and
//! ziplists (the older format), each checked against its blob's bounds.

/// The elements of a ziplist or listpack blob taken two by two (a small
/// hash's fields and values, a small sorted set's members and scores).
pub(super) fn pairs(blob: &[u8], zip: bool) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let items = if zip { ziplist(blob)? } else { listpack(blob)? };
    if items.len() % 2 != 0 {
        return None;
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Some(out)
}

/// LZF (liblzf's format, as Redis compresses strings): `ulen` bytes.
pub(super) fn lzf_decompress(input: &[u8], ulen: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(ulen.min(input.len().saturating_mul(64)));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = input.get(i..i + ctrl + 1)?;
            out.extend_from_slice(run);
            i += ctrl + 1;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let from = out.len().checked_sub(back)?;
            for k in 0..n + 2 {
                let b = out[from + k];
                out.push(b);
            }
        }
        if out.len() > ulen {
            return None;
        }
    }
    (out.len() == ulen).then_some(out)
}

/// The integers of an intset blob.
pub(super) fn intset(blob: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    let n = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + n.checked_mul(width)? {
        return None;
    }
    Some(
        blob[8..]
            .chunks_exact(width)
            .map(|c| match width {
                2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
                4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                _ => i64::from_le_bytes(c.try_into().expect("8 bytes")),
            })
            .collect(),
    )
}

/// A signed integer of `bytes.len()` bytes, little-endian.
pub(super) fn int_le(bytes: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for (k, &b) in bytes.iter().enumerate() {
        v |= i64::from(b) << (8 * k);
    }
    let bits = 8 * bytes.len() as u32;
    if bits < 64 {
        (v << (64 - bits)) >> (64 - bits)
    } else {
        v
    }
}

/// The elements of a listpack blob (Redis 7.0's small lists, hashes and
/// sorted sets).
pub(super) fn listpack(blob: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    if total != blob.len() || blob.last() != Some(&0xff) {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 6;
    loop {
        let b = *blob.get(i)?;
        if b == 0xff {
            break;
        }
        let (elem, size): (Vec<u8>, usize) = if b & 0x80 == 0 {
            ((b & 0x7f).to_string().into_bytes(), 1)
        } else if b & 0xc0 == 0x80 {
            let n = (b & 0x3f) as usize;
            (blob.get(i + 1..i + 1 + n)?.to_vec(), 1 + n)
        } else if b & 0xe0 == 0xc0 {
            let raw = (i64::from(b & 0x1f) << 8) | i64::from(*blob.get(i + 1)?);
            let v = if raw >= 1 << 12 { raw - (1 << 13) } else { raw };
            (v.to_string().into_bytes(), 2)
        } else if b & 0xf0 == 0xe0 {
            let n = ((b as usize & 0x0f) << 8) | *blob.get(i + 1)? as usize;
            (blob.get(i + 2..i + 2 + n)?.to_vec(), 2 + n)
        } else {
            match b {
                0xf0 => {
                    let n = u32::from_le_bytes(blob.get(i + 1..i + 5)?.try_into().ok()?) as usize;
                    (blob.get(i + 5..i + 5 + n)?.to_vec(), 5 + n)
                }
                0xf1..=0xf4 => {
                    let w = [2, 3, 4, 8][(b - 0xf1) as usize];
                    let v = int_le(blob.get(i + 1..i + 1 + w)?);
                    (v.to_string().into_bytes(), 1 + w)
                }
                _ => return None,
            }
        };
        // The back-length: 1 byte per 7 bits of the entry's size.
        let back = match size {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        out.push(elem);
        i += size + back;
    }
    (i + 1 == blob.len()).then_some(out)
}

/// The elements of a ziplist blob (Redis up to 6.2's small lists, hashes
/// and sorted sets).
pub(super) fn ziplist(blob: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    if total != blob.len() || blob.last() != Some(&0xff) {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 10;
    loop {
        let first = *blob.get(i)?;
        if first == 0xff {
            break;
        }
        // The previous entry's length: 1 byte, or 0xfe and 4 bytes.
        i += if first == 0xfe { 5 } else { 1 };
        let b = *blob.get(i)?;
        let (elem, size): (Vec<u8>, usize) = match b >> 6 {
            0 => {
                let n = (b & 0x3f) as usize;
                (blob.get(i + 1..i + 1 + n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = ((b as usize & 0x3f) << 8) | *blob.get(i + 1)? as usize;
                (blob.get(i + 2..i + 2 + n)?.to_vec(), 2 + n)
            }
            2 => {
                let n = u32::from_be_bytes(blob.get(i + 1..i + 5)?.try_into().ok()?) as usize;
                (blob.get(i + 5..i + 5 + n)?.to_vec(), 5 + n)
            }
            _ => {
                let w = match b {
                    0xc0 => 2,
                    0xd0 => 4,
                    0xe0 => 8,
                    0xf0 => 3,
                    0xfe => 1,
                    0xf1..=0xfd => 0,
                    _ => return None,
                };
                let v = if w == 0 {
                    i64::from(b & 0x0f) - 1
                } else {
                    int_le(blob.get(i + 1..i + 1 + w)?)
                };
                (v.to_string().into_bytes(), 1 + w)
            }
        };
        out.push(elem);
        i += size;
    }
    (i + 1 == blob.len()).then_some(out)
}
