//! The `Date` header's value (RFC 9110 §5.6.7, IMF-fixdate).

use std::time::SystemTime;

/// Bytes of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// `t` as an IMF-fixdate. Render it once per second and reuse the bytes:
/// the `http` app keeps one per shard, refreshed by a timer.
pub fn http_date(t: SystemTime) -> [u8; DATE_LEN] {
    let s = httpdate::fmt_http_date(t);
    let mut out = [b' '; DATE_LEN];
    let n = s.len().min(DATE_LEN);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}
