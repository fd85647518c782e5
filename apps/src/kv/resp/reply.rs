//! Reply writers: append RESP2, or RESP3 while the protocol of the
//! connection being answered is 3 ([`set_protocol`]: whoever runs a
//! command sets it first, on whichever shard it runs).

use std::cell::Cell;

thread_local! {
    static RESP3: Cell<bool> = const { Cell::new(false) };
}

/// Answers in RESP3 (`3`) or RESP2 (anything else) from now on, on
/// this thread.
pub fn set_protocol(proto: u8) {
    RESP3.with(|r| r.set(proto == 3));
}

/// Whether replies are RESP3 now.
pub fn resp3() -> bool {
    RESP3.with(Cell::get)
}

fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A map of `n` pairs (RESP2: an array of `2n`).
pub fn map(out: &mut Vec<u8>, n: usize) {
    if resp3() {
        header(out, b'%', n)
    } else {
        header(out, b'*', 2 * n)
    }
}

/// A set of `n` members (RESP2: an array).
pub fn set(out: &mut Vec<u8>, n: usize) {
    header(out, if resp3() { b'~' } else { b'*' }, n)
}

/// A push of `n` elements: a pub/sub message (RESP2: an array).
pub fn push(out: &mut Vec<u8>, n: usize) {
    header(out, if resp3() { b'>' } else { b'*' }, n)
}

/// A double, printed as Redis prints it (RESP2: a bulk string).
pub fn double(out: &mut Vec<u8>, v: f64) {
    let text = crate::kv::float::format(v);
    if resp3() {
        out.push(b',');
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, text.as_bytes());
    }
}

/// A double or null.
pub fn opt_double(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) => double(out, v),
        None => nil(out),
    }
}

/// Text for humans, as INFO and CLIENT INFO give it (RESP3: a verbatim
/// string of format `txt`; RESP2: a bulk string).
pub fn verbatim(out: &mut Vec<u8>, text: &[u8]) {
    if resp3() {
        header(out, b'=', text.len() + 4);
        out.extend_from_slice(b"txt:");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, text);
    }
}

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
    error_bytes(out, msg.as_bytes());
}

/// An error whose text may hold any byte (Redis's protocol errors
/// quote the byte they did not expect).
/// A newline inside becomes a space, as Redis makes sure of (an
/// argument quoted in an error could otherwise break the protocol).
pub fn error_bytes(out: &mut Vec<u8>, msg: &[u8]) {
    out.push(b'-');
    out.extend(
        msg.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
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

/// The null bulk string (RESP3: null).
pub fn nil(out: &mut Vec<u8>) {
    out.extend_from_slice(if resp3() { b"_\r\n" } else { b"$-1\r\n" });
}

/// The null array (`*-1`; RESP3: null).
pub fn nil_array(out: &mut Vec<u8>) {
    out.extend_from_slice(if resp3() { b"_\r\n" } else { b"*-1\r\n" });
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
