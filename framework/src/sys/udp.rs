//! Batched datagram IO: `recvmmsg` and `sendmmsg`, several datagrams per
//! system call, into and from one shard's buffers.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use socket2::SockAddr;

/// The shard's buffers for batched datagram IO, made with its first UDP
/// endpoint.
pub(crate) struct UdpBatch {
    pub(crate) recv: RecvBatch,
    pub(crate) send: SendBatch,
}

impl UdpBatch {
    /// Room for `slots` datagrams per call each way.
    pub(crate) fn new(slots: usize) -> Self {
        Self {
            recv: RecvBatch::new(slots),
            send: SendBatch::new(slots),
        }
    }
}

/// Bytes per slot: the largest UDP payload fits, so nothing is truncated.
pub(crate) const SLOT: usize = 65_536;

/// Buffers and headers for one `recvmmsg` of up to `slots` datagrams.
/// Owned by one shard; the headers point into its own buffers and are
/// rebuilt before every call.
pub(crate) struct RecvBatch {
    bufs: Vec<u8>,
    iovecs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    msgs: Vec<libc::mmsghdr>,
}

impl RecvBatch {
    pub(crate) fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        // SAFETY: iovec, sockaddr_storage and mmsghdr are plain C structs
        // for which all-zero bytes are a valid value.
        let (iov, addr, msg) = unsafe {
            (
                zeroed::<libc::iovec>(),
                zeroed::<libc::sockaddr_storage>(),
                zeroed::<libc::mmsghdr>(),
            )
        };
        Self {
            bufs: vec![0; slots * SLOT],
            iovecs: vec![iov; slots],
            addrs: vec![addr; slots],
            msgs: vec![msg; slots],
        }
    }

    pub(crate) fn slots(&self) -> usize {
        self.msgs.len()
    }

    /// Receives up to `slots()` datagrams from `fd` without blocking;
    /// returns how many arrived (`WouldBlock` when none).
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let base = self.bufs.as_mut_ptr();
        for i in 0..self.msgs.len() {
            self.iovecs[i] = libc::iovec {
                // SAFETY: slot i lies inside `bufs` (len = slots * SLOT).
                iov_base: unsafe { base.add(i * SLOT) }.cast(),
                iov_len: SLOT,
            };
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers owned by `self`
        // (address storage, one iovec over its own slot), sized as stated;
        // `self` is borrowed mutably for the whole call, so nothing moves.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Datagram `i` of the last `recv` and its sender.
    pub(crate) fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let len = (self.msgs[i].msg_len as usize).min(SLOT);
        let data = &self.bufs[i * SLOT..i * SLOT + len];
        let namelen = self.msgs[i].msg_hdr.msg_namelen;
        // SAFETY: the kernel wrote a socket address of `namelen` bytes into
        // this storage; SockAddr only reads it as such.
        let addr = unsafe { SockAddr::new(self.addrs[i], namelen) };
        (data, addr.as_socket())
    }
}

/// Headers for one `sendmmsg` of up to `slots` queued datagrams. The
/// payloads are not copied: the iovecs point into the caller's queue for
/// the duration of the call.
pub(crate) struct SendBatch {
    iovecs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    msgs: Vec<libc::mmsghdr>,
}

impl SendBatch {
    pub(crate) fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        // SAFETY: plain C structs for which all-zero bytes are valid.
        let (iov, addr, msg) = unsafe {
            (
                zeroed::<libc::iovec>(),
                zeroed::<libc::sockaddr_storage>(),
                zeroed::<libc::mmsghdr>(),
            )
        };
        Self {
            iovecs: vec![iov; slots],
            addrs: vec![addr; slots],
            msgs: vec![msg; slots],
        }
    }

    /// Sends the first datagrams of `queue` (each with its target, `None`
    /// for the connected remote) on `fd` without blocking, at most `slots`
    /// of them. Returns how many the kernel took; an error means the first
    /// one failed (a later failure just ends the count short).
    pub(crate) fn send<'a>(
        &mut self,
        fd: RawFd,
        queue: impl Iterator<Item = (&'a [u8], Option<SocketAddr>)>,
    ) -> io::Result<usize> {
        let mut n = 0;
        for (data, target) in queue.take(self.msgs.len()) {
            self.iovecs[n] = libc::iovec {
                // The kernel only reads through this pointer (sendmmsg).
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            };
            let hdr = &mut self.msgs[n].msg_hdr;
            match target {
                Some(addr) => {
                    let addr = SockAddr::from(addr);
                    hdr.msg_namelen = addr.len();
                    self.addrs[n] = addr.as_storage();
                    hdr.msg_name = (&mut self.addrs[n] as *mut libc::sockaddr_storage).cast();
                }
                None => {
                    hdr.msg_name = std::ptr::null_mut();
                    hdr.msg_namelen = 0;
                }
            }
            hdr.msg_iov = &mut self.iovecs[n];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.msgs[n].msg_len = 0;
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: the first `n` headers point at live memory: addresses and
        // iovecs owned by `self` (borrowed mutably, so nothing moves) and
        // payloads borrowed from the queue for the whole call ('a); the
        // kernel only reads the payloads.
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        }
    }
}
