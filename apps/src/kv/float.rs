//! Floats as Redis reads and prints them, through the C library Redis
//! itself uses (`csrc/redis_float.c`): `strtod` with Redis's checks,
//! `"%.17g"` for replies of doubles (Redis 7.0), and INCRBYFLOAT's long
//! double sum. Exactness is the point: a Rust re-implementation would
//! differ from redis-server in the last digits (long double has 64 bits
//! of mantissa, and Rust prints shortest round-trip forms).

use std::os::raw::{c_char, c_int};

extern "C" {
    fn kv_parse_double(s: *const c_char, len: usize, out: *mut f64) -> c_int;
    fn kv_parse_range_bound(s: *const c_char, out: *mut f64) -> c_int;
    fn kv_format_double(v: f64, buf: *mut c_char, size: usize) -> c_int;
    fn kv_incrbyfloat(
        cur: *const c_char,
        cur_len: usize,
        by: *const c_char,
        by_len: usize,
        buf: *mut c_char,
        size: usize,
        out_len: *mut usize,
    ) -> c_int;
}

/// Redis's `MAX_LONG_DOUBLE_CHARS`.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// `s` with a NUL after it (it may hold NULs of its own: the C side
/// compares where parsing stopped with the length).
fn c_string(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s);
    v.push(0);
    v
}

/// A double as Redis's `getDoubleFromObject` reads it: `strtod`, the whole
/// string, no leading space, no NaN, no overflow or underflow to zero.
pub fn parse(s: &[u8]) -> Option<f64> {
    let c = c_string(s);
    let mut v = 0.0;
    // SAFETY: `c` is NUL-terminated and outlives the call; `v` is a valid
    // place for one double.
    let ok = unsafe { kv_parse_double(c.as_ptr().cast(), s.len(), &mut v) };
    (ok == 1).then_some(v)
}

/// A score bound of ZRANGEBYSCORE (after its `(`), as Redis's
/// `zslParseRange` reads it: `strtod` up to the first NUL, so an empty
/// bound is 0 and overflow is infinity; only NaN and trailing garbage are
/// refused.
pub fn parse_range_bound(s: &[u8]) -> Option<f64> {
    let c = c_string(s);
    let mut v = 0.0;
    // SAFETY: `c` is NUL-terminated and outlives the call; `v` is a valid
    // place for one double.
    let ok = unsafe { kv_parse_range_bound(c.as_ptr().cast(), &mut v) };
    (ok == 1).then_some(v)
}

/// A double as Redis 7.0 replies with it: `inf`, `-inf`, else `"%.17g"`.
pub fn format(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut buf = [0u8; 64];
    // SAFETY: `buf` has room for any "%.17g" of a double (at most 24
    // bytes) and its NUL; snprintf writes no more than `buf.len()`.
    let n = unsafe { kv_format_double(v, buf.as_mut_ptr().cast(), buf.len()) };
    String::from_utf8_lossy(&buf[..(n.max(0) as usize).min(buf.len() - 1)]).into_owned()
}

/// Why INCRBYFLOAT failed.
#[derive(Debug, PartialEq, Eq)]
pub enum IncrError {
    /// The stored value or the increment is not a float.
    NotFloat,
    /// The sum is NaN or infinite.
    NanOrInfinity,
}

/// INCRBYFLOAT: `cur` (none: the key is absent) plus `by`, in long double,
/// printed as Redis stores it.
pub fn incr(cur: Option<&[u8]>, by: &[u8]) -> Result<Vec<u8>, IncrError> {
    let cur_c = cur.map(c_string);
    let by_c = c_string(by);
    let mut buf = vec![0u8; MAX_LONG_DOUBLE_CHARS];
    let mut len = 0usize;
    // SAFETY: both inputs are NUL-terminated and outlive the call (a null
    // `cur` means no value); `buf` is writable for `buf.len()` bytes and
    // `len` is a valid place for the length.
    let rc = unsafe {
        kv_incrbyfloat(
            cur_c
                .as_ref()
                .map_or(std::ptr::null(), |c| c.as_ptr().cast()),
            cur.map_or(0, <[u8]>::len),
            by_c.as_ptr().cast(),
            by.len(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut len,
        )
    };
    match rc {
        0 => {
            buf.truncate(len.min(buf.len()));
            Ok(buf)
        }
        1 | 2 => Err(IncrError::NotFloat),
        _ => Err(IncrError::NanOrInfinity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_read_and_print_as_redis_7_0_does() {
        assert_eq!(parse(b"1.5"), Some(1.5));
        assert_eq!(parse(b"0x10"), Some(16.0));
        assert_eq!(parse(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"x",
            b"1\x002",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(format(0.1), "0.10000000000000001");
        assert_eq!(format(1.5), "1.5");
        assert_eq!(format(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format(f64::INFINITY), "inf");
    }

    #[test]
    fn incrbyfloat_sums_in_long_double() {
        assert_eq!(incr(None, b"0.1").unwrap(), b"0.1");
        assert_eq!(incr(Some(b"1.5"), b"0.1").unwrap(), b"1.6");
        assert_eq!(
            incr(None, b"12345678901234567890").unwrap(),
            b"12345678901234567890"
        );
        assert_eq!(incr(Some(b"-1"), b"1").unwrap(), b"0");
        assert_eq!(incr(Some(b"x"), b"1"), Err(IncrError::NotFloat));
        assert_eq!(incr(None, b"inf"), Err(IncrError::NanOrInfinity));
    }
}
