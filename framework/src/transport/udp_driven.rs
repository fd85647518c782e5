//! The crate-internal interface through which the loop's driver works a
//! [`DatagramTransport`]: batched receives and sends on its socket, the
//! send errors it owes `error_received`, and its poll interest. Its
//! fields stay private to `transport/`.

use std::io;
use std::os::fd::AsRawFd;

use mio::{Interest, Registry, Token};

use super::flow::FlowEvent;
use super::lifecycle::Lifecycle;
use super::stream::is_transient;
use super::DatagramTransport;
use crate::base::LoopRef;
use crate::sys::{RecvBatch, SendBatch};

impl DatagramTransport {
    /// The handle of the loop this endpoint belongs to.
    #[inline(always)]
    pub(crate) fn loop_ref(&self) -> &LoopRef {
        &self.lp
    }

    /// The endpoint's state machine (the same as streams').
    #[inline(always)]
    pub(crate) fn life(&self) -> &Lifecycle {
        &self.life
    }

    /// The state machine, to feed it what the loop saw.
    #[inline(always)]
    pub(crate) fn life_mut(&mut self) -> &mut Lifecycle {
        &mut self.life
    }

    /// Registers the socket with the loop's poll, for reading.
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self.socket.as_mut() {
            Some(socket) => registry.register(socket, token, Interest::READABLE),
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }

    /// One `recvmmsg` into `batch`: how many datagrams came. `None` once
    /// the socket is gone.
    pub(crate) fn receive(&mut self, batch: &mut RecvBatch) -> Option<io::Result<usize>> {
        let socket = self.socket.as_ref()?;
        Some(batch.recv(socket.as_raw_fd()))
    }

    /// Corks the endpoint while a batch of received datagrams is delivered
    /// (sends queue, to leave together after it), or uncorks it.
    pub(crate) fn set_corked(&mut self, corked: bool) {
        self.corked = corked;
    }

    /// Whether datagrams wait in the queue.
    #[inline(always)]
    pub(crate) fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether the queue waits to be sent by the loop now: something is
    /// queued and no WRITABLE interest will send it.
    pub(crate) fn needs_flush(&self) -> bool {
        !self.queue.is_empty() && !self.writable_registered
    }

    /// Sends queued datagrams, several per `sendmmsg`, until the queue is
    /// empty or the kernel says `WouldBlock`; a datagram that fails is
    /// dropped and its error kept for `error_received` (P7). Returns
    /// whether `resume_writing` is due.
    pub(crate) fn send_queued(&mut self, send: &mut SendBatch) -> bool {
        while !self.queue.is_empty() {
            let Some(socket) = &self.socket else { break };
            match send.send(socket.as_raw_fd(), self.queue.iter()) {
                Ok(n) => self.queue.pop(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    self.errors.push(e);
                    self.queue.pop(1);
                }
            }
        }
        self.life.touch();
        self.flow.after_drain(self.queue.bytes()) == FlowEvent::Resume
    }

    /// The send errors owed to `error_received`, taken (another settle
    /// pass follows their delivery).
    pub(crate) fn take_send_errors(&mut self) -> Vec<io::Error> {
        if self.errors.is_empty() {
            return Vec::new();
        }
        self.life.touch();
        std::mem::take(&mut self.errors)
    }

    /// The settle pass's state step: a close whose queue drained becomes
    /// finishing (returned: `connection_lost` is due), and WRITABLE
    /// interest is registered exactly while an uncorked queue waits. A
    /// failed re-registration fails the endpoint.
    pub(crate) fn settle_interest(&mut self, registry: &Registry, token: Token) -> bool {
        self.life.flushed(self.queue.is_empty());
        let finishing = self.life.is_finishing();
        let want = !self.queue.is_empty() && !self.corked;
        if want != self.writable_registered {
            if let Some(socket) = self.socket.as_mut() {
                let interest = if want {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                match registry.reregister(socket, token, interest) {
                    Ok(()) => self.writable_registered = want,
                    Err(e) => self.fail(e),
                }
            }
        }
        finishing
    }

    /// After `connection_lost`: the socket closes.
    pub(crate) fn close_socket(&mut self) {
        self.socket = None;
    }
}
