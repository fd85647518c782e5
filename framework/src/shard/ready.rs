//! One readiness event of the loop's epoll instance, read the way mio
//! reads it (the loop calls `epoll_pwait` itself: see `sys::epoll_wait`).

use mio::Token;

/// An epoll event: what is ready, and for which entry.
#[derive(Clone, Copy)]
pub(crate) struct Ready {
    events: u32,
    token: u64,
}

impl Ready {
    #[inline(always)]
    pub(crate) fn from_epoll(e: &libc::epoll_event) -> Self {
        // (The struct is packed on x86-64: copy the fields out.)
        let (events, token) = (e.events, e.u64);
        Self { events, token }
    }

    #[inline(always)]
    fn has(&self, flag: libc::c_int) -> bool {
        self.events as libc::c_int & flag != 0
    }

    /// The entry's token.
    #[inline(always)]
    pub(crate) fn token(&self) -> Token {
        Token(self.token as usize)
    }

    /// Whether a read should be tried: readable, the read side closed, or
    /// an error (which the read reports) — one mask test.
    #[inline(always)]
    pub(crate) fn wants_read(&self) -> bool {
        self.events & (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0
    }

    /// Whether a read must go on to `WouldBlock` even after a short read,
    /// as no later edge would report the end: the read side closed or in
    /// error — `is_read_closed() || is_error()`, and also for
    /// `EPOLLRDHUP` without `EPOLLIN` (reading on to
    /// `WouldBlock` is always right, only a read more). One mask test.
    #[inline(always)]
    pub(crate) fn read_to_end(&self) -> bool {
        self.events & (libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) as u32 != 0
    }

    /// Input (or out-of-band data) is ready.
    #[inline(always)]
    pub(crate) fn is_readable(&self) -> bool {
        self.has(libc::EPOLLIN) || self.has(libc::EPOLLPRI)
    }

    /// Output is possible.
    #[inline(always)]
    pub(crate) fn is_writable(&self) -> bool {
        self.has(libc::EPOLLOUT)
    }

    /// An error is pending on the socket.
    #[inline(always)]
    pub(crate) fn is_error(&self) -> bool {
        self.has(libc::EPOLLERR)
    }

    /// The peer closed its side (or the whole connection hung up).
    #[inline(always)]
    pub(crate) fn is_read_closed(&self) -> bool {
        self.has(libc::EPOLLHUP) || (self.has(libc::EPOLLIN) && self.has(libc::EPOLLRDHUP))
    }

    /// Writing can no longer succeed.
    #[inline(always)]
    pub(crate) fn is_write_closed(&self) -> bool {
        self.has(libc::EPOLLHUP)
            || (self.has(libc::EPOLLOUT) && self.has(libc::EPOLLERR))
            || self.events as libc::c_int == libc::EPOLLERR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(events: libc::c_int) -> Ready {
        Ready {
            events: events as u32,
            token: 7,
        }
    }

    #[test]
    fn flags_read_as_mio_reads_them() {
        let r = ready(libc::EPOLLIN | libc::EPOLLRDHUP);
        assert!(r.is_readable() && r.is_read_closed() && !r.is_writable());
        assert_eq!(r.token(), Token(7));
        let w = ready(libc::EPOLLOUT | libc::EPOLLERR);
        assert!(w.is_writable() && w.is_write_closed() && w.is_error());
        assert!(ready(libc::EPOLLERR).is_write_closed());
        assert!(ready(libc::EPOLLHUP).is_read_closed());
        assert!(!ready(libc::EPOLLRDHUP).is_read_closed());
    }

    #[test]
    fn wants_read_is_readable_or_read_closed_or_error_for_every_flag_set() {
        let flags = [
            libc::EPOLLIN,
            libc::EPOLLPRI,
            libc::EPOLLOUT,
            libc::EPOLLERR,
            libc::EPOLLHUP,
            libc::EPOLLRDHUP,
        ];
        for set in 0..(1u32 << flags.len()) {
            let events = (0..flags.len())
                .filter(|b| set & (1 << b) != 0)
                .fold(0, |acc, b| acc | flags[b]);
            let r = ready(events);
            assert_eq!(
                r.wants_read(),
                r.is_readable() || r.is_read_closed() || r.is_error(),
                "{events:#x}"
            );
            let closed = r.is_read_closed() || r.is_error();
            assert!(!closed || r.read_to_end(), "{events:#x}");
            // They differ only for EPOLLRDHUP without EPOLLIN.
            if r.has(libc::EPOLLIN) || !r.has(libc::EPOLLRDHUP) {
                assert_eq!(r.read_to_end(), closed, "{events:#x}");
            }
        }
    }
}
