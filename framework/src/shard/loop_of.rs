//! What a transport's loop is, and `get_loop()` of every transport kind.
//! `transport/` keeps its loop as a [`LoopRef`](crate::base::LoopRef), a
//! type it never sees defined; this layer says it is the [`LoopHandle`]
//! (resolved at compile time), so `transport/` never names the loop's
//! types.

use super::LoopHandle;
use crate::base::{Loop, LoopKind};
use crate::transport::{DatagramTransport, SubprocessTransport, Transport};

impl LoopKind for Loop {
    type Handle = LoopHandle;
}

impl Transport {
    /// The loop this transport lives on: schedule callbacks, post to other
    /// shards, spawn tasks or stop it.
    pub fn get_loop(&self) -> &LoopHandle {
        self.loop_ref()
    }
}

impl DatagramTransport {
    /// The loop this endpoint lives on.
    pub fn get_loop(&self) -> &LoopHandle {
        self.loop_ref()
    }
}

impl SubprocessTransport {
    /// The loop this transport lives on.
    pub fn get_loop(&self) -> &LoopHandle {
        self.loop_ref()
    }
}
