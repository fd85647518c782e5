//! Child processes on a loop (T15, P9): `subprocess_exec`, the events of a
//! child's pipes and of its exit, and the order of the protocol's callbacks.
//!
//! One slab entry owns the process: its [`SubprocessTransport`] (the child,
//! and a stream [`Transport`] per pipe) and the protocol, so a callback
//! about one pipe can write to another (`get_pipe_transport(0).write`).
//! Each pipe's descriptor is registered under a small forwarding entry that
//! names the process and the pipe; the process entry's own token is its
//! pidfd, readable once the child exits.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};

use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::driver::Ctx;
use super::driver::{
    read_stream, settle_changes, AfterLost, Deferred, Driven, Guarded, StreamReading,
};
use super::{token_of, ConnectionHandle, Core, Entry, EntryKey, EventLoop};
use crate::protocol::{DynSubprocessProtocol, SubprocessProtocol};
use crate::transport::flow::FlowControl;
use crate::transport::lifecycle::Lifecycle;
use crate::transport::socket::Stream;
use crate::transport::{SubprocessTransport, Transport};

/// Which of the child's standard streams to connect to pipes; the others
/// are inherited from this process. asyncio's default is all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubprocessPipes {
    /// Pipe the child's stdin (fd 0): writable through
    /// `get_pipe_transport(0)`.
    pub stdin: bool,
    /// Pipe its stdout (fd 1): `pipe_data_received(1, …)`.
    pub stdout: bool,
    /// Pipe its stderr (fd 2): `pipe_data_received(2, …)`.
    pub stderr: bool,
}

impl Default for SubprocessPipes {
    fn default() -> Self {
        Self {
            stdin: true,
            stdout: true,
            stderr: true,
        }
    }
}

pub(crate) struct ProcessConn {
    pub(crate) transport: SubprocessTransport,
    protocol: Box<dyn DynSubprocessProtocol>,
    pidfd: OwnedFd,
    /// The forwarding entries of the pipes, removed with the process.
    pipe_keys: [Option<EntryKey>; 3],
    exited: bool,
    lost: bool,
    /// Why the process was failed (a panicking callback), for
    /// `connection_lost`.
    error: Option<io::Error>,
}

impl EventLoop {
    /// Starts `command` as a child process (asyncio's `subprocess_exec`),
    /// its standard streams piped as `pipes` says, and runs a protocol from
    /// `factory` for it; `connection_made` is called before this returns.
    /// Spawning errors (program not found…) are returned here, as
    /// [`LoopError::Spawn`](crate::LoopError::Spawn) naming the program.
    pub fn subprocess_exec<P: SubprocessProtocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        mut command: Command,
        pipes: SubprocessPipes,
    ) -> io::Result<ConnectionHandle> {
        let pick = |piped: bool| {
            if piped {
                Stdio::piped()
            } else {
                Stdio::inherit()
            }
        };
        command
            .stdin(pick(pipes.stdin))
            .stdout(pick(pipes.stdout))
            .stderr(pick(pipes.stderr));
        let mut child = command.spawn().map_err(|source| {
            io::Error::from(crate::LoopError::Spawn {
                program: command.get_program().to_string_lossy().into_owned(),
                source,
            })
        })?;
        let pidfd = match crate::sys::pidfd_open(child.id()) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let streams: [Option<Stream>; 3] = [
            child
                .stdin
                .take()
                .map(|p| Stream::WritePipe(mio::unix::pipe::Sender::from(p))),
            child
                .stdout
                .take()
                .map(|p| Stream::ReadPipe(mio::unix::pipe::Receiver::from(p))),
            child
                .stderr
                .take()
                .map(|p| Stream::ReadPipe(mio::unix::pipe::Receiver::from(p))),
        ];
        let lp = self.core.handle.clone();
        let (key, _) = self.core.entries.add(|k| {
            Box::new(ProcessConn {
                transport: SubprocessTransport::new(child, ConnectionHandle(k), lp),
                protocol: Box::new(factory()),
                pidfd,
                pipe_keys: [None, None, None],
                exited: false,
                lost: false,
                error: None,
            })
        });
        let registry = self.poll.registry();
        let registered = self.core.connect_pipes(registry, key, streams);
        let Some(p) = self.core.entries.of_mut::<Box<ProcessConn>>(key) else {
            return Err(io::Error::other("the child process entry vanished"));
        };
        let registered = registered.and_then(|()| {
            registry.register(
                &mut SourceFd(&p.pidfd.as_raw_fd()),
                token_of(key),
                Interest::READABLE,
            )
        });
        if let Err(e) = registered {
            p.transport.kill_and_wait();
            self.core.remove_process(key);
            return Err(e);
        }
        let mut ctx = Core::ctx(registry, &mut self.core.read_buf, &mut self.core.deferred);
        p.invoke("connection_made", |pr, t| pr.connection_made(t));
        p.settle(&mut ctx);
        Ok(ConnectionHandle(key))
    }

    /// Runs `cmd` with the shell (`/bin/sh -c cmd`), as asyncio's
    /// `subprocess_shell`; otherwise as [`subprocess_exec`](Self::subprocess_exec).
    /// The string goes to the shell as written: quote what comes from
    /// outside.
    pub fn subprocess_shell<P: SubprocessProtocol>(
        &mut self,
        factory: impl FnOnce() -> P,
        cmd: &str,
        pipes: SubprocessPipes,
    ) -> io::Result<ConnectionHandle> {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(cmd);
        self.subprocess_exec(factory, command, pipes)
    }

    /// Calls `f` with a child process's protocol (downcast to `P`) and
    /// transport, from outside its callbacks, then acts on what it
    /// triggered. `None` when the process is gone or its protocol is not a
    /// `P`.
    pub fn with_subprocess<P: SubprocessProtocol, R>(
        &mut self,
        handle: ConnectionHandle,
        f: impl FnOnce(&mut P, &mut SubprocessTransport) -> R,
    ) -> Option<R> {
        let p = self.core.entries.of_mut::<Box<ProcessConn>>(handle.0)?;
        if p.lost {
            return None;
        }
        let proto = p.protocol.as_any_mut().downcast_mut::<P>()?;
        let r = f(proto, &mut p.transport);
        let mut ctx = Core::ctx(
            self.poll.registry(),
            &mut self.core.read_buf,
            &mut self.core.deferred,
        );
        p.settle(&mut ctx);
        Some(r)
    }
}

impl Core {
    /// Makes a stream transport of each piped stream, under a forwarding
    /// entry whose token its events carry.
    fn connect_pipes(
        &mut self,
        registry: &Registry,
        key: EntryKey,
        streams: [Option<Stream>; 3],
    ) -> io::Result<()> {
        let flow =
            FlowControl::with_limits(self.config.write_buffer_high, self.config.write_buffer_low);
        for (fd, stream) in streams.into_iter().enumerate() {
            let Some(mut stream) = stream else { continue };
            if let Stream::ReadPipe(p) = &stream {
                p.set_nonblocking(true)?;
            }
            if let Stream::WritePipe(p) = &stream {
                p.set_nonblocking(true)?;
            }
            let pipe_key = self.entries.insert(Entry::ProcPipe { process: key, fd });
            stream.register(registry, token_of(pipe_key), Interest::READABLE)?;
            let t = Transport::new(
                stream,
                ConnectionHandle(pipe_key),
                self.handle.clone(),
                flow,
                None,
            );
            if let Some(p) = self.entries.of_mut::<Box<ProcessConn>>(key) {
                p.transport.set_pipe(fd, t);
                p.pipe_keys[fd] = Some(pipe_key);
            }
        }
        Ok(())
    }

    /// An event on pipe `fd` of process `key`.
    pub(crate) fn process_pipe_event(
        &mut self,
        registry: &Registry,
        key: EntryKey,
        fd: usize,
        ev: &super::ready::Ready,
    ) {
        let Some(p) = self.entries.of_mut::<Box<ProcessConn>>(key) else {
            return;
        };
        let mut ctx = Self::ctx(registry, &mut self.read_buf, &mut self.deferred);
        p.on_pipe_event(&mut ctx, fd, ev);
    }

    /// The pidfd of process `key` is readable: the child exited.
    pub(crate) fn process_exit_event(&mut self, registry: &Registry, key: EntryKey) {
        let Some(p) = self.entries.of_mut::<Box<ProcessConn>>(key) else {
            return;
        };
        let mut ctx = Self::ctx(registry, &mut self.read_buf, &mut self.deferred);
        p.on_exit(&mut ctx);
    }

    /// Removes process `key` with the forwarding entries of its pipes.
    pub(crate) fn remove_process(&mut self, key: EntryKey) {
        if let Some(p) = self.entries.take::<Box<ProcessConn>>(key) {
            for k in p.pipe_keys.into_iter().flatten() {
                self.entries.remove(k);
            }
        }
    }
}

impl Guarded for ProcessConn {
    type Protocol = dyn DynSubprocessProtocol;
    type Transport = SubprocessTransport;

    fn parts(&mut self) -> (&mut dyn DynSubprocessProtocol, &mut SubprocessTransport) {
        (&mut *self.protocol, &mut self.transport)
    }

    /// A panic kills the child and fails every pipe — this process only,
    /// the shard serves on.
    fn panicked(&mut self, e: io::Error) {
        let _ = self.transport.kill();
        self.transport.fail_pipes(&e);
        self.error.get_or_insert(e);
    }
}

/// One pipe of a child process, as the driver settles it: its lifecycle
/// is the pipe's, its callbacks the process's protocol's.
struct Pipe<'a> {
    process: &'a mut ProcessConn,
    fd: usize,
    /// Stands in for the pipe's lifecycle once the pipe is closed and gone
    /// (nothing left to settle).
    gone: Lifecycle,
}

impl Guarded for Pipe<'_> {
    type Protocol = dyn DynSubprocessProtocol;
    type Transport = SubprocessTransport;

    fn parts(&mut self) -> (&mut dyn DynSubprocessProtocol, &mut SubprocessTransport) {
        self.process.parts()
    }

    fn panicked(&mut self, e: io::Error) {
        self.process.panicked(e);
    }
}

impl StreamReading for Pipe<'_> {
    fn stream(&mut self) -> Option<&mut Transport> {
        self.process.transport.pipe_mut(self.fd)
    }

    fn deliver(&mut self, data: &[u8]) {
        let fd = self.fd as i32;
        self.invoke("pipe_data_received", |p, tr| {
            p.pipe_data_received(tr, fd, data)
        });
    }

    /// The child closed it: `pipe_connection_lost(None)`.
    fn at_eof(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(t) = self.stream() {
            t.life_mut().set_read_ready(false);
            t.abort();
        }
        self.settle(ctx);
    }

    fn read_failed(&mut self, e: io::Error, ctx: &mut Ctx<'_>) {
        if let Some(t) = self.stream() {
            t.fail(e);
        }
        self.settle(ctx);
    }
}

impl Driven for Pipe<'_> {
    /// After a pipe's callback: the whole process settles (the callback may
    /// have written to another pipe, or the child's end may be due).
    fn settle(&mut self, ctx: &mut Ctx<'_>) {
        self.process.settle(ctx);
    }

    fn life(&mut self) -> &mut Lifecycle {
        match self.process.transport.pipe_mut(self.fd) {
            Some(t) => t.life_mut(),
            None => &mut self.gone,
        }
    }

    fn pause_writing(&mut self) {
        self.invoke("pause_writing", |p, tr| p.pause_writing(tr));
    }

    /// Closes a pipe whose queue is done and tells `pipe_connection_lost`,
    /// schedules a resumed read, keeps the stdin pipe's WRITABLE interest
    /// in line with its queue.
    fn settle_state(&mut self, ctx: &mut Ctx<'_>) {
        let (fd, key) = (self.fd, self.process.transport.handle().0);
        let Some(t) = self.process.transport.pipe_mut(fd) else {
            return;
        };
        let empty = !t.has_queued();
        t.life_mut().flushed(empty);
        if t.life().is_finishing() {
            let mut t = self.process.transport.take_pipe(fd).expect("just seen");
            t.deregister(ctx.registry);
            let error = t.life_mut().take_error();
            drop(t); // closes the pipe
            self.invoke("pipe_connection_lost", |p, tr| {
                p.pipe_connection_lost(tr, fd as i32, error)
            });
            return;
        }
        if t.life_mut().take_read_resumed() {
            t.life_mut().set_read_resumed(); // the deferred pass reads it
            ctx.deferred.push(key);
        }
        if let Err(e) = t.sync_writable_interest(ctx.registry) {
            t.fail(e);
        }
    }
}

impl ProcessConn {
    fn on_pipe_event(&mut self, ctx: &mut Ctx<'_>, fd: usize, ev: &super::ready::Ready) {
        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
        if fd == 0 {
            let Some(stdin) = self.transport.pipe_mut(0) else {
                return;
            };
            if readable {
                // Readiness of a write pipe: the child closed its stdin.
                stdin.fail_on_read(io::ErrorKind::BrokenPipe.into());
            } else if ev.is_writable() && stdin.has_queued() && stdin.drain_queue() {
                self.invoke("resume_writing", |p, t| p.resume_writing(t));
            }
        } else if readable {
            if let Some(t) = self.transport.pipe_mut(fd) {
                t.life_mut().set_read_ready(true);
            }
            // Once the writer is gone, read to the end even after a short
            // read: no later edge would report the EOF.
            self.read_pipe(ctx, fd, ev.is_read_closed() || ev.is_error());
        }
        self.settle(ctx);
    }

    /// Reads pipe `fd` (1 or 2) until drained, paused or closed; with
    /// `to_end`, until `WouldBlock` or EOF even after a short read.
    fn read_pipe(&mut self, ctx: &mut Ctx<'_>, fd: usize, to_end: bool) {
        let mut pipe = Pipe {
            process: self,
            fd,
            gone: Lifecycle::new(),
        };
        read_stream(&mut pipe, ctx, to_end);
    }

    fn on_exit(&mut self, ctx: &mut Ctx<'_>) {
        if self.exited {
            return;
        }
        match self.transport.reap() {
            Ok(true) => {}
            Ok(false) => return, // not yet (a spurious wake-up)
            Err(e) => {
                tracing::warn!(error = %e, "cannot reap a child process");
                return;
            }
        };
        self.exited = true;
        let _ = ctx
            .registry
            .deregister(&mut SourceFd(&self.pidfd.as_raw_fd()));
        self.invoke("process_exited", |p, t| p.process_exited(t));
        self.settle(ctx);
    }

    /// After every callback: deliver a due `pause_writing` (P10), close
    /// pipes whose queue is done and tell `pipe_connection_lost`, keep the
    /// stdin pipe's WRITABLE interest in line with its queue, schedule
    /// resumed reads, and `connection_lost` once the child exited and every
    /// pipe is closed (P9).
    fn settle(&mut self, ctx: &mut Ctx<'_>) {
        let key = self.transport.handle().0;
        while let Some(fd) = (0..3).find(|&fd| {
            self.transport
                .pipe(fd)
                .is_some_and(|t| t.life().needs_settle())
        }) {
            settle_changes(
                &mut Pipe {
                    process: self,
                    fd,
                    gone: Lifecycle::new(),
                },
                ctx,
            );
        }
        if self.exited && !self.lost && self.transport.pipes_closed() {
            ctx.deferred.push(key);
        }
    }
}

impl Deferred for ProcessConn {
    /// Reads resumed by `resume_reading`, and `connection_lost` once the
    /// child exited and every pipe is closed (P9); then the entry goes.
    fn run_deferred(&mut self, ctx: &mut Ctx<'_>) -> Option<AfterLost> {
        for fd in 1..3 {
            let resumed = self
                .transport
                .pipe_mut(fd)
                .is_some_and(|t| t.life_mut().take_read_resumed() && t.life().read_ready());
            if resumed {
                self.read_pipe(ctx, fd, true);
            }
        }
        if self.lost || !self.exited || !self.transport.pipes_closed() {
            return None;
        }
        self.lost = true;
        self.transport.set_closing();
        let error = self.error.take();
        self.invoke("connection_lost", |p, t| p.connection_lost(t, error));
        let _ = ctx
            .registry
            .deregister(&mut SourceFd(&self.pidfd.as_raw_fd()));
        Some(AfterLost::Remove)
    }
}
