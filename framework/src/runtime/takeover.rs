//! Restarts that refuse nothing: a new process takes the listening sockets
//! of the running one over a Unix control socket (`SCM_RIGHTS`, as HAProxy
//! and Envoy do), serves them, and only then does the old one close its
//! copies and drain. The sockets never close, so no connection attempt is
//! refused and nothing queued in a backlog is lost.
//!
//! The exchange, over one stream connection to the control socket:
//! 1. new → old: `TAKEOVER\n`;
//! 2. old → new: one message of `name address\n` lines, with one listening
//!    socket per line attached: the acceptor's, every shard's socket of a
//!    `reuseport` listener (several lines of one name), every shard's UDP
//!    socket (address `udp:IP:PORT`), and the metrics endpoint's, if it
//!    serves one, under the name `@metrics`;
//! 3. new → old, once it serves them: `SERVING\n`;
//! 4. old: stops accepting on the metrics socket and answers the probes it
//!    had accepted, closes its control socket, answers `BYE\n` and drains
//!    (as on SIGTERM); new then opens the control socket for the next
//!    restart. The metrics endpoint answers throughout: the old process
//!    until it lets go, then the new one, on the same socket.

use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use super::acceptor::DupHandle;
use super::metrics::Names;
use super::Runtime;

/// Most listening sockets one takeover hands over.
const MAX_SOCKETS: usize = 253;

/// The name the metrics endpoint's socket travels under (a listener's name
/// cannot hold a space, and this one is not a listener's).
pub(crate) const METRICS_NAME: &str = "@metrics";

/// The sockets of one listener the shards serve themselves (`reuseport`,
/// UDP): a second descriptor of each, kept so a takeover can hand the
/// sockets themselves on (binding alongside would lose what is queued in
/// the old ones when they close, and cannot find a port-0 listener again).
#[derive(Debug)]
pub(crate) struct ShardSockets {
    /// The runtime listener's id (`None` for UDP, which has none).
    pub(crate) id: Option<u64>,
    /// The listener's name.
    pub(crate) name: String,
    /// UDP sockets, not TCP listeners.
    pub(crate) udp: bool,
    /// One per shard (or more, after a takeover from more shards).
    pub(crate) fds: Vec<OwnedFd>,
}

/// Every shard-served listener's sockets, by listener.
pub(crate) type ShardSocketList = Arc<Mutex<Vec<ShardSockets>>>;

/// The running side: answers a takeover on the control socket.
pub struct ControlSocket {
    path: PathBuf,
    /// Set once the sockets went to a new process, which owns the path now.
    handed: Arc<std::sync::atomic::AtomicBool>,
    _thread: JoinHandle<()>,
}

impl std::fmt::Debug for ControlSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlSocket")
            .field("path", &self.path)
            .finish()
    }
}

impl ControlSocket {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        // The file is this process's unless a new one took over (and may
        // have opened its own control socket there since).
        if !self.handed.load(std::sync::atomic::Ordering::Acquire) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Runtime {
    /// Opens the control socket at `path` (replacing a stale one, refusing
    /// one a live server holds): a process started with
    /// [`take_over`] on it receives this runtime's listening sockets;
    /// `handed_over` runs once that process serves them (the server starts
    /// its drain there). Every listening socket goes: the acceptor's, every
    /// shard's `reuseport` and UDP sockets, and the metrics endpoint's.
    pub fn open_control_socket(
        &mut self,
        path: &Path,
        handed_over: impl FnOnce() + Send + 'static,
    ) -> io::Result<ControlSocket> {
        if path.exists() {
            match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "a server answers on the control socket {} already",
                            path.display()
                        ),
                    ))
                }
                Err(_) => std::fs::remove_file(path)?,
            }
        }
        let listener = UnixListener::bind(path).map_err(|source| {
            io::Error::from(crate::LoopError::Bind {
                address: format!("unix:{}", path.display()),
                source,
            })
        })?;
        let dup = self.acceptor()?.dup_handle();
        let names = self.listener_names.clone();
        let shard_sockets = Arc::clone(&self.shard_sockets);
        let metrics = self.metrics.as_ref().map(|m| m.handover()).transpose()?;
        let handed_over = Arc::new(Mutex::new(Some(
            Box::new(handed_over) as Box<dyn FnOnce() + Send>
        )));
        let owned = path.to_path_buf();
        let handed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&handed);
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    match serve_takeover(
                        stream,
                        &dup,
                        &names,
                        &shard_sockets,
                        metrics.as_ref(),
                        &owned,
                        &flag,
                    ) {
                        Ok(true) => {
                            if let Some(f) = handed_over.lock().take() {
                                f();
                            }
                            return;
                        }
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "takeover failed; still serving"),
                    }
                }
            })?;
        Ok(ControlSocket {
            path: path.to_path_buf(),
            handed,
            _thread: thread,
        })
    }
}

/// One takeover request: returns whether the sockets were handed over.
fn serve_takeover(
    stream: UnixStream,
    dup: &DupHandle,
    names: &Names,
    shard_sockets: &ShardSocketList,
    metrics: Option<&super::admin::AdminHandover>,
    path: &Path,
    handed: &std::sync::atomic::AtomicBool,
) -> io::Result<bool> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    if line != "TAKEOVER\n" {
        return Ok(false);
    }
    let sockets = dup.sockets()?;
    let names = names.lock().clone();
    let mut text = String::new();
    let mut fds = Vec::new();
    for (id, fd) in &sockets {
        let name = names
            .iter()
            .find(|(i, _)| i == id)
            .map_or_else(|| id.to_string(), |(_, n)| n.clone());
        let sock = socket2::SockRef::from(fd);
        let local = sock.local_addr()?;
        let addr = match local.as_socket() {
            Some(a) => a.to_string(),
            None => format!(
                "unix:{}",
                local
                    .as_pathname()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        };
        text.push_str(&format!("{} {addr}\n", name.replace(' ', "\u{a0}")));
        fds.push(fd.as_raw_fd());
    }
    // Held until the message is sent: a reload cannot close them meanwhile.
    let shard_sockets = shard_sockets.lock();
    for l in shard_sockets.iter() {
        let name = l.name.replace(' ', "\u{a0}");
        for fd in &l.fds {
            let local = socket2::SockRef::from(fd).local_addr()?;
            let addr = local
                .as_socket()
                .ok_or_else(|| io::Error::other("a shard socket without an IP address"))?;
            let kind = if l.udp { "udp:" } else { "" };
            text.push_str(&format!("{name} {kind}{addr}\n"));
            fds.push(fd.as_raw_fd());
        }
    }
    if let Some(m) = metrics {
        let local = socket2::SockRef::from(&m.socket).local_addr()?;
        if let Some(a) = local.as_socket() {
            text.push_str(&format!("{METRICS_NAME} {a}\n"));
            fds.push(m.socket.as_raw_fd());
        }
    }
    if fds.len() > MAX_SOCKETS {
        return Err(io::Error::other(
            "too many listening sockets for one takeover",
        ));
    }
    // An empty payload still carries a byte, so the peer reads something.
    text.push_str("END\n");
    crate::sys::send_fds(stream.as_raw_fd(), text.as_bytes(), &fds)?;
    drop(sockets);
    drop(shard_sockets);
    line.clear();
    r.read_line(&mut line)?;
    if line != "SERVING\n" {
        return Err(io::Error::other("the new process did not confirm"));
    }
    if let Some(m) = metrics {
        m.let_go();
    }
    tracing::info!(
        sockets = fds.len(),
        "listening sockets handed over; draining"
    );
    handed.store(true, std::sync::atomic::Ordering::Release);
    let _ = std::fs::remove_file(path);
    (&stream).write_all(b"BYE\n")?;
    Ok(true)
}

/// What the new process received.
#[derive(Debug)]
#[non_exhaustive]
pub struct TakenOver {
    stream: UnixStream,
    /// The listening stream sockets (TCP, Unix), each with its listener's
    /// name and address; a `reuseport` listener's come one per old shard,
    /// under one name.
    pub sockets: Vec<(String, crate::Address, OwnedFd)>,
    /// The UDP sockets, each with its listener's name and address, one per
    /// old shard.
    pub datagram: Vec<(String, std::net::SocketAddr, OwnedFd)>,
}

/// Asks the server on the control socket at `path` for its listening
/// sockets. Serve them (e.g. with [`Runtime::listen_inherited`] and
/// [`Runtime::listen_udp_inherited`]), then call [`TakenOver::serving`]:
/// only then does the old server close its copies.
pub fn take_over(path: &Path) -> io::Result<TakenOver> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(b"TAKEOVER\n")?;
    let mut buf = vec![0u8; 64 * 1024];
    let (n, fds) = crate::sys::recv_fds(stream.as_raw_fd(), &mut buf, MAX_SOCKETS)?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let (mut sockets, mut datagram) = (Vec::new(), Vec::new());
    let mut fds = fds.into_iter();
    let bad = || io::Error::other("bad address in the takeover message");
    for line in text.lines().take_while(|l| *l != "END") {
        let (name, addr) = line
            .split_once(' ')
            .ok_or_else(|| io::Error::other("bad takeover message"))?;
        let fd = fds
            .next()
            .ok_or_else(|| io::Error::other("fewer sockets than names"))?;
        let name = name.replace('\u{a0}', " ");
        if let Some(a) = addr.strip_prefix("udp:") {
            datagram.push((name, a.parse().map_err(|_| bad())?, fd));
            continue;
        }
        let addr = match addr.strip_prefix("unix:") {
            Some(p) => crate::Address::Unix(Some(PathBuf::from(p))),
            None => crate::Address::Inet(addr.parse().map_err(|_| bad())?),
        };
        sockets.push((name, addr, fd));
    }
    Ok(TakenOver {
        stream,
        sockets,
        datagram,
    })
}

impl TakenOver {
    /// The metrics endpoint's socket and its address, if the old server
    /// served one (taken out: a second call gives `None`). Serve it with
    /// [`Runtime::serve_metrics_on`].
    pub fn metrics(&mut self) -> Option<(std::net::SocketAddr, std::net::TcpListener)> {
        let i = self
            .sockets
            .iter()
            .position(|(n, _, _)| n == METRICS_NAME)?;
        let (_, addr, fd) = self.sockets.remove(i);
        match addr {
            crate::Address::Inet(a) => Some((a, std::net::TcpListener::from(fd))),
            _ => None,
        }
    }

    /// Takes out the stream sockets of listener `name` for which `fits`
    /// holds of their address (e.g. the address is still the one the
    /// configuration names): none, one, or one per old shard of a
    /// `reuseport` listener.
    pub fn take_stream(
        &mut self,
        name: &str,
        fits: impl Fn(&crate::Address) -> bool,
    ) -> Vec<OwnedFd> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sockets)
            .into_iter()
            .partition(|(n, a, _)| n == name && fits(a));
        self.sockets = kept;
        taken.into_iter().map(|(_, _, fd)| fd).collect()
    }

    /// Takes out the UDP sockets of listener `name` for which `fits` holds
    /// of their address.
    pub fn take_datagram(
        &mut self,
        name: &str,
        fits: impl Fn(&std::net::SocketAddr) -> bool,
    ) -> Vec<OwnedFd> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.datagram)
            .into_iter()
            .partition(|(n, a, _)| n == name && fits(a));
        self.datagram = kept;
        taken.into_iter().map(|(_, _, fd)| fd).collect()
    }

    /// Tells the old server this process serves the sockets; returns once
    /// it has let go of its control socket (so this process can open its
    /// own there) and started its drain. Sockets not taken out are closed
    /// here (the listener they served is gone or moved).
    pub fn serving(mut self) -> io::Result<()> {
        self.stream.write_all(b"SERVING\n")?;
        let mut line = String::new();
        BufReader::new(&self.stream).read_line(&mut line)?;
        if line != "BYE\n" {
            return Err(io::Error::other("the old server did not let go"));
        }
        Ok(())
    }
}
