//! The keys and handles every layer names — a loop entry's slab key, its
//! poll token, a connection's handle — below the transports and the loop,
//! so neither reaches into the other for them.

use mio::Token;
use slotmap::{new_key_type, Key, KeyData};

new_key_type! {
    /// Slab key of a loop entry; its generation makes stale keys miss.
    pub(crate) struct EntryKey;
}

#[inline]
pub(crate) fn token_of(key: EntryKey) -> Token {
    Token(key.data().as_ffi() as usize)
}

#[inline]
pub(crate) fn key_of(token: Token) -> EntryKey {
    KeyData::from_ffi(token.0 as u64).into()
}

/// Identifies one connection of a loop. Generation-checked: once the
/// connection is gone the handle matches nothing, even when its slot is
/// reused by a newer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionHandle(pub(crate) EntryKey);

/// The type hole through which the transport layer keeps its loop's
/// handle without naming the loop's types: `transport/` stores a
/// [`LoopRef`], and the loop layer (`shard/`) says what that is (its
/// `LoopHandle`) by implementing this trait for [`Loop`]. Resolved at
/// compile time: a plain field, no indirection, no check.
pub(crate) trait LoopKind {
    /// What a transport keeps of its loop.
    type Handle: Clone + std::fmt::Debug;
}

/// The loop, as the layers below it name it (see [`LoopKind`]).
pub(crate) enum Loop {}

/// The handle of the loop a transport belongs to (the loop's
/// `LoopHandle`; see [`LoopKind`]).
pub(crate) type LoopRef = <Loop as LoopKind>::Handle;
