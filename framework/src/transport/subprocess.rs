//! The [`SubprocessTransport`] (T15): a child process and its pipes, as
//! asyncio's `SubprocessTransport`. Each pipe is an ordinary stream
//! [`Transport`] on the child's stdin (writable, with flow control) or its
//! stdout/stderr (readable, pausable).

use std::io;
use std::process::Child;

use super::{ExtraInfo, Transport};
use crate::base::{ConnectionHandle, LoopRef};

/// A child process started by
/// [`EventLoop::subprocess_exec`](crate::EventLoop::subprocess_exec), owned
/// by its loop and handed to every
/// [`SubprocessProtocol`](crate::SubprocessProtocol) callback. `!Send` (T2).
#[derive(Debug)]
pub struct SubprocessTransport {
    child: Child,
    handle: ConnectionHandle,
    lp: LoopRef,
    /// stdin, stdout, stderr — while piped and open.
    pipes: [Option<Transport>; 3],
    returncode: Option<i32>,
    closing: bool,
}

impl SubprocessTransport {
    pub(crate) fn new(child: Child, handle: ConnectionHandle, lp: LoopRef) -> Self {
        Self {
            child,
            handle,
            lp,
            pipes: [None, None, None],
            returncode: None,
            closing: false,
        }
    }

    /// This process's handle, for
    /// [`EventLoop::with_subprocess`](crate::EventLoop::with_subprocess).
    pub fn handle(&self) -> ConnectionHandle {
        self.handle
    }

    /// The child's process id (T15).
    pub fn get_pid(&self) -> u32 {
        self.child.id()
    }

    /// The transport of pipe `fd` — 0 (stdin, writable), 1 (stdout) or 2
    /// (stderr) — or `None` when that stream was not piped or its pipe is
    /// closed; any other `fd` is `None` (T15).
    pub fn get_pipe_transport(&mut self, fd: i32) -> Option<&mut Transport> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.pipes.get_mut(i))
            .and_then(Option::as_mut)
    }

    /// The exit code once the child has exited, `None` before; `-N` when a
    /// signal `N` ended it, as asyncio (T15).
    pub fn get_returncode(&self) -> Option<i32> {
        self.returncode
    }

    /// Sends SIGKILL (T15). A child that already exited is not an error.
    pub fn kill(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }

    /// Sends SIGTERM (T15).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// Sends `signal` to the child (T15); nothing once it has exited and
    /// been reaped.
    pub fn send_signal(&mut self, signal: i32) -> io::Result<()> {
        if self.returncode.is_some() {
            return Ok(());
        }
        crate::sys::send_signal(self.child.id(), signal)
    }

    /// Closes (T15): terminates the child if it is still running, then
    /// closes every pipe transport (stdin after flushing what is queued).
    /// `connection_lost` follows once the child has exited and every pipe
    /// is closed.
    pub fn close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        if self.returncode.is_none() {
            let _ = self.terminate();
        }
        for pipe in self.pipes.iter_mut().flatten() {
            pipe.close();
        }
    }

    /// True from `close()` on.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// `"subprocess"`: the child's process id ([`ExtraInfo::Subprocess`]);
    /// anything else gives `default` (T4).
    pub fn get_extra_info(&self, name: &str, default: Option<ExtraInfo>) -> Option<ExtraInfo> {
        match name {
            "subprocess" => Some(ExtraInfo::Subprocess(self.child.id())),
            _ => default,
        }
    }
}

/// The driver's interface (`shard/subprocess.rs`): the pipes as the loop
/// sets them up, reads and retires them, and the child's reaping.
impl SubprocessTransport {
    /// The handle of the loop this transport belongs to.
    pub(crate) fn loop_ref(&self) -> &LoopRef {
        &self.lp
    }

    /// Pipe `fd` (0, 1 or 2) while it is open.
    pub(crate) fn pipe(&self, fd: usize) -> Option<&Transport> {
        self.pipes[fd].as_ref()
    }

    /// Pipe `fd` (0, 1 or 2) while it is open, to work it.
    pub(crate) fn pipe_mut(&mut self, fd: usize) -> Option<&mut Transport> {
        self.pipes[fd].as_mut()
    }

    /// Installs pipe `fd` once registered with the loop.
    pub(crate) fn set_pipe(&mut self, fd: usize, t: Transport) {
        self.pipes[fd] = Some(t);
    }

    /// Takes pipe `fd` out: it closes when dropped.
    pub(crate) fn take_pipe(&mut self, fd: usize) -> Option<Transport> {
        self.pipes[fd].take()
    }

    /// Whether every pipe is closed.
    pub(crate) fn pipes_closed(&self) -> bool {
        self.pipes.iter().all(Option::is_none)
    }

    /// Fails every open pipe with `e` (a protocol callback panicked).
    pub(crate) fn fail_pipes(&mut self, e: &io::Error) {
        for pipe in self.pipes.iter_mut().flatten() {
            pipe.fail(io::Error::new(e.kind(), e.to_string()));
        }
    }

    /// Kills the child and waits for it (a process whose start failed).
    pub(crate) fn kill_and_wait(&mut self) {
        let _ = self.kill();
        let _ = self.child.wait();
    }

    /// Reaps the child if it exited, recording its return code (`-N` for
    /// signal `N`, as asyncio); `Ok(false)` while it runs.
    pub(crate) fn reap(&mut self) -> io::Result<bool> {
        use std::os::unix::process::ExitStatusExt as _;
        let Some(status) = self.child.try_wait()? else {
            return Ok(false);
        };
        self.returncode = status.code().or_else(|| status.signal().map(|s| -s));
        Ok(true)
    }

    /// The transport's end: closing from now on (`connection_lost` is
    /// being delivered).
    pub(crate) fn set_closing(&mut self) {
        self.closing = true;
    }
}
