//! The descriptor under a stream transport: a TCP or Unix socket, or one
//! end of a pipe (L3) — one enum so the hot path dispatches with a `match`,
//! not a vtable.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use mio::net::{TcpStream, UnixStream};
use mio::unix::pipe;
use mio::{Interest, Registry, Token};

/// A socket address of either family a stream transport supports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// IPv4 or IPv6 address and port.
    Inet(SocketAddr),
    /// A Unix-domain socket path; `None` for an unnamed socket (socketpair,
    /// or a client that did not bind).
    Unix(Option<PathBuf>),
}

impl Address {
    /// The IP address and port, if this is an Internet address.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            Address::Inet(a) => Some(*a),
            Address::Unix(_) => None,
        }
    }

    pub(crate) fn from_unix(addr: &std::os::unix::net::SocketAddr) -> Self {
        Address::Unix(addr.as_pathname().map(PathBuf::from))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Inet(a) => write!(f, "{a}"),
            Address::Unix(Some(p)) => write!(f, "unix:{}", p.display()),
            Address::Unix(None) => f.write_str("unix:(unnamed)"),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Address::Inet(a)
    }
}

/// An already connected stream socket handed to
/// [`EventLoop::create_connection_with_socket`](crate::EventLoop::create_connection_with_socket)
/// (the seed's socketpair example). Built with `From` from the standard
/// library's socket types.
#[derive(Debug)]
pub enum ConnectedSocket {
    /// A connected TCP socket.
    Tcp(std::net::TcpStream),
    /// A connected Unix stream socket (e.g. one end of `UnixStream::pair`).
    Unix(std::os::unix::net::UnixStream),
}

impl From<std::net::TcpStream> for ConnectedSocket {
    fn from(s: std::net::TcpStream) -> Self {
        ConnectedSocket::Tcp(s)
    }
}

impl From<std::os::unix::net::UnixStream> for ConnectedSocket {
    fn from(s: std::os::unix::net::UnixStream) -> Self {
        ConnectedSocket::Unix(s)
    }
}

/// The non-blocking descriptor a stream transport drives.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// The read end of a pipe (`connect_read_pipe`).
    ReadPipe(pipe::Receiver),
    /// The write end of a pipe (`connect_write_pipe`).
    WritePipe(pipe::Sender),
}

impl Stream {
    /// Takes over a connected standard socket, switching it to non-blocking.
    pub(crate) fn from_connected(sock: ConnectedSocket) -> io::Result<Self> {
        Ok(match sock {
            ConnectedSocket::Tcp(s) => {
                s.set_nonblocking(true)?;
                Stream::Tcp(TcpStream::from_std(s))
            }
            ConnectedSocket::Unix(s) => {
                s.set_nonblocking(true)?;
                Stream::Unix(UnixStream::from_std(s))
            }
        })
    }

    // The three calls of the per-message path go straight to the kernel
    // (`sys`: no glibc cancellation wrapper); TCP and Unix sockets take
    // the same calls.

    #[inline]
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => crate::sys::recv(self.as_raw_fd(), buf),
            Stream::ReadPipe(p) => p.read(buf),
            // Readiness on a write pipe means its reader went away.
            Stream::WritePipe(_) => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    /// One read as the kernel answers it: the byte count, 0 at the end, or
    /// `-errno` ([`crate::sys::syscall_outcome`] makes it a `Result`). A
    /// socket is read directly; a pipe out of line.
    #[inline(always)]
    pub(crate) fn read_raw(&mut self, buf: &mut [u8]) -> isize {
        match self.socket_fd() {
            Some(fd) => crate::sys::recv_raw(fd, buf),
            None => self.read_pipe_raw(buf),
        }
    }

    #[cold]
    #[inline(never)]
    fn read_pipe_raw(&mut self, buf: &mut [u8]) -> isize {
        match self.read(buf) {
            Ok(n) => n as isize,
            // Pipe reads fail with an OS error; the one that is not (a
            // write pipe's readiness: its reader left) is a broken pipe.
            Err(e) => -(e.raw_os_error().unwrap_or(libc::EPIPE) as isize),
        }
    }

    /// The descriptor of a socket stream (`None` for a pipe): the write hot
    /// path sends to it directly.
    #[inline(always)]
    pub(crate) fn socket_fd(&self) -> Option<RawFd> {
        match self {
            Stream::Tcp(s) => Some(s.as_raw_fd()),
            Stream::Unix(s) => Some(s.as_raw_fd()),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => crate::sys::send(self.as_raw_fd(), data),
            Stream::WritePipe(p) => p.write(data),
            Stream::ReadPipe(_) => Err(not_writable()),
        }
    }

    /// `write` with `MSG_MORE` on sockets (more follows at once).
    pub(crate) fn write_more(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => crate::sys::send_more(self.as_raw_fd(), data),
            Stream::WritePipe(p) => p.write(data),
            Stream::ReadPipe(_) => Err(not_writable()),
        }
    }

    #[inline]
    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => crate::sys::send_vectored(self.as_raw_fd(), bufs),
            Stream::WritePipe(p) => p.write_vectored(bufs),
            Stream::ReadPipe(_) => Err(not_writable()),
        }
    }

    /// `sendfile(2)` of up to `count` bytes of `file` from `*offset`
    /// (advanced by what was sent).
    pub(crate) fn sendfile(
        &mut self,
        file: &std::fs::File,
        offset: &mut u64,
        count: usize,
    ) -> io::Result<usize> {
        use std::os::fd::AsRawFd as _;
        match self {
            Stream::ReadPipe(_) => Err(not_writable()),
            _ => crate::sys::sendfile(self.as_raw_fd(), file.as_raw_fd(), offset, count),
        }
    }

    /// A pipe end, not a socket: no half-close, no linger, no addresses.
    #[inline]
    pub(crate) fn is_pipe(&self) -> bool {
        matches!(self, Stream::ReadPipe(_) | Stream::WritePipe(_))
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
            // A pipe is closed when its transport drops it.
            Stream::ReadPipe(_) | Stream::WritePipe(_) => Ok(()),
        }
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
            Stream::ReadPipe(_) | Stream::WritePipe(_) => Ok(None),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Address> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(Address::Inet),
            Stream::Unix(s) => s.peer_addr().map(|a| Address::from_unix(&a)),
            Stream::ReadPipe(_) | Stream::WritePipe(_) => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Address> {
        match self {
            Stream::Tcp(s) => s.local_addr().map(Address::Inet),
            Stream::Unix(s) => s.local_addr().map(|a| Address::from_unix(&a)),
            Stream::ReadPipe(_) | Stream::WritePipe(_) => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Applies `TCP_NODELAY` to TCP sockets; Unix sockets have no Nagle.
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(on),
            Stream::Unix(_) | Stream::ReadPipe(_) | Stream::WritePipe(_) => Ok(()),
        }
    }

    pub(crate) fn register(&mut self, reg: &Registry, token: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => reg.register(s, token, i),
            Stream::Unix(s) => reg.register(s, token, i),
            Stream::ReadPipe(p) => reg.register(p, token, i),
            Stream::WritePipe(p) => reg.register(p, token, i),
        }
    }

    pub(crate) fn deregister(&mut self, reg: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => reg.deregister(s),
            Stream::Unix(s) => reg.deregister(s),
            Stream::ReadPipe(p) => reg.deregister(p),
            Stream::WritePipe(p) => reg.deregister(p),
        }
    }

    pub(crate) fn reregister(
        &mut self,
        reg: &Registry,
        token: Token,
        i: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => reg.reregister(s, token, i),
            Stream::Unix(s) => reg.reregister(s, token, i),
            Stream::ReadPipe(p) => reg.reregister(p, token, i),
            Stream::WritePipe(p) => reg.reregister(p, token, i),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::ReadPipe(p) => p.as_raw_fd(),
            Stream::WritePipe(p) => p.as_raw_fd(),
        }
    }
}

fn not_writable() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "the read end of a pipe cannot be written",
    )
}
