//! The socket under a stream transport: TCP or Unix, one enum so the hot
//! path dispatches with a `match`, not a vtable.

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use mio::net::{TcpStream, UnixStream};
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

/// The non-blocking socket a stream transport drives.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
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
        crate::sys::recv(self.as_raw_fd(), buf)
    }

    #[inline]
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        crate::sys::send(self.as_raw_fd(), data)
    }

    #[inline]
    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::sys::send_vectored(self.as_raw_fd(), bufs)
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Address> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(Address::Inet),
            Stream::Unix(s) => s.peer_addr().map(|a| Address::from_unix(&a)),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Address> {
        match self {
            Stream::Tcp(s) => s.local_addr().map(Address::Inet),
            Stream::Unix(s) => s.local_addr().map(|a| Address::from_unix(&a)),
        }
    }

    /// Applies `TCP_NODELAY` to TCP sockets; Unix sockets have no Nagle.
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(on),
            Stream::Unix(_) => Ok(()),
        }
    }

    pub(crate) fn register(&mut self, reg: &Registry, token: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => reg.register(s, token, i),
            Stream::Unix(s) => reg.register(s, token, i),
        }
    }

    pub(crate) fn deregister(&mut self, reg: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => reg.deregister(s),
            Stream::Unix(s) => reg.deregister(s),
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
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}
