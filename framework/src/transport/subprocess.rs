//! The [`SubprocessTransport`] (T15): a child process and its pipes, as
//! asyncio's `SubprocessTransport`. Each pipe is an ordinary stream
//! [`Transport`] on the child's stdin (writable, with flow control) or its
//! stdout/stderr (readable, pausable).

use std::io;
use std::process::Child;

use super::{ExtraInfo, Transport};
use crate::base::ConnectionHandle;
use crate::shard::LoopHandle;

/// A child process started by
/// [`EventLoop::subprocess_exec`](crate::EventLoop::subprocess_exec), owned
/// by its loop and handed to every
/// [`SubprocessProtocol`](crate::SubprocessProtocol) callback. `!Send` (T2).
#[derive(Debug)]
pub struct SubprocessTransport {
    pub(crate) child: Child,
    handle: ConnectionHandle,
    lp: LoopHandle,
    /// stdin, stdout, stderr — while piped and open.
    pub(crate) pipes: [Option<Transport>; 3],
    pub(crate) returncode: Option<i32>,
    pub(crate) closing: bool,
}

impl SubprocessTransport {
    pub(crate) fn new(child: Child, handle: ConnectionHandle, lp: LoopHandle) -> Self {
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

    /// The loop this transport lives on.
    pub fn get_loop(&self) -> &LoopHandle {
        &self.lp
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
