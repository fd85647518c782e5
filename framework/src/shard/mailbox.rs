//! Cross-shard calls: a [`ShardHandle`] runs a closure on its shard
//! (asyncio's `call_soon_threadsafe`, Seastar's `submit_to`).
//!
//! A bounded crossbeam channel carries the closures; the shard's
//! `mio::Waker` wakes its poll. A flag coalesces wake-ups: a burst of sends
//! costs one wake, not one syscall each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::{Registry, Token, Waker};

use super::EventLoop;

/// The poll token of the waker; slab keys never reach it.
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);

/// Closures waiting in a mailbox before the sender is told it is full.
pub const MAILBOX_CAPACITY: usize = 4096;

/// A closure sent to run on a shard.
pub type Task = Box<dyn FnOnce(&mut EventLoop) + Send>;

struct Wake {
    waker: Waker,
    /// Set by a sender that woke the shard; cleared by the shard before it
    /// drains, so a send after the drain wakes it again.
    pending: AtomicBool,
}

/// A `Send + Clone` handle to one shard's loop: runs closures on it.
#[derive(Clone)]
pub struct ShardHandle {
    tx: Sender<Task>,
    wake: Arc<Wake>,
}

impl std::fmt::Debug for ShardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardHandle")
            .field("queued", &self.tx.len())
            .finish()
    }
}

/// Why a closure could not be handed to a shard.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The shard's mailbox is full; the closure is returned (only from
    /// [`ShardHandle::try_submit`]).
    #[error("shard mailbox is full")]
    Full(Task),
    /// The shard's loop is gone.
    #[error("shard has stopped")]
    Stopped,
}

impl std::fmt::Debug for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("Full(..)"),
            SubmitError::Stopped => f.write_str("Stopped"),
        }
    }
}

impl ShardHandle {
    /// Runs `f` on the shard's loop, on one of its next iterations, in the
    /// order submitted from this thread. Blocks while the mailbox is full.
    pub fn submit(
        &self,
        f: impl FnOnce(&mut EventLoop) + Send + 'static,
    ) -> Result<(), SubmitError> {
        self.tx
            .send(Box::new(f))
            .map_err(|_| SubmitError::Stopped)?;
        self.wake();
        Ok(())
    }

    /// Like [`submit`](Self::submit) but never blocks: a full mailbox gives
    /// the closure back, so the caller can try another shard.
    pub fn try_submit(&self, f: Task) -> Result<(), SubmitError> {
        match self.tx.try_send(f) {
            Ok(()) => {
                self.wake();
                Ok(())
            }
            Err(TrySendError::Full(f)) => Err(SubmitError::Full(f)),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Stopped),
        }
    }

    /// Whether the mailbox is full right now (the acceptor passes over
    /// such a shard).
    pub fn is_full(&self) -> bool {
        self.tx.is_full()
    }

    fn wake(&self) {
        if !self.wake.pending.swap(true, Ordering::AcqRel) {
            // A failed wake means the poll is gone: the shard is stopping.
            let _ = self.wake.waker.wake();
        }
    }
}

/// The receiving side, owned by the loop.
pub(crate) struct Mailbox {
    rx: Receiver<Task>,
    wake: Arc<Wake>,
    handle: ShardHandle,
}

impl Mailbox {
    pub(crate) fn new(registry: &Registry) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded(MAILBOX_CAPACITY);
        let wake = Arc::new(Wake {
            waker: Waker::new(registry, WAKER_TOKEN)?,
            pending: AtomicBool::new(false),
        });
        let handle = ShardHandle {
            tx,
            wake: Arc::clone(&wake),
        };
        Ok(Self { rx, wake, handle })
    }

    pub(crate) fn handle(&self) -> &ShardHandle {
        &self.handle
    }

    /// Re-arms the wake-up and returns how many closures are queued now:
    /// the loop runs that many, so a sender that never stops cannot starve
    /// the shard.
    pub(crate) fn arm(&self) -> usize {
        self.wake.pending.store(false, Ordering::Release);
        self.rx.len()
    }

    pub(crate) fn try_recv(&self) -> Option<Task> {
        self.rx.try_recv().ok()
    }
}

impl EventLoop {
    /// A `Send + Clone` handle that runs closures on this loop from any
    /// thread (asyncio's `call_soon_threadsafe`). The first call sets up the
    /// mailbox and its waker.
    pub fn shard_handle(&mut self) -> std::io::Result<ShardHandle> {
        if self.mailbox.is_none() {
            let mailbox = Mailbox::new(self.poll.registry())?;
            let _ = self.core.handle.sched.shard.set(mailbox.handle().clone());
            self.mailbox = Some(mailbox);
        }
        Ok(self
            .mailbox
            .as_ref()
            .map(|m| m.handle().clone())
            .expect("just set"))
    }

    /// Runs the closures other threads queued before this wake-up.
    pub(super) fn run_mailbox(&mut self) {
        let queued = self.mailbox.as_ref().map_or(0, Mailbox::arm);
        for _ in 0..queued {
            let Some(task) = self.mailbox.as_ref().and_then(Mailbox::try_recv) else {
                break;
            };
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(self)))
            {
                tracing::error!(panic = %super::panic_text(&*payload), "cross-shard call panicked");
            }
        }
    }
}
