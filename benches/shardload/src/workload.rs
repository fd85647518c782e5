//! What a load generator sends and what it expects back, behind one small
//! trait so request/response protocols (RESP, HTTP…) can be added as modes.

/// A request/response workload. Requests are numbered per connection; the
/// response to request `seq` must equal [`Workload::expected`] exactly, or
/// its [`alternative`](Workload::alternative) when it has one.
pub trait Workload: Send + Sync + 'static {
    /// Appends request number `seq` to `out`.
    fn request(&self, seq: u64, out: &mut Vec<u8>);
    /// Appends the exact response to request `seq` to `out`.
    fn expected(&self, seq: u64, out: &mut Vec<u8>);
    /// Appends the other response that is also right, if there is one (a
    /// GET of a key nobody has set yet: nil); returns whether it did.
    fn alternative(&self, _seq: u64, _out: &mut Vec<u8>) -> bool {
        false
    }
    /// For responses that cannot be predicted byte for byte (HTTP's
    /// `Date`): checks the response to `seq` at the start of `buf`.
    /// `None` (the default) means: compare with [`expected`](Self::expected).
    fn check(&self, _seq: u64, _buf: &[u8]) -> Option<Check> {
        None
    }
}

/// What [`Workload::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A whole, right response of this many bytes.
    Complete(usize),
    /// Not whole yet.
    Partial,
    /// Wrong.
    Bad,
}

/// HTTP/1.1 keep-alive GETs of one path. A response is right when it
/// parses, is `200`, and its body (framed by `Content-Length`) is the
/// expected one — `Hello, World!` for `/plaintext`, the JSON message for
/// `/json`, any body of the announced length otherwise.
#[derive(Debug, Clone)]
pub struct Http {
    /// The request, precomputed.
    pub request: Vec<u8>,
    /// The body a right response carries, if known.
    pub body: Option<Vec<u8>>,
}

impl Http {
    /// GET `path` from `host`.
    pub fn get(path: &str, host: &str) -> Self {
        let body: Option<&[u8]> = match path {
            "/plaintext" => Some(b"Hello, World!"),
            "/json" => Some(br#"{"message":"Hello, World!"}"#),
            _ => None,
        };
        Self {
            request: format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
            body: body.map(<[u8]>::to_vec),
        }
    }
}

impl Workload for Http {
    fn request(&self, _seq: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.request);
    }

    fn expected(&self, _seq: u64, out: &mut Vec<u8>) {
        if let Some(b) = &self.body {
            out.extend_from_slice(b);
        }
    }

    fn check(&self, _seq: u64, buf: &[u8]) -> Option<Check> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut headers);
        let head = match res.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Some(Check::Partial),
            Err(_) => return Some(Check::Bad),
        };
        if res.code != Some(200) {
            return Some(Check::Bad);
        }
        let Some(len) = res
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| {
                std::str::from_utf8(h.value)
                    .ok()?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
        else {
            return Some(Check::Bad);
        };
        if buf.len() < head + len {
            return Some(Check::Partial);
        }
        if self
            .body
            .as_ref()
            .is_some_and(|b| b[..] != buf[head..head + len])
        {
            return Some(Check::Bad);
        }
        Some(Check::Complete(head + len))
    }
}

/// memtier-style key-value load over RESP: SETs and GETs in a ratio, on
/// keys drawn from a range, sequentially or at random. Every key's value is
/// a function of the key, so each reply is checked exactly: `+OK` for a
/// SET, the key's value (or nil, before anyone set it) for a GET.
#[derive(Debug, Clone, Copy)]
pub struct Resp {
    /// SETs out of every `sets + gets` requests.
    pub sets: u64,
    /// GETs out of every `sets + gets` requests.
    pub gets: u64,
    /// Keys are `key:0` to `key:<range - 1>`.
    pub key_range: u64,
    /// Random keys (else sequential).
    pub random: bool,
    /// Bytes per value.
    pub value_size: usize,
    /// Spreads connections over the key range.
    pub salt: u64,
}

impl Resp {
    fn is_set(&self, seq: u64) -> bool {
        seq % (self.sets + self.gets) < self.sets
    }

    fn key(&self, seq: u64) -> u64 {
        let n = seq.wrapping_add(self.salt);
        let n = if self.random {
            // splitmix64: a fixed, well-spread sequence.
            let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        } else {
            n
        };
        n % self.key_range.max(1)
    }

    fn value(&self, key: u64, out: &mut Vec<u8>) {
        out.extend((0..self.value_size).map(|i| b'a' + ((key as usize + i) % 26) as u8));
    }

    fn bulk(out: &mut Vec<u8>, data: &[u8]) {
        out.extend_from_slice(format!("${}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

impl Workload for Resp {
    fn request(&self, seq: u64, out: &mut Vec<u8>) {
        let key = format!("key:{}", self.key(seq));
        if self.is_set(seq) {
            out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
            Self::bulk(out, key.as_bytes());
            let mut v = Vec::with_capacity(self.value_size);
            self.value(self.key(seq), &mut v);
            Self::bulk(out, &v);
        } else {
            out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
            Self::bulk(out, key.as_bytes());
        }
    }

    fn expected(&self, seq: u64, out: &mut Vec<u8>) {
        if self.is_set(seq) {
            out.extend_from_slice(b"+OK\r\n");
        } else {
            let mut v = Vec::with_capacity(self.value_size);
            self.value(self.key(seq), &mut v);
            Self::bulk(out, &v);
        }
    }

    fn alternative(&self, seq: u64, out: &mut Vec<u8>) -> bool {
        if self.is_set(seq) {
            return false;
        }
        out.extend_from_slice(b"$-1\r\n");
        true
    }
}

/// Echo: the response is the request. Every request carries its sequence
/// number in its first 8 bytes (when it has room) and a pattern derived
/// from it after that, so a byte out of place or from another request is
/// caught.
#[derive(Debug, Clone, Copy)]
pub struct Echo {
    /// Bytes per request.
    pub size: usize,
}

impl Workload for Echo {
    fn request(&self, seq: u64, out: &mut Vec<u8>) {
        let start = out.len();
        let tag = seq.to_le_bytes();
        out.extend((0..self.size).map(|i| match tag.get(i) {
            Some(b) => *b,
            None => (seq as usize).wrapping_mul(31).wrapping_add(i) as u8,
        }));
        debug_assert_eq!(out.len() - start, self.size);
    }

    fn expected(&self, seq: u64, out: &mut Vec<u8>) {
        self.request(seq, out);
    }
}

/// The sequence number an echo datagram carries (its first 8 bytes).
pub fn seq_of(datagram: &[u8]) -> Option<u64> {
    datagram
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_responses_are_checked_by_parsing() {
        let w = Http::get("/plaintext", "h");
        let ok = b"HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 13\r\n\r\nHello, World!HTTP/1.1";
        assert_eq!(w.check(0, ok), Some(Check::Complete(ok.len() - 8)));
        assert_eq!(w.check(0, &ok[..30]), Some(Check::Partial));
        assert_eq!(w.check(0, &ok[..ok.len() - 10]), Some(Check::Partial));
        let wrong = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, Wrold!";
        assert_eq!(w.check(0, wrong), Some(Check::Bad));
        let status = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(w.check(0, status), Some(Check::Bad));
    }

    #[test]
    fn resp_requests_follow_the_ratio_and_replies_are_exact() {
        let w = Resp {
            sets: 1,
            gets: 3,
            key_range: 10,
            random: false,
            value_size: 4,
            salt: 0,
        };
        let mut out = Vec::new();
        w.request(0, &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$5\r\nkey:0\r\n$4\r\nabcd\r\n");
        out.clear();
        w.request(1, &mut out);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n");
        out.clear();
        w.expected(1, &mut out);
        assert_eq!(out, b"$4\r\nbcde\r\n");
        out.clear();
        assert!(w.alternative(1, &mut out));
        assert_eq!(out, b"$-1\r\n");
        assert!(!w.alternative(0, &mut out));
    }

    #[test]
    fn echo_requests_differ_by_sequence_and_carry_it() {
        let w = Echo { size: 64 };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        w.request(1, &mut a);
        w.request(2, &mut b);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(seq_of(&a), Some(1));
        let mut e = Vec::new();
        w.expected(1, &mut e);
        assert_eq!(a, e);
        let mut tiny = Vec::new();
        Echo { size: 3 }.request(7, &mut tiny);
        assert_eq!(tiny.len(), 3);
    }
}
