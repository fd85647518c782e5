//! The per-connection write queue: bytes the kernel has not taken yet.
//!
//! A byte ring (`VecDeque<u8>`) rather than a list of chunks: appending the
//! remainder of a write copies once into capacity that is reused, and the
//! whole queue is always at most two contiguous slices, so one `writev`
//! flushes everything queued (DESIGN.md §3).

use std::collections::VecDeque;
use std::io::IoSlice;

/// Capacity kept after the queue drains; anything larger is given back so a
/// burst to one slow reader does not pin megabytes for the connection's life.
const RETAINED_CAPACITY: usize = 64 * 1024;

/// Queued outgoing bytes, in write order.
#[derive(Debug, Default)]
pub(crate) struct WriteBuffer {
    bytes: VecDeque<u8>,
}

impl WriteBuffer {
    /// Bytes queued.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends `data` after everything already queued.
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.bytes.extend(data);
    }

    /// The queued bytes as (at most two) slices for one vectored write.
    pub(crate) fn io_slices(&self) -> [IoSlice<'_>; 2] {
        let (a, b) = self.bytes.as_slices();
        [IoSlice::new(a), IoSlice::new(b)]
    }

    /// Drops the first `n` bytes, which the kernel accepted.
    pub(crate) fn consume(&mut self, n: usize) {
        self.bytes.drain(..n);
        if self.bytes.is_empty() {
            self.release_excess();
        }
    }

    /// Discards everything queued (abort, fatal error).
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.release_excess();
    }

    fn release_excess(&mut self) {
        if self.bytes.capacity() > RETAINED_CAPACITY {
            self.bytes = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(w: &WriteBuffer) -> Vec<u8> {
        w.io_slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    #[test]
    fn t11_order_is_kept_across_wraparound() {
        let mut w = WriteBuffer::default();
        w.push(b"abcdef");
        w.consume(4);
        w.push(b"ghijklmnop");
        assert_eq!(contents(&w), b"efghijklmnop");
        assert_eq!(w.len(), 12);
        w.consume(12);
        assert!(w.is_empty());
    }

    #[test]
    fn large_capacity_is_released_when_drained() {
        let mut w = WriteBuffer::default();
        w.push(&vec![7u8; 1 << 20]);
        w.consume(1 << 20);
        assert!(w.bytes.capacity() <= RETAINED_CAPACITY);
        w.push(&vec![7u8; 1 << 20]);
        w.clear();
        assert!(w.is_empty());
        assert!(w.bytes.capacity() <= RETAINED_CAPACITY);
    }
}
