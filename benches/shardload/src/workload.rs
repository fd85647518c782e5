//! What a load generator sends and what it expects back, behind one small
//! trait so request/response protocols (RESP, HTTP…) can be added as modes.

/// A request/response workload. Requests are numbered per connection; the
/// response to request `seq` must equal [`Workload::expected`] exactly.
pub trait Workload: Send + Sync + 'static {
    /// Appends request number `seq` to `out`.
    fn request(&self, seq: u64, out: &mut Vec<u8>);
    /// Appends the exact response to request `seq` to `out`.
    fn expected(&self, seq: u64, out: &mut Vec<u8>);
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
