//! DUMP and RESTORE payloads in Redis's format: one value in RDB object
//! encoding, then the RDB version (2 bytes) and a CRC-64 (8 bytes, Jones
//! polynomial, as Redis's `crc64`), both little-endian.
//!
//! kv writes the plain encodings every Redis since 2.x reads (a string; a
//! list, set and hash as a count and strings; a sorted set as members and
//! binary scores, `ZSET_2`) with RDB version 10, Redis 7.0's. It reads
//! what Redis 7.0 and older write: those, plus integer-encoded and
//! LZF-compressed strings, intsets, ziplists (Redis up to 6.2), listpacks
//! and quicklists of either (Redis 7.0). A version above 10 (Redis 7.2's
//! listpack sets, functions) is refused as Redis 7.0 refuses it; streams,
//! modules and zipmaps are "Bad data format".

mod packed;
use packed::{intset, listpack, lzf_decompress, pairs, ziplist};

use std::collections::{HashMap, HashSet, VecDeque};

use super::db::{Value, ZSet};

/// Redis 7.0's RDB version.
const RDB_VERSION: u16 = 10;

const STRING: u8 = 0;
const LIST: u8 = 1;
const SET: u8 = 2;
const ZSET: u8 = 3;
const HASH: u8 = 4;
const ZSET_2: u8 = 5;
const LIST_ZIPLIST: u8 = 10;
const SET_INTSET: u8 = 11;
const ZSET_ZIPLIST: u8 = 12;
const HASH_ZIPLIST: u8 = 13;
const LIST_QUICKLIST: u8 = 14;
const HASH_LISTPACK: u8 = 16;
const ZSET_LISTPACK: u8 = 17;
const LIST_QUICKLIST_2: u8 = 18;

/// The CRC-64 table of Redis's `crc64` (Jones, reflected).
const CRC_TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
            j += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Redis's `crc64(0, bytes)`.
pub fn crc64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |crc, &b| {
        CRC_TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// The DUMP payload of `v`.
pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        Value::Str(s) => {
            out.push(STRING);
            string(&mut out, s);
        }
        Value::List(l) => {
            out.push(LIST);
            len(&mut out, l.len() as u64);
            for e in l {
                string(&mut out, e);
            }
        }
        Value::Set(s) => {
            out.push(SET);
            len(&mut out, s.len() as u64);
            for e in s {
                string(&mut out, e);
            }
        }
        Value::Hash(h) => {
            out.push(HASH);
            len(&mut out, h.len() as u64);
            for (f, v) in h {
                string(&mut out, f);
                string(&mut out, v);
            }
        }
        Value::ZSet(z) => {
            out.push(ZSET_2);
            len(&mut out, z.len() as u64);
            // Redis writes from the highest score, so that loading
            // appends to its skiplist; either order loads.
            for (score, member) in z.order.iter().rev() {
                string(&mut out, member);
                out.extend_from_slice(&score.0.to_le_bytes());
            }
        }
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a payload is refused, as Redis's RESTORE says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// "DUMP payload version or checksum are wrong".
    Footer,
    /// "Bad data format".
    Format,
}

/// The value of a DUMP payload (Redis's `verifyDumpPayload`, then
/// `rdbLoadObject`).
pub fn restore(payload: &[u8]) -> Result<Value, Refused> {
    if payload.len() < 10 {
        return Err(Refused::Footer);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().expect("8 bytes"));
    if version > RDB_VERSION || crc64(&payload[..payload.len() - 8]) != crc {
        return Err(Refused::Footer);
    }
    let mut r = Reader {
        buf: body,
        at: 0,
        inflate: INFLATE_BUDGET,
    };
    let v = r.object().ok_or(Refused::Format)?;
    if r.at != body.len() || v.is_empty_aggregate() {
        return Err(Refused::Format);
    }
    Ok(v)
}

/// An RDB length.
fn len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// An RDB string, as its bytes.
fn string(out: &mut Vec<u8>, s: &[u8]) {
    len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// How many bytes the LZF strings of one payload may expand to in all
/// (1 GiB): a payload of compressed runs cannot make the shard allocate
/// ~90 times its size. Each string is also at most Redis's 512 MiB.
const INFLATE_BUDGET: usize = 1 << 30;

/// A cursor over a payload; every read is `None` past its end.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    /// What LZF strings may still expand to.
    inflate: usize,
}

/// A length, or one of the special string encodings.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let b = self.buf.get(self.at..end)?;
        self.at = end;
        Some(b)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }

    fn len_or_encoding(&mut self) -> Option<Len> {
        let b = self.byte()?;
        Some(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain(u64::from(b & 0x3f) << 8 | u64::from(self.byte()?)),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                    self.bytes(4)?.try_into().ok()?,
                ))),
                0x81 => Len::Plain(u64::from_be_bytes(self.bytes(8)?.try_into().ok()?)),
                _ => return None,
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    fn len(&mut self) -> Option<usize> {
        match self.len_or_encoding()? {
            Len::Plain(n) => usize::try_from(n).ok(),
            Len::Encoded(_) => None,
        }
    }

    /// A count of elements, bounded by what is left to read (each takes a
    /// byte at least), so a forged count cannot reserve memory.
    fn count(&mut self) -> Option<usize> {
        let n = self.len()?;
        (n <= self.buf.len() - self.at).then_some(n)
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Some(self.bytes(usize::try_from(n).ok()?)?.to_vec()),
            Len::Encoded(0) => Some((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => Some(
                i16::from_le_bytes(self.bytes(2)?.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
            ),
            Len::Encoded(2) => Some(
                i32::from_le_bytes(self.bytes(4)?.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
            ),
            Len::Encoded(3) => {
                let clen = self.len()?;
                let ulen = self.len()?;
                if ulen > 512 << 20 || ulen > self.inflate {
                    return None;
                }
                self.inflate -= ulen;
                lzf_decompress(self.bytes(clen)?, ulen)
            }
            Len::Encoded(_) => None,
        }
    }

    /// Redis's `rdbLoadDoubleValue` (the old sorted set's scores).
    fn text_double(&mut self) -> Option<f64> {
        match self.byte()? {
            253 => None,
            254 => Some(f64::INFINITY),
            255 => Some(f64::NEG_INFINITY),
            n => std::str::from_utf8(self.bytes(n as usize)?)
                .ok()?
                .parse()
                .ok(),
        }
    }

    fn object(&mut self) -> Option<Value> {
        let kind = self.byte()?;
        Some(match kind {
            STRING => Value::Str(self.string()?),
            LIST => {
                let n = self.count()?;
                let mut l = VecDeque::with_capacity(n);
                for _ in 0..n {
                    l.push_back(self.string()?);
                }
                Value::List(l)
            }
            SET => {
                let n = self.count()?;
                let mut s = HashSet::with_capacity_and_hasher(n, Default::default());
                for _ in 0..n {
                    if !s.insert(self.string()?) {
                        return None;
                    }
                }
                Value::Set(s)
            }
            ZSET | ZSET_2 => {
                let n = self.count()?;
                let mut z = ZSet::default();
                for _ in 0..n {
                    let member = self.string()?;
                    let score = if kind == ZSET_2 {
                        f64::from_le_bytes(self.bytes(8)?.try_into().ok()?)
                    } else {
                        self.text_double()?
                    };
                    if score.is_nan() || !z.insert(&member, score) {
                        return None;
                    }
                }
                Value::ZSet(z)
            }
            HASH => {
                let n = self.count()?;
                let mut h = HashMap::with_capacity_and_hasher(n, Default::default());
                for _ in 0..n {
                    let f = self.string()?;
                    if h.insert(f, self.string()?).is_some() {
                        return None;
                    }
                }
                Value::Hash(h)
            }
            SET_INTSET => {
                let blob = self.string()?;
                let mut s = HashSet::default();
                for n in intset(&blob)? {
                    if !s.insert(n.to_string().into_bytes()) {
                        return None;
                    }
                }
                Value::Set(s)
            }
            LIST_ZIPLIST => Value::List(ziplist(&self.string()?)?.into()),
            LIST_QUICKLIST | LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut l = VecDeque::new();
                for _ in 0..nodes {
                    if kind == LIST_QUICKLIST {
                        l.extend(ziplist(&self.string()?)?);
                        continue;
                    }
                    match self.len()? {
                        // A plain node: one big element.
                        1 => l.push_back(self.string()?),
                        2 => l.extend(listpack(&self.string()?)?),
                        _ => return None,
                    }
                }
                Value::List(l)
            }
            HASH_ZIPLIST | HASH_LISTPACK => {
                let mut h = HashMap::default();
                for (f, v) in pairs(&self.string()?, kind == HASH_ZIPLIST)? {
                    if h.insert(f, v).is_some() {
                        return None;
                    }
                }
                Value::Hash(h)
            }
            ZSET_ZIPLIST | ZSET_LISTPACK => {
                let mut z = ZSet::default();
                for (m, s) in pairs(&self.string()?, kind == ZSET_ZIPLIST)? {
                    let score: f64 = std::str::from_utf8(&s).ok()?.parse().ok()?;
                    if score.is_nan() || !z.insert(&m, score) {
                        return None;
                    }
                }
                Value::ZSet(z)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_redis_s() {
        // Redis's crc64 test vector.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn every_type_comes_back_as_it_was_dumped() {
        let mut z = ZSet::default();
        z.insert(b"a", 1.5);
        z.insert(b"b", f64::INFINITY);
        let values = [
            Value::Str(b"hello".to_vec()),
            Value::Str(vec![7; 100_000]),
            Value::List((0..300).map(|i: i32| i.to_string().into_bytes()).collect()),
            Value::Set([b"x".to_vec(), b"y".to_vec()].into_iter().collect()),
            Value::Hash([(b"f".to_vec(), b"v".to_vec())].into_iter().collect()),
            Value::ZSet(z),
        ];
        for v in values {
            let back = restore(&dump(&v)).unwrap();
            assert_eq!(format!("{back:?}").len(), format!("{v:?}").len());
            assert_eq!(back.type_name(), v.type_name());
        }
        // A string claiming to inflate past 512 MiB is refused unread.
        let mut bomb = vec![STRING, 0xc3, 0x01];
        len(&mut bomb, 600 << 20);
        bomb.push(0x00);
        bomb.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(&bomb);
        bomb.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(restore(&bomb).unwrap_err(), Refused::Format);
        let mut bad = dump(&Value::Str(b"x".to_vec()));
        bad[1] ^= 1;
        assert_eq!(restore(&bad).unwrap_err(), Refused::Footer);
        assert_eq!(restore(b"short").unwrap_err(), Refused::Footer);
    }
}
