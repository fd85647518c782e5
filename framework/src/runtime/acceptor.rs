//! The acceptor thread: its own `mio::Poll`, the listening sockets, accept
//! until `WouldBlock`, pick a shard, hand the socket over its mailbox.
//! It never reads, parses or handshakes, so a slow client cannot stall it.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use mio::{Events, Poll, Token, Waker};

use super::Distribution;
use crate::shard::server::SendFactory;
use crate::shard::ShardHandle;
use crate::stats::{Gauges, RuntimeGauges};
use crate::transport::listener::{AcceptError, ListenSocket};

const WAKER: Token = Token(usize::MAX);

enum Command {
    Listen(Listener),
    /// Close listener `id`; the acknowledgement says its socket is closed.
    Unlisten(u64, Sender<()>),
    /// Duplicates of every listening socket, by listener id (a takeover).
    Dup(Sender<Vec<(u64, std::os::fd::OwnedFd)>>),
    Stop,
}

struct Listener {
    socket: ListenSocket,
    distribution: Distribution,
    factory: SendFactory,
    id: u64,
}

/// Asks the acceptor, from any thread, for duplicates of its listening
/// sockets.
#[derive(Clone)]
pub(crate) struct DupHandle {
    tx: Sender<Command>,
    waker: Arc<Waker>,
}

impl DupHandle {
    pub(crate) fn sockets(&self) -> io::Result<Vec<(u64, std::os::fd::OwnedFd)>> {
        let (reply, fds) = crossbeam_channel::bounded(1);
        let gone = || io::Error::from(crate::LoopError::Gone("the acceptor".into()));
        self.tx.send(Command::Dup(reply)).map_err(|_| gone())?;
        self.waker.wake()?;
        fds.recv_timeout(Duration::from_secs(10))
            .map_err(|_| gone())
    }
}

/// Handle to the running acceptor thread.
pub(crate) struct Acceptor {
    tx: Sender<Command>,
    waker: Arc<Waker>,
    thread: JoinHandle<()>,
}

impl Acceptor {
    pub(crate) fn start(
        shards: Vec<(ShardHandle, Arc<AtomicUsize>)>,
        gauges: Arc<RuntimeGauges>,
        backoff: Duration,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = unbounded();
        let thread = std::thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || {
                let mut state = State {
                    poll,
                    listeners: Vec::new(),
                    shards,
                    gauges,
                    backoff,
                    next: 0,
                };
                state.run(rx);
            })?;
        Ok(Self { tx, waker, thread })
    }

    /// A handle that asks this acceptor for duplicates of its sockets.
    pub(crate) fn dup_handle(&self) -> DupHandle {
        DupHandle {
            tx: self.tx.clone(),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Closes listener `id` and waits until its socket is closed.
    pub(crate) fn unlisten(&self, id: u64) -> io::Result<()> {
        let (ack, done) = crossbeam_channel::bounded(1);
        self.tx
            .send(Command::Unlisten(id, ack))
            .map_err(|_| io::Error::from(crate::LoopError::Gone("the acceptor".into())))?;
        self.waker.wake()?;
        done.recv_timeout(Duration::from_secs(10))
            .map_err(|_| io::Error::from(crate::LoopError::Gone("the acceptor".into())))
    }

    pub(crate) fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    pub(crate) fn add(
        &self,
        socket: ListenSocket,
        distribution: Distribution,
        factory: SendFactory,
        id: u64,
    ) -> io::Result<()> {
        self.tx
            .send(Command::Listen(Listener {
                socket,
                distribution,
                factory,
                id,
            }))
            .map_err(|_| io::Error::from(crate::LoopError::Gone("the acceptor".into())))?;
        self.waker.wake()
    }

    /// Closes every listener and joins the thread.
    pub(crate) fn stop(self) {
        let _ = self.tx.send(Command::Stop);
        let _ = self.waker.wake();
        let _ = self.thread.join();
    }
}

struct State {
    poll: Poll,
    /// By token; a closed listener leaves a hole so tokens stay put.
    listeners: Vec<Option<Listener>>,
    shards: Vec<(ShardHandle, Arc<AtomicUsize>)>,
    gauges: Arc<RuntimeGauges>,
    backoff: Duration,
    /// Round-robin position, also where least-connections starts looking.
    next: usize,
}

impl State {
    fn run(&mut self, rx: Receiver<Command>) {
        let mut events = Events::with_capacity(256);
        let mut backoff_until: Option<Instant> = None;
        loop {
            let timeout = backoff_until.map(|t| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "acceptor poll failed");
                    return;
                }
            }
            let mut ready: Vec<usize> = Vec::new();
            let mut retry_all = false;
            for ev in events.iter() {
                if ev.token() == WAKER {
                    // Commands, or a connection closed while at the cap.
                    retry_all = true;
                } else {
                    ready.push(ev.token().0);
                }
            }
            while let Ok(cmd) = rx.try_recv() {
                match cmd {
                    Command::Listen(mut l) => {
                        let token = Token(self.listeners.len());
                        if let Err(e) = l.socket.register(self.poll.registry(), token) {
                            tracing::error!(error = %e, "acceptor cannot register a listener");
                            continue;
                        }
                        self.listeners.push(Some(l));
                    }
                    Command::Dup(reply) => {
                        let fds = self
                            .listeners
                            .iter()
                            .flatten()
                            .filter_map(|l| l.socket.try_clone_fd().ok().map(|fd| (l.id, fd)))
                            .collect();
                        let _ = reply.send(fds);
                    }
                    Command::Unlisten(id, ack) => {
                        for slot in &mut self.listeners {
                            if slot.as_ref().is_some_and(|l| l.id == id) {
                                if let Some(mut l) = slot.take() {
                                    let _ = l.socket.deregister(self.poll.registry());
                                }
                            }
                        }
                        let _ = ack.send(());
                    }
                    Command::Stop => return, // dropping the listeners closes them
                }
            }
            if let Some(t) = backoff_until {
                if Instant::now() < t {
                    continue;
                }
                backoff_until = None;
                retry_all = true;
            }
            if retry_all {
                ready = (0..self.listeners.len()).collect();
            }
            for i in ready {
                if let Err(AcceptError::Resources) = self.accept_all(i) {
                    backoff_until = Some(crate::shard::after(self.backoff));
                    break;
                }
            }
        }
    }

    /// Accepts until `WouldBlock`, the cap, or a shortage of descriptors.
    fn accept_all(&mut self, i: usize) -> Result<(), AcceptError> {
        loop {
            if self.gauges.at_cap() {
                return Ok(()); // a close wakes us
            }
            let Some(Some(l)) = self.listeners.get(i) else {
                return Ok(());
            };
            match l.socket.accept() {
                Ok((stream, peer)) => self.hand_off(i, stream, peer),
                Err(e) => match AcceptError::classify(&e) {
                    AcceptError::Drained => return Ok(()),
                    AcceptError::Connection => {
                        tracing::debug!(error = %e, "accept failed for one connection; skipped");
                    }
                    AcceptError::Dead => {
                        tracing::error!(error = %e, listener = l.id, "a listening socket stopped listening; closed it");
                        if let Some(mut l) = self.listeners[i].take() {
                            let _ = l.socket.deregister(self.poll.registry());
                        }
                        return Ok(());
                    }
                    AcceptError::Resources => {
                        self.gauges
                            .acceptor_backoffs
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, delay = %humantime::format_duration(self.backoff), "out of resources while accepting; backing off");
                        return Err(AcceptError::Resources);
                    }
                },
            }
        }
    }

    fn hand_off(
        &mut self,
        i: usize,
        stream: crate::transport::socket::Stream,
        peer: crate::transport::Address,
    ) {
        let Some(l) = self.listeners[i].as_ref() else {
            return;
        };
        let n = self.shards.len();
        let start = self.next % n;
        self.next = self.next.wrapping_add(1);
        let order: Vec<usize> = match l.distribution {
            Distribution::LeastConnections => {
                let mut ks: Vec<usize> = (0..n).map(|j| (start + j) % n).collect();
                // Stable sort: among equal counts the rotation order stays,
                // so ties go to each shard in turn.
                ks.sort_by_key(|&k| self.shards[k].1.load(Ordering::Acquire));
                ks
            }
            _ => (0..n).map(|j| (start + j) % n).collect(),
        };
        // A shard whose mailbox is full is passed over.
        let Some(k) = order.into_iter().find(|&k| !self.shards[k].0.is_full()) else {
            tracing::warn!(%peer, "every shard's mailbox is full; connection dropped");
            return;
        };
        let (handle, live) = &self.shards[k];
        live.fetch_add(1, Ordering::AcqRel);
        self.gauges.live.fetch_add(1, Ordering::AcqRel);
        let gauges = Gauges {
            shard: Arc::clone(live),
            runtime: Arc::clone(&self.gauges),
            counted_at_accept: true,
            listener: l.id,
        };
        let factory = Arc::clone(&l.factory);
        let id = l.id;
        let sent = handle.try_submit(Box::new(move |lp| {
            lp.adopt_handed_off(stream, peer, factory, gauges, id)
        }));
        if sent.is_err() {
            // Filled up between the check and the send (another sender):
            // dropping the task closed the socket; undo the counts.
            live.fetch_sub(1, Ordering::AcqRel);
            self.gauges.live.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!("shard mailbox filled during hand-off; connection dropped");
        }
    }
}
