//! Listening sockets of servers: binding (with `socket2`, so the options
//! are set before `bind`) and accepting.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Registry, Token};
use socket2::{Domain, SockAddr, Socket, Type};

use super::socket::{Address, Stream};

/// A bound, listening, non-blocking socket.
#[derive(Debug)]
pub(crate) enum ListenSocket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// How to react to an `accept` error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptError {
    /// Nothing more to accept now.
    Drained,
    /// Concerned one connection (aborted before accept…): skip it.
    Connection,
    /// Out of descriptors or memory: stop accepting for a while.
    Resources,
    /// The socket cannot accept any more (`EINVAL`: it stopped listening,
    /// e.g. another process holding it called `shutdown(2)`; `EBADF`,
    /// `ENOTSOCK`): close this listener, or every later accept fails the
    /// same way, for ever.
    Dead,
}

impl AcceptError {
    pub(crate) fn classify(e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::WouldBlock {
            return AcceptError::Drained;
        }
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                AcceptError::Resources
            }
            Some(libc::EINVAL | libc::EBADF | libc::ENOTSOCK | libc::EFAULT) => AcceptError::Dead,
            _ => AcceptError::Connection,
        }
    }
}

impl std::os::fd::AsFd for ListenSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            ListenSocket::Tcp(l) => l.as_fd(),
            ListenSocket::Unix(l) => l.as_fd(),
        }
    }
}

impl ListenSocket {
    /// Binds a TCP listener with `SO_REUSEADDR` (as asyncio does on Unix),
    /// `IPV6_V6ONLY` for IPv6 addresses, non-blocking; with `reuse_port`,
    /// also `SO_REUSEPORT` so every shard can bind the same address.
    pub(crate) fn bind_tcp(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<Self> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        sock.set_reuse_address(true)?;
        if reuse_port {
            sock.set_reuse_port(true)?;
        }
        if addr.is_ipv6() {
            sock.set_only_v6(true)?;
        }
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        sock.listen(backlog.min(i32::MAX as u32) as i32)?;
        Ok(ListenSocket::Tcp(TcpListener::from_std(sock.into())))
    }

    /// A listening socket someone else bound (systemd socket activation, a
    /// takeover): TCP or Unix, made non-blocking.
    pub(crate) fn from_fd(fd: std::os::fd::OwnedFd) -> io::Result<Self> {
        let sock = Socket::from(fd);
        if !sock.is_listener()? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the inherited descriptor is not a listening socket",
            ));
        }
        sock.set_nonblocking(true)?;
        Ok(if sock.domain()? == Domain::UNIX {
            ListenSocket::Unix(UnixListener::from_std(sock.into()))
        } else {
            ListenSocket::Tcp(TcpListener::from_std(sock.into()))
        })
    }

    /// Binds a Unix-socket listener at `path`. A stale socket file left by
    /// an earlier process is replaced (as asyncio does); a socket file a
    /// live server still listens on is an `AddrInUse` error, as is any
    /// other kind of file there.
    pub(crate) fn bind_unix(path: &Path, backlog: u32) -> io::Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("a server is listening on {} already", path.display()),
                    ))
                }
                // Nobody listens: a stale file from a process that died.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path)?
                }
                Err(e) => return Err(e),
            }
        }
        let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        sock.set_nonblocking(true)?;
        sock.bind(&SockAddr::unix(path)?)?;
        sock.listen(backlog.min(i32::MAX as u32) as i32)?;
        let std_listener: std::os::unix::net::UnixListener = sock.into();
        Ok(ListenSocket::Unix(UnixListener::from_std(std_listener)))
    }

    pub(crate) fn accept(&self) -> io::Result<(Stream, Address)> {
        match self {
            ListenSocket::Tcp(l) => l.accept().map(|(s, a)| (Stream::Tcp(s), Address::Inet(a))),
            ListenSocket::Unix(l) => l
                .accept()
                .map(|(s, a)| (Stream::Unix(s), Address::from_unix(&a))),
        }
    }

    /// A second descriptor for this listening socket (`dup`).
    pub(crate) fn try_clone_fd(&self) -> io::Result<std::os::fd::OwnedFd> {
        match self {
            ListenSocket::Tcp(l) => std::os::fd::AsFd::as_fd(l).try_clone_to_owned(),
            ListenSocket::Unix(l) => std::os::fd::AsFd::as_fd(l).try_clone_to_owned(),
        }
    }

    /// The listening descriptor.
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            ListenSocket::Tcp(l) => std::os::fd::AsRawFd::as_raw_fd(l),
            ListenSocket::Unix(l) => std::os::fd::AsRawFd::as_raw_fd(l),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Address> {
        match self {
            ListenSocket::Tcp(l) => l.local_addr().map(Address::Inet),
            ListenSocket::Unix(l) => l.local_addr().map(|a| Address::from_unix(&a)),
        }
    }

    pub(crate) fn register(&mut self, reg: &Registry, token: Token) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(l) => reg.register(l, token, Interest::READABLE),
            ListenSocket::Unix(l) => reg.register(l, token, Interest::READABLE),
        }
    }

    pub(crate) fn deregister(&mut self, reg: &Registry) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(l) => reg.deregister(l),
            ListenSocket::Unix(l) => reg.deregister(l),
        }
    }
}
