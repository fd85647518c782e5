//! The per-connection write queue: bytes the kernel has not taken yet.
//!
//! A byte ring (`VecDeque<u8>`) rather than a list of chunks: appending the
//! remainder of a write copies once into capacity that is reused, and the
//! whole queue is always at most two contiguous slices, so one `writev`
//! flushes everything queued.
//!
//! A file range queued by `sendfile` waits as a segment of its own, and
//! what is written after it waits behind it, in order; the ring only ever
//! holds the bytes ahead of the first such range, so the byte path is
//! unchanged when no file is queued.

use std::collections::VecDeque;
use std::fs::File;
use std::io::IoSlice;

/// Capacity kept after the queue drains; anything larger is given back so a
/// burst to one slow reader does not pin megabytes for the connection's life.
const RETAINED_CAPACITY: usize = 64 * 1024;

/// What waits behind a queued file range.
#[derive(Debug)]
pub(crate) enum Segment {
    /// `remaining` bytes of `file` from `offset`, for `sendfile`.
    File {
        file: File,
        offset: u64,
        remaining: u64,
    },
    Bytes(Vec<u8>),
}

/// Queued outgoing bytes, in write order.
#[derive(Debug, Default)]
pub(crate) struct WriteBuffer {
    /// The bytes ahead of any queued file range.
    bytes: VecDeque<u8>,
    /// From the first queued file range on: ranges and bytes in order.
    /// Boxed, and `None` whenever no range is queued: an idle connection
    /// pays one pointer for it.
    later: Option<Box<Later>>,
}

#[derive(Debug, Default)]
struct Later {
    segs: VecDeque<Segment>,
    /// Bytes (file bytes included) in `segs`.
    len: usize,
}

impl WriteBuffer {
    /// Bytes queued (file ranges included).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() + self.later.as_ref().map_or(0, |l| l.len)
    }

    /// Whether nothing is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.later.is_none()
    }

    /// Appends `data` after everything already queued.
    pub(crate) fn push(&mut self, data: &[u8]) {
        let Some(later) = self.later.as_mut() else {
            self.bytes.extend(data);
            return;
        };
        later.len += data.len();
        if let Some(Segment::Bytes(b)) = later.segs.back_mut() {
            b.extend_from_slice(data);
        } else {
            later.segs.push_back(Segment::Bytes(data.to_vec()));
        }
    }

    /// Appends `remaining` bytes of `file` from `offset`.
    pub(crate) fn push_file(&mut self, file: File, offset: u64, remaining: u64) {
        let later = self.later.get_or_insert_with(Box::default);
        later.len = later
            .len
            .saturating_add(usize::try_from(remaining).unwrap_or(usize::MAX));
        later.segs.push_back(Segment::File {
            file,
            offset,
            remaining,
        });
    }

    /// Whether the queue's head is bytes (to `writev`) rather than a file
    /// range; moves the bytes behind a finished range up first.
    #[inline]
    pub(crate) fn head_is_bytes(&mut self) -> bool {
        !self.bytes.is_empty() || self.promote()
    }

    /// The ring is empty: moves the bytes behind a finished file range
    /// into it; whether there are any.
    #[cold]
    #[inline(never)]
    fn promote(&mut self) -> bool {
        {
            if let Some(later) = self.later.as_mut() {
                if let Some(Segment::Bytes(_)) = later.segs.front() {
                    let Some(Segment::Bytes(b)) = later.segs.pop_front() else {
                        unreachable!()
                    };
                    later.len -= b.len();
                    self.bytes.extend(b);
                }
                if later.segs.is_empty() {
                    self.later = None;
                }
            }
        }
        !self.bytes.is_empty()
    }

    /// The file range at the head of the queue (the ring is empty).
    pub(crate) fn head_file(&mut self) -> Option<(&File, &mut u64, u64)> {
        if !self.bytes.is_empty() {
            return None;
        }
        match self.later.as_mut()?.segs.front_mut() {
            Some(Segment::File {
                file,
                offset,
                remaining,
            }) => Some((&*file, offset, *remaining)),
            _ => None,
        }
    }

    /// `n` bytes of the head file range were sent (its offset is already
    /// advanced); drops the range when it is done.
    pub(crate) fn file_sent(&mut self, n: u64) {
        let Some(later) = self.later.as_mut() else {
            return;
        };
        if let Some(Segment::File { remaining, .. }) = later.segs.front_mut() {
            *remaining -= n;
            later.len -= usize::try_from(n).unwrap_or(later.len);
            if *remaining == 0 {
                later.segs.pop_front();
            }
        }
        if later.segs.is_empty() {
            self.later = None;
        }
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
        self.later = None;
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
    fn t16_bytes_after_a_file_range_wait_behind_it_and_move_up_once_it_is_sent() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let mut w = WriteBuffer::default();
        w.push(b"ab");
        w.push_file(file, 5, 10);
        w.push(b"cd");
        w.push(b"ef");
        assert_eq!(w.len(), 16);
        assert!(w.head_is_bytes());
        assert_eq!(contents(&w), b"ab");
        w.consume(2);
        assert!(!w.head_is_bytes());
        let (_, offset, remaining) = w.head_file().unwrap();
        assert_eq!((*offset, remaining), (5, 10));
        *offset += 4;
        w.file_sent(4);
        assert_eq!(w.len(), 10);
        w.file_sent(6);
        assert!(w.head_is_bytes());
        assert_eq!(contents(&w), b"cdef");
        w.consume(4);
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
