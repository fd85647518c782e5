//! `get_loop()` of every transport kind. A transport keeps its loop as an
//! opaque [`LoopRef`](crate::base::LoopRef), so that `transport/` never
//! names the loop's types; this layer put a [`LoopHandle`] in it and
//! reads it back here.

use super::LoopHandle;
use crate::base::LoopRef;
use crate::transport::{DatagramTransport, SubprocessTransport, Transport};

/// The handle a loop stored in its transports' [`LoopRef`]s.
#[inline]
fn handle_of(r: &LoopRef) -> &LoopHandle {
    r.get()
        .expect("a transport's LoopRef holds its loop's LoopHandle (set by the loop that made it)")
}

impl Transport {
    /// The loop this transport lives on: schedule callbacks, post to other
    /// shards, spawn tasks or stop it.
    pub fn get_loop(&self) -> &LoopHandle {
        handle_of(self.loop_ref())
    }
}

impl DatagramTransport {
    /// The loop this endpoint lives on.
    pub fn get_loop(&self) -> &LoopHandle {
        handle_of(self.loop_ref())
    }
}

impl SubprocessTransport {
    /// The loop this transport lives on.
    pub fn get_loop(&self) -> &LoopHandle {
        handle_of(self.loop_ref())
    }
}
