//! The send queue of a datagram transport: whole datagrams the kernel has
//! not taken yet, with their targets.
//!
//! Datagrams are copied back to back into one byte arena that is reused
//! once the queue drains, so queueing costs no allocation per datagram;
//! the queue hands out its oldest datagrams in order for one `sendmmsg`.

use std::collections::VecDeque;
use std::net::SocketAddr;

/// Capacity kept after the queue drains; a larger arena is given back.
const RETAINED_CAPACITY: usize = 256 * 1024;

/// Queued datagrams, oldest first.
#[derive(Debug, Default)]
pub(crate) struct DatagramQueue {
    arena: Vec<u8>,
    /// Start in `arena`, length, target (`None`: the connected remote).
    items: VecDeque<(usize, usize, Option<SocketAddr>)>,
    /// Payload bytes queued (the arena may hold sent ones before `head`).
    bytes: usize,
}

impl DatagramQueue {
    /// Payload bytes queued.
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether nothing is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends one datagram.
    pub(crate) fn push(&mut self, data: &[u8], target: Option<SocketAddr>) {
        self.items.push_back((self.arena.len(), data.len(), target));
        self.arena.extend_from_slice(data);
        self.bytes += data.len();
    }

    /// The oldest datagrams, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], Option<SocketAddr>)> {
        self.items
            .iter()
            .map(|&(start, len, target)| (&self.arena[start..start + len], target))
    }

    /// The oldest datagram.
    #[cfg(test)]
    pub(crate) fn front(&self) -> Option<(&[u8], Option<SocketAddr>)> {
        self.iter().next()
    }

    /// Drops the `n` oldest datagrams (sent, or failed and reported).
    pub(crate) fn pop(&mut self, n: usize) {
        for _ in 0..n {
            let Some((_, len, _)) = self.items.pop_front() else {
                break;
            };
            self.bytes -= len;
        }
        match self.items.front() {
            None => self.clear(),
            // Compact once the sent prefix is most of the arena, so a queue
            // that never fully drains does not grow without bound.
            Some(&(head, _, _)) if head > self.arena.len() / 2 => {
                self.arena.drain(..head);
                for item in &mut self.items {
                    item.0 -= head;
                }
            }
            Some(_) => {}
        }
    }

    /// Discards everything (abort, or the queue drained).
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
        self.arena.clear();
        if self.arena.capacity() > RETAINED_CAPACITY {
            self.arena = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(q: &DatagramQueue) -> Vec<Vec<u8>> {
        q.iter().map(|(d, _)| d.to_vec()).collect()
    }

    #[test]
    fn datagrams_stay_whole_and_in_order_across_compaction() {
        let mut q = DatagramQueue::default();
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        q.push(b"one", None);
        q.push(b"", Some(to));
        q.push(b"three", None);
        assert_eq!(q.bytes(), 8);
        assert_eq!(q.front(), Some((&b"one"[..], None)));
        q.pop(1);
        assert_eq!(q.front(), Some((&b""[..], Some(to))));
        q.push(b"four", None);
        q.pop(1); // the sent prefix is now most of the arena: compacted
        assert_eq!(contents(&q), vec![b"three".to_vec(), b"four".to_vec()]);
        assert_eq!(q.bytes(), 9);
        q.pop(5);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
        assert!(q.arena.is_empty());
    }
}
