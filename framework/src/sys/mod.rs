//! The only module allowed `unsafe` (with its files `fds.rs` and `udp.rs`):
//! system calls the standard library and
//! mio do not offer — `recvmmsg` and `sendmmsg`, receiving or sending
//! several datagrams in one call — the stream hot path's `recv`, `send`
//! and `sendmsg` issued through `syscall(2)`, and a zero-wait `poll(2)` for
//! the level-triggered `add_reader`/`add_writer`.
//!
//! Why not glibc's `recv`/`send`: they are POSIX cancellation points, and
//! each call enables and disables asynchronous cancellation around the
//! system call — about 60 user-space instructions per call, a third of an
//! echo request's whole cost, for a feature Rust never uses. On x86-64 the
//! per-message calls enter the kernel with the `syscall` instruction itself
//! ([`raw_syscall`]: glibc's variadic `syscall()` shuffles every argument
//! and writes `errno`, ~15 instructions a call); elsewhere through
//! `syscall(2)`. Every `unsafe` block says why it is sound.
#![allow(unsafe_code)]

use std::io::{self, IoSlice};
use std::mem::{size_of, zeroed};
use std::os::fd::RawFd;

mod fds;
pub(crate) mod task;
mod udp;

pub(crate) use fds::{inherited_fd, pidfd_open, recv_fds, send_fds, send_signal};
pub(crate) use udp::{RecvBatch, SendBatch, UdpBatch};

/// A system call with up to six arguments, entered directly: on x86-64 the
/// `syscall` instruction (no call into glibc's variadic `syscall()`, which
/// shuffles every argument and writes `errno`), elsewhere glibc's. Returns
/// the kernel's value: `-errno` on failure (see [`raw_error`]).
#[inline(always)]
unsafe fn raw_syscall<A, B, C, D, E, F>(
    nr: libc::c_long,
    a: A,
    b: B,
    c: C,
    d: D,
    e: E,
    f: F,
) -> libc::c_long
where
    A: SyscallArg,
    B: SyscallArg,
    C: SyscallArg,
    D: SyscallArg,
    E: SyscallArg,
    F: SyscallArg,
{
    #[cfg(target_arch = "x86_64")]
    {
        let ret: libc::c_long;
        // SAFETY (the caller's): the arguments are valid for system call
        // `nr`. The kernel clobbers rcx and r11 only.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr => ret,
                in("rdi") a.word(),
                in("rsi") b.word(),
                in("rdx") c.word(),
                in("r10") d.word(),
                in("r8") e.word(),
                in("r9") f.word(),
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY (the caller's), as above.
        let n = unsafe {
            libc::syscall(
                nr,
                a.word(),
                b.word(),
                c.word(),
                d.word(),
                e.word(),
                f.word(),
            )
        };
        if n < 0 {
            -(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO) as libc::c_long)
        } else {
            n
        }
    }
}

/// What [`raw_syscall`] takes: a value that fits a register.
trait SyscallArg {
    fn word(self) -> usize;
}

macro_rules! syscall_arg {
    ($($t:ty),*) => {$(
        impl SyscallArg for $t {
            #[inline(always)]
            fn word(self) -> usize {
                self as usize
            }
        }
    )*};
}
syscall_arg!(i32, u32, usize, libc::c_long);

impl<T> SyscallArg for *const T {
    #[inline(always)]
    fn word(self) -> usize {
        self as usize
    }
}

impl<T> SyscallArg for *mut T {
    #[inline(always)]
    fn word(self) -> usize {
        self as usize
    }
}

/// The error of a failed [`raw_syscall`] (`-errno`).
#[cold]
fn raw_error(n: libc::c_long) -> io::Error {
    io::Error::from_raw_os_error((-n) as i32)
}

/// `recv(fd, buf, len, 0)`: reads what the socket holds, without blocking
/// on a non-blocking socket.
#[inline]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    syscall_outcome(recv_raw(fd, buf))
}

/// `send(fd, data, len, MSG_NOSIGNAL | MSG_MORE)`: as [`send`], telling
/// the kernel more follows at once (a header before its file), so they
/// leave in the same packets.
pub(crate) fn send_more(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    send_flags(fd, data, libc::MSG_NOSIGNAL | libc::MSG_MORE)
}

/// `send(fd, data, len, MSG_NOSIGNAL)`: a closed peer is an `EPIPE` error,
/// never a SIGPIPE.
#[inline]
pub(crate) fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    send_flags(fd, data, libc::MSG_NOSIGNAL)
}

/// [`send`] returning the kernel's raw answer — the byte count, or
/// `-errno` — for the write hot path, which only compares it with the
/// length and leaves every other case to a cold function
/// ([`syscall_outcome`] turns it into a `Result` there).
#[inline(always)]
pub(crate) fn send_raw(fd: RawFd, data: &[u8]) -> isize {
    send_flags_raw(fd, data, libc::MSG_NOSIGNAL)
}

/// [`recv`] returning the kernel's raw answer — the byte count, 0 at the
/// end, or `-errno` — for the read hot path.
#[inline(always)]
pub(crate) fn recv_raw(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole
    // call; the address arguments are null, as recvfrom(2) allows.
    (unsafe {
        raw_syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            0,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    }) as isize
}

/// A raw system call answer as a `Result` (`-errno` is the error).
pub(crate) fn syscall_outcome(n: isize) -> io::Result<usize> {
    syscall_result(n as libc::c_long)
}

#[inline(always)]
fn send_flags(fd: RawFd, data: &[u8], flags: libc::c_int) -> io::Result<usize> {
    syscall_outcome(send_flags_raw(fd, data, flags))
}

#[inline(always)]
fn send_flags_raw(fd: RawFd, data: &[u8], flags: libc::c_int) -> isize {
    // SAFETY: `data` is valid for reads of `data.len()` bytes for the whole
    // call; the address arguments are null (connected socket).
    (unsafe {
        raw_syscall(
            libc::SYS_sendto,
            fd,
            data.as_ptr(),
            data.len(),
            flags,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    }) as isize
}

/// `sendmsg` of several slices with `MSG_NOSIGNAL`: one vectored write.
#[inline]
pub(crate) fn send_vectored(fd: RawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: all-zero is a valid msghdr (no name, no control data).
    let mut msg: libc::msghdr = unsafe { zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix; the kernel
    // only reads through these pointers.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
    // SAFETY: `msg` points at `bufs`, which outlive the call.
    let n = unsafe {
        raw_syscall(
            libc::SYS_sendmsg,
            fd,
            &msg as *const libc::msghdr,
            libc::MSG_NOSIGNAL,
            0usize,
            0usize,
            0usize,
        )
    };
    syscall_result(n)
}

#[inline]
fn syscall_result(n: libc::c_long) -> io::Result<usize> {
    if n < 0 {
        Err(raw_error(n))
    } else {
        Ok(n as usize)
    }
}

/// Whether `fd` is readable (or, with `read` false, writable) right now:
/// `poll(2)` without waiting. Errors and hang-ups count as ready, so the
/// callback gets to see them.
pub(crate) fn is_ready(fd: RawFd, read: bool) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: if read { libc::POLLIN } else { libc::POLLOUT },
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (p.events | libc::POLLERR | libc::POLLHUP) != 0
}

/// Bytes the kernel holds in a socket's send queue, sent or not, that the
/// peer has not acknowledged yet (`SIOCOUTQ`; for a Unix socket, the bytes
/// its peer has not read).
pub(crate) fn unacked_bytes(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer, which
    // is valid for the duration of the call.
    if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}

/// `SO_RCVBUFFORCE` or `SO_SNDBUFFORCE`: a socket buffer beyond
/// `net.core.rmem_max`/`wmem_max`, for a process with `CAP_NET_ADMIN`
/// (`EPERM` otherwise).
pub(crate) fn force_buffer_size(fd: RawFd, recv: bool, bytes: usize) -> io::Result<()> {
    let n = bytes.min(libc::c_int::MAX as usize / 2) as libc::c_int;
    let opt = if recv {
        libc::SO_RCVBUFFORCE
    } else {
        libc::SO_SNDBUFFORCE
    };
    // SAFETY: the option value is one int, valid for the duration of the
    // call, and its size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&n as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Stops a listening socket listening, its descriptor left open: on Linux,
/// `shutdown` of a listening socket takes it out of the LISTEN state, so
/// new connections are refused at once and queued ones are reset.
pub(crate) fn stop_listening(fd: RawFd) {
    // SAFETY: plain system call on a descriptor the caller keeps open.
    let _ = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

/// A slot that lends one `&mut T` to the code running below a call — how a
/// shard's loop lends itself to the task it polls, so the task's streams
/// can reach their transports. Keep it in a `thread_local!`: the pointer
/// never leaves the thread that lent it.
pub(crate) struct LoanSlot<T>(std::cell::Cell<*mut T>);

impl<T> LoanSlot<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        Self(std::cell::Cell::new(std::ptr::null_mut()))
    }

    /// Runs `f` with `value` lent through this slot; what the slot held
    /// before is back when `f` returns or unwinds.
    pub(crate) fn lend<R>(&self, value: &mut T, f: impl FnOnce() -> R) -> R {
        let _restore = Restore(&self.0, self.0.replace(value));
        f()
    }

    /// Runs `f` with the value lent, if any. While `f` runs the slot is
    /// empty, so no second `&mut` to the value can be had from it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let ptr = self.0.replace(std::ptr::null_mut());
        let _restore = Restore(&self.0, ptr);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: a non-null pointer was put here by `lend` from a `&mut T`
        // that outlives this call: `lend` is still running further up this
        // thread's stack (it restores the slot before returning), and `f`
        // cannot use that borrow, which `lend` holds. The slot is empty
        // while `f` runs, so this is the only `&mut T` made from it.
        Some(f(unsafe { &mut *ptr }))
    }
}

/// Puts a slot's earlier content back on drop (also when unwinding).
struct Restore<'a, T>(&'a std::cell::Cell<*mut T>, *mut T);

impl<T> Drop for Restore<'_, T> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// `sendfile(out, file, &offset, count)`: up to `count` bytes of `file`
/// from `offset` straight from the page cache to the socket `out`, without
/// a copy through user space; advances `offset` by what was sent. `Ok(0)`
/// means the file ends at `offset`.
pub(crate) fn sendfile(
    out: RawFd,
    file: RawFd,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(*offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    // SAFETY: both descriptors are open for the whole call (the caller
    // owns them); `off` is a valid, writable off_t for the call.
    let n = unsafe { libc::sendfile(out, file, &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = off as u64;
    Ok(n as usize)
}

/// `openat2(dir, path, O_RDONLY, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`:
/// opens `path` relative to the directory `dir` for reading, and the
/// kernel refuses (`EXDEV`) any resolution that would leave `dir` — `..`,
/// an absolute path, a symlink pointing outside. `ENOSYS` on kernels
/// before 5.6.
pub(crate) fn open_beneath(dir: RawFd, path: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd as _;
    use std::os::unix::ffi::OsStrExt as _;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: `open_how` is plain data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `c_path` is a NUL-terminated string and `how` a valid
    // open_how of the size passed, both alive for the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            c_path.as_ptr(),
            &how as *const libc::open_how,
            size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { std::fs::File::from_raw_fd(fd as RawFd) })
}

/// `epoll_pwait(epfd, events, len, timeout_ms, NULL)`: waits for readiness
/// on the loop's epoll instance; returns how many entries of `events` were
/// filled. Entered directly, like the per-message calls: glibc's
/// `epoll_wait` is a cancellation point too.
pub(crate) fn epoll_wait(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout_ms: i32,
) -> io::Result<usize> {
    let len = events.len().min(i32::MAX as usize) as i32;
    // SAFETY: `events` is valid for writes of `len` entries for the whole
    // call; a null signal mask means none is installed (size ignored).
    let n = unsafe {
        raw_syscall(
            libc::SYS_epoll_pwait,
            epfd,
            events.as_mut_ptr(),
            len,
            timeout_ms,
            std::ptr::null::<libc::sigset_t>(),
            8usize,
        )
    };
    syscall_result(n)
}
