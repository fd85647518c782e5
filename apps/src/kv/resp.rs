//! RESP2 without IO: requests parsed from bytes (multibulk and inline, with
//! Redis's limits and error texts), replies written as bytes.

use std::ops::Range;

/// Longest bulk string a request may carry (Redis: 512 MiB).
pub const MAX_BULK: usize = 512 << 20;
/// Most arguments of one request (Redis: `INT_MAX`; what a client can
/// really send is bounded by the query buffer limit).
pub const MAX_MULTIBULK: usize = i32::MAX as usize;
/// Longest inline request, and longest `*`/`$` header line (Redis: 64 KiB,
/// `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE: usize = 64 << 10;

/// One parsed request: its arguments as ranges of the input (multibulk) or
/// of the caller's scratch buffer (inline, whose quoted arguments are
/// decoded).
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// A complete multibulk request of `consumed` bytes; its arguments are
    /// ranges of the input.
    Request { consumed: usize },
    /// A complete inline request of `consumed` bytes; its arguments are
    /// ranges of the scratch buffer.
    Inline { consumed: usize },
    /// An empty request (`*0`, a negative count or a blank line): skip it.
    Empty { consumed: usize },
    /// More bytes are needed. What was parsed so far is kept in the
    /// [`Cursor`], so the next call goes on from there: a request that
    /// arrives in many reads is parsed once, not once per read.
    Incomplete,
    /// The peer broke the protocol: answer with this error, then close.
    Error(ProtocolError),
}

/// Redis's protocol errors, with its texts (`networking.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A `*` line with no `\r` within 64 KiB.
    TooBigMbulkCount,
    /// A `*` count that is not a number or is over `INT_MAX`.
    InvalidMultibulkLength,
    /// A `$` line with no `\r` within 64 KiB.
    TooBigBulkCount,
    /// An argument's line does not start with `$` (the byte found).
    ExpectedDollar(u8),
    /// A `$` length that is not a number, negative or over 512 MiB.
    InvalidBulkLength,
    /// An inline request with no newline within 64 KiB.
    TooBigInline,
    /// An inline request whose quotes do not close.
    UnbalancedQuotes,
}

impl ProtocolError {
    /// The error reply's text, `ERR Protocol error: …`, as bytes (Redis
    /// puts the offending byte in as it is).
    pub fn message(&self) -> Vec<u8> {
        let mut m = b"ERR Protocol error: ".to_vec();
        match self {
            Self::TooBigMbulkCount => m.extend_from_slice(b"too big mbulk count string"),
            Self::InvalidMultibulkLength => m.extend_from_slice(b"invalid multibulk length"),
            Self::TooBigBulkCount => m.extend_from_slice(b"too big bulk count string"),
            Self::ExpectedDollar(b) => {
                m.extend_from_slice(b"expected '$', got '");
                m.push(*b);
                m.push(b'\'');
            }
            Self::InvalidBulkLength => m.extend_from_slice(b"invalid bulk length"),
            Self::TooBigInline => m.extend_from_slice(b"too big inline request"),
            Self::UnbalancedQuotes => m.extend_from_slice(b"unbalanced quotes in request"),
        }
        m
    }
}

/// How far an incomplete multibulk request was parsed. Its offsets are
/// relative to the request's first byte, so the caller may move the
/// request (to the start of its query buffer) between calls, as long as
/// the next call starts at the same request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Arguments the request has (0: its `*` line is not read yet).
    count: usize,
    /// Where the next argument's `$` line starts.
    at: usize,
}

impl Cursor {
    /// Whether a request is partly parsed.
    pub fn in_progress(&self) -> bool {
        self.count != 0
    }
}

/// Parses the request at the start of `buf` from scratch, filling `args`
/// (a convenience over [`parse_from`] for whole buffers).
pub fn parse(buf: &[u8], args: &mut Vec<Range<usize>>, scratch: &mut Vec<u8>) -> Parse {
    parse_from(buf, args, scratch, &mut Cursor::default())
}

/// Parses the request at the start of `buf`, going on from `cursor` (and
/// the arguments already in `args`) if an earlier call stopped in it.
pub fn parse_from(
    buf: &[u8],
    args: &mut Vec<Range<usize>>,
    scratch: &mut Vec<u8>,
    cursor: &mut Cursor,
) -> Parse {
    if !cursor.in_progress() {
        args.clear();
    }
    let parsed = match buf.first() {
        None => Parse::Incomplete,
        Some(b'*') => parse_multibulk(buf, args, cursor),
        Some(_) => parse_inline(buf, args, scratch),
    };
    if !matches!(parsed, Parse::Incomplete) {
        *cursor = Cursor::default();
    }
    parsed
}

/// Redis's `string2ll`: an optional `-`, then digits without a leading
/// zero (but "0"), at most 20 bytes, within `i64`.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// The header line starting at `from` (its `*` or `$`): the number's bytes
/// and where the next line starts, as Redis reads it (up to the first
/// `\r`, then one byte more, whatever it is). `Err(true)`: no `\r` within
/// 64 KiB.
fn header_line(buf: &[u8], from: usize) -> Result<Option<(&[u8], usize)>, bool> {
    let rest = &buf[from..];
    // Redis's `strchr` stops at a NUL: a `\r` behind one is not seen. A
    // plain loop: these lines are a few bytes long, too short for memchr's
    // vector setup to pay.
    let cr = rest.iter().position(|&b| b == b'\r' || b == 0);
    match cr.filter(|&i| rest[i] == b'\r') {
        None => Err(rest.len() > MAX_INLINE),
        // The byte after the `\r` must be there (Redis does not check it).
        Some(cr) if cr + 2 > rest.len() => Ok(None),
        // A line that is only its `\r` has no number (and no `$`: the
        // caller says so).
        Some(cr) => Ok(Some((&rest[cr.min(1)..cr], from + cr + 2))),
    }
}

/// The common header line, in one pass: `*` or `$`, 1 to 18 digits without
/// a leading zero (or just "0"), `\r` and one byte more. `None` for
/// anything else (a sign, a long number, no line end yet…), which
/// [`header_line`] and [`string2ll`] then read as Redis does. What this
/// accepts, they accept with the same value.
#[inline]
fn simple_header(buf: &[u8], from: usize) -> Option<(i64, usize)> {
    let rest = buf.get(from + 1..)?;
    let mut n: i64 = 0;
    let mut i = 0;
    while let Some(&b) = rest.get(i) {
        if !b.is_ascii_digit() || i == 18 {
            break;
        }
        n = n * 10 + i64::from(b - b'0');
        i += 1;
    }
    let ok =
        i > 0 && (rest[0] != b'0' || i == 1) && rest.get(i) == Some(&b'\r') && rest.len() > i + 1;
    ok.then_some((n, from + 1 + i + 2))
}

fn parse_multibulk(buf: &[u8], args: &mut Vec<Range<usize>>, c: &mut Cursor) -> Parse {
    if c.count == 0 {
        let (count, next) = match simple_header(buf, 0) {
            Some(line) => line,
            None => {
                let (num, next) = match header_line(buf, 0) {
                    Ok(Some(line)) => line,
                    Ok(None) | Err(false) => return Parse::Incomplete,
                    Err(true) => return Parse::Error(ProtocolError::TooBigMbulkCount),
                };
                match string2ll(num) {
                    Some(n) => (n, next),
                    None => return Parse::Error(ProtocolError::InvalidMultibulkLength),
                }
            }
        };
        if count > MAX_MULTIBULK as i64 {
            return Parse::Error(ProtocolError::InvalidMultibulkLength);
        }
        if count <= 0 {
            return Parse::Empty { consumed: next };
        }
        c.count = count as usize;
        c.at = next;
    }
    while args.len() < c.count {
        let (len, start) = match simple_header(buf, c.at).filter(|_| buf[c.at] == b'$') {
            Some(line) => line,
            None => {
                let (num, start) = match header_line(buf, c.at) {
                    Ok(Some(line)) => line,
                    Ok(None) | Err(false) => return Parse::Incomplete,
                    Err(true) => return Parse::Error(ProtocolError::TooBigBulkCount),
                };
                if buf[c.at] != b'$' {
                    return Parse::Error(ProtocolError::ExpectedDollar(buf[c.at]));
                }
                match string2ll(num) {
                    Some(n) => (n, start),
                    None => return Parse::Error(ProtocolError::InvalidBulkLength),
                }
            }
        };
        let len = match len {
            n if (0..=MAX_BULK as i64).contains(&n) => n as usize,
            _ => return Parse::Error(ProtocolError::InvalidBulkLength),
        };
        // The two bytes after the data are skipped, as Redis does,
        // without looking at them.
        if buf.len() < start + len + 2 {
            return Parse::Incomplete;
        }
        args.push(start..start + len);
        c.at = start + len + 2;
    }
    Parse::Request { consumed: c.at }
}

/// Redis's `isspace` (C locale).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn parse_inline(buf: &[u8], args: &mut Vec<Range<usize>>, scratch: &mut Vec<u8>) -> Parse {
    // Redis's `strchr` stops at a NUL: a newline behind one is not seen,
    // and the request waits for more until it is too big.
    let Some(nl) = memchr::memchr2(b'\n', 0, buf).filter(|&i| buf[i] == b'\n') else {
        return if buf.len() > MAX_INLINE {
            Parse::Error(ProtocolError::TooBigInline)
        } else {
            Parse::Incomplete
        };
    };
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let line = &buf[..line_end];
    if !split_args(line, args, scratch) {
        return Parse::Error(ProtocolError::UnbalancedQuotes);
    }
    if args.is_empty() {
        Parse::Empty { consumed: nl + 1 }
    } else {
        Parse::Inline { consumed: nl + 1 }
    }
}

/// Redis's `sdssplitargs`: arguments separated by blanks, `"…"` with the
/// escapes `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` and `\<any>`, `'…'` with
/// `\'`; a closing quote must be followed by a blank or the end. The
/// arguments are decoded into `scratch`; false if a quote does not close.
fn split_args(line: &[u8], args: &mut Vec<Range<usize>>, scratch: &mut Vec<u8>) -> bool {
    scratch.clear();
    args.clear();
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return true;
        }
        let start = scratch.len();
        // Inside `"…"` or `'…'`: which quote; the escapes differ.
        let mut quote: Option<u8> = None;
        loop {
            let c = at(p);
            match quote {
                Some(q) => {
                    let double = q == b'"';
                    if double
                        && c == b'\\'
                        && at(p + 1) == b'x'
                        && hex(at(p + 2)).is_some()
                        && hex(at(p + 3)).is_some()
                    {
                        scratch
                            .push(hex(at(p + 2)).unwrap_or(0) * 16 + hex(at(p + 3)).unwrap_or(0));
                        p += 3;
                    } else if double && c == b'\\' && at(p + 1) != 0 {
                        p += 1;
                        scratch.push(match at(p) {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    } else if !double && c == b'\\' && at(p + 1) == b'\'' {
                        p += 1;
                        scratch.push(b'\'');
                    } else if c == q {
                        // A closing quote is followed by a blank or the end.
                        if at(p + 1) != 0 && !is_space(at(p + 1)) {
                            return false;
                        }
                        p += 1;
                        break;
                    } else if c == 0 {
                        return false;
                    } else {
                        scratch.push(c);
                    }
                }
                None => match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' | b'\'' => quote = Some(c),
                    _ => scratch.push(c),
                },
            }
            p += 1;
        }
        args.push(start..scratch.len());
    }
}

pub mod reply;

#[cfg(test)]
mod tests;
