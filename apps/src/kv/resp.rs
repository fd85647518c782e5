//! RESP2 without IO: requests parsed from bytes (multibulk and inline, with
//! Redis's limits and error texts), replies written as bytes.

use std::ops::Range;

/// Longest bulk string a request may carry (Redis: 512 MiB).
pub const MAX_BULK: usize = 512 << 20;
/// Most arguments of one request (Redis: 1,048,576).
pub const MAX_MULTIBULK: usize = 1 << 20;
/// Longest inline request, and longest `*`/`$` header line (Redis: 64 KiB).
pub const MAX_INLINE: usize = 64 << 10;

/// One parsed request: its arguments as ranges of the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// A complete request of `consumed` bytes; its arguments are in the
    /// caller's vector.
    Request { consumed: usize },
    /// An empty inline line: skip it.
    Empty { consumed: usize },
    /// More bytes are needed. `need` is how many the input must hold at
    /// least before a retry can succeed (a bound for the query buffer).
    Incomplete,
    /// The peer broke the protocol: answer with this error, then close.
    Error(&'static str),
}

/// Parses the request at the start of `buf`, filling `args` with the
/// ranges of its arguments.
pub fn parse(buf: &[u8], args: &mut Vec<Range<usize>>) -> Parse {
    args.clear();
    match buf.first() {
        None => Parse::Incomplete,
        Some(b'*') => parse_multibulk(buf, args),
        Some(_) => parse_inline(buf, args),
    }
}

/// A `*<n>\r\n` or `$<n>\r\n` number.
enum Num {
    /// The value and where the line after it starts.
    Ok(i64, usize),
    Incomplete,
    Invalid,
}

/// Reads the number of a header line starting at `from` (after its `*` or
/// `$`), digits and the line end in one pass.
#[inline]
fn header_number(buf: &[u8], from: usize) -> Num {
    let mut i = from;
    let neg = buf.get(i) == Some(&b'-');
    if neg {
        i += 1;
    }
    let start = i;
    let mut n: i64 = 0;
    while let Some(&b) = buf.get(i) {
        match b {
            b'0'..=b'9' if i - start < 18 => {
                n = n * 10 + i64::from(b - b'0');
                i += 1;
            }
            b'\r' if i > start => {
                return match buf.get(i + 1) {
                    None => Num::Incomplete,
                    Some(b'\n') => Num::Ok(if neg { -n } else { n }, i + 2),
                    Some(_) => Num::Invalid,
                };
            }
            _ => return Num::Invalid,
        }
    }
    Num::Incomplete
}

fn parse_multibulk(buf: &[u8], args: &mut Vec<Range<usize>>) -> Parse {
    let (count, mut at) = match header_number(buf, 1) {
        Num::Ok(n, next) if n <= MAX_MULTIBULK as i64 => (n, next),
        Num::Incomplete => return Parse::Incomplete,
        _ => return Parse::Error("ERR Protocol error: invalid multibulk length"),
    };
    if count <= 0 {
        return Parse::Empty { consumed: at };
    }
    for _ in 0..count {
        match buf.get(at) {
            None => return Parse::Incomplete,
            Some(b'$') => {}
            Some(_) => return Parse::Error("ERR Protocol error: expected '$'"),
        }
        let (len, start) = match header_number(buf, at + 1) {
            Num::Ok(n, next) if (0..=MAX_BULK as i64).contains(&n) => (n as usize, next),
            Num::Incomplete => return Parse::Incomplete,
            _ => return Parse::Error("ERR Protocol error: invalid bulk length"),
        };
        if buf.len() < start + len + 2 {
            return Parse::Incomplete;
        }
        if &buf[start + len..start + len + 2] != b"\r\n" {
            return Parse::Error("ERR Protocol error: invalid bulk length");
        }
        args.push(start..start + len);
        at = start + len + 2;
    }
    Parse::Request { consumed: at }
}

fn parse_inline(buf: &[u8], args: &mut Vec<Range<usize>>) -> Parse {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > MAX_INLINE {
            Parse::Error("ERR Protocol error: too big inline request")
        } else {
            Parse::Incomplete
        };
    };
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let mut i = 0;
    while i < line_end {
        while i < line_end && buf[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line_end {
            break;
        }
        if buf[i] == b'"' || buf[i] == b'\'' {
            // Quoted arguments keep their bytes; escapes are not decoded
            // (redis-cli sends multibulk; inline is for telnet sessions).
            let quote = buf[i];
            let start = i + 1;
            let Some(close) = buf[start..line_end].iter().position(|&b| b == quote) else {
                return Parse::Error("ERR Protocol error: unbalanced quotes in request");
            };
            args.push(start..start + close);
            i = start + close + 1;
            if i < line_end && !buf[i].is_ascii_whitespace() {
                return Parse::Error("ERR Protocol error: unbalanced quotes in request");
            }
        } else {
            let start = i;
            while i < line_end && !buf[i].is_ascii_whitespace() {
                i += 1;
            }
            args.push(start..i);
        }
    }
    if args.is_empty() {
        Parse::Empty { consumed: nl + 1 }
    } else {
        Parse::Request { consumed: nl + 1 }
    }
}

/// Reply writers: append RESP2 to a buffer.
pub mod reply {
    /// `+OK`.
    pub fn ok(out: &mut Vec<u8>) {
        out.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string.
    pub fn simple(out: &mut Vec<u8>, s: &str) {
        out.push(b'+');
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// An error; `msg` starts with its code (`ERR`, `WRONGTYPE`…).
    pub fn error(out: &mut Vec<u8>, msg: &str) {
        out.push(b'-');
        out.extend_from_slice(msg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// An integer.
    pub fn int(out: &mut Vec<u8>, n: i64) {
        out.push(b':');
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// A bulk string.
    pub fn bulk(out: &mut Vec<u8>, data: &[u8]) {
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }

    /// The null bulk string.
    pub fn nil(out: &mut Vec<u8>) {
        out.extend_from_slice(b"$-1\r\n");
    }

    /// The null array (`*-1`).
    pub fn nil_array(out: &mut Vec<u8>) {
        out.extend_from_slice(b"*-1\r\n");
    }

    /// An array header of `n` elements.
    pub fn array(out: &mut Vec<u8>, n: usize) {
        out.push(b'*');
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// A bulk string or nil.
    pub fn opt_bulk(out: &mut Vec<u8>, data: Option<&[u8]>) {
        match data {
            Some(d) => bulk(out, d),
            None => nil(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(buf: &[u8]) -> (Parse, Vec<Vec<u8>>) {
        let mut args = Vec::new();
        let p = parse(buf, &mut args);
        (p, args.into_iter().map(|r| buf[r].to_vec()).collect())
    }

    #[test]
    fn multibulk_requests_parse_whole_or_not_at_all() {
        let req = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(
            args_of(req),
            (
                Parse::Request {
                    consumed: req.len()
                },
                vec![b"GET".to_vec(), b"k".to_vec()]
            )
        );
        for cut in 0..req.len() {
            assert_eq!(args_of(&req[..cut]).0, Parse::Incomplete, "cut at {cut}");
        }
        // Binary data, pipelined requests.
        let two = b"*1\r\n$4\r\na\r\nb\r\n*1\r\n$0\r\n\r\n";
        let (p, a) = args_of(two);
        assert_eq!(p, Parse::Request { consumed: 14 });
        assert_eq!(a, vec![b"a\r\nb".to_vec()]);
        assert_eq!(args_of(&two[14..]).1, vec![Vec::<u8>::new()]);
    }

    #[test]
    fn limits_and_garbage_get_redis_errors_before_allocating() {
        assert_eq!(
            args_of(b"*1048577\r\n").0,
            Parse::Error("ERR Protocol error: invalid multibulk length")
        );
        assert_eq!(
            args_of(b"*1\r\n$536870913\r\n").0,
            Parse::Error("ERR Protocol error: invalid bulk length")
        );
        assert_eq!(
            args_of(b"*1\r\n$-2\r\n").0,
            Parse::Error("ERR Protocol error: invalid bulk length")
        );
        assert_eq!(
            args_of(b"*x\r\n").0,
            Parse::Error("ERR Protocol error: invalid multibulk length")
        );
        assert_eq!(
            args_of(b"*1\r\n:1\r\n").0,
            Parse::Error("ERR Protocol error: expected '$'")
        );
        assert_eq!(
            args_of(&[b'a'; MAX_INLINE + 1]).0,
            Parse::Error("ERR Protocol error: too big inline request")
        );
        assert_eq!(args_of(b"*0\r\n").0, Parse::Empty { consumed: 4 });
    }

    #[test]
    fn inline_requests_split_on_spaces_and_quotes() {
        let (p, a) = args_of(b"SET k \"hello world\"\r\n");
        assert_eq!(p, Parse::Request { consumed: 21 });
        assert_eq!(
            a,
            vec![b"SET".to_vec(), b"k".to_vec(), b"hello world".to_vec()]
        );
        assert_eq!(args_of(b"PING\n").1, vec![b"PING".to_vec()]);
        assert_eq!(args_of(b"\r\n").0, Parse::Empty { consumed: 2 });
        assert_eq!(args_of(b"PING").0, Parse::Incomplete);
        assert_eq!(
            args_of(b"SET k \"open\r\n").0,
            Parse::Error("ERR Protocol error: unbalanced quotes in request")
        );
    }

    #[test]
    fn replies_are_resp2() {
        let mut out = Vec::new();
        reply::ok(&mut out);
        reply::int(&mut out, -3);
        reply::bulk(&mut out, b"hi");
        reply::nil(&mut out);
        reply::array(&mut out, 2);
        reply::error(&mut out, "ERR x");
        assert_eq!(out, b"+OK\r\n:-3\r\n$2\r\nhi\r\n$-1\r\n*2\r\n-ERR x\r\n");
    }
}
