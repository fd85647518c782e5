//! Pub/sub over the shards: SUBSCRIBE, PSUBSCRIBE, their UNSUBSCRIBEs,
//! PUBLISH and PUBSUB, with Redis 7.0's replies (RESP2).
//!
//! A subscription lives on its connection's shard: each shard keeps the
//! channels and patterns its own connections listen to. PUBLISH visits
//! every shard as DBSIZE does ([`Gather::Publish`](super::cmd::Gather)):
//! each shard hands the message to its local subscribers (on its next loop
//! turn, through each subscriber's own reply queue) and answers how many
//! they were; the publisher gets the sum. So a subscriber on any shard
//! receives what is published on any other, in the order one publisher
//! sent it. A subscriber that does not read is bounded by the connection's
//! `max_output_buffer`, as any client that does not read its replies
//! (Redis's `client-output-buffer-limit pubsub`): past it, it is closed.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use shardloop::{ConnectionHandle, LoopHandle};

use super::cmd::Args;
use super::db::{glob_match, Fx};
use super::{KvConn, SHARD};

/// One shard's subscriptions, by channel and by pattern.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    channels: HashMap<Vec<u8>, Subscribers, Fx>,
    patterns: HashMap<Vec<u8>, Subscribers, Fx>,
}

/// The connections subscribed to one name: a set, so that subscribing,
/// unsubscribing and leaving cost the same with one subscriber or a
/// million.
type Subscribers = HashSet<ConnectionHandle, Fx>;

impl Registry {
    fn table(&mut self, pattern: bool) -> &mut HashMap<Vec<u8>, Subscribers, Fx> {
        if pattern {
            &mut self.patterns
        } else {
            &mut self.channels
        }
    }
}

/// Adds `conn` to the subscribers of `name` on this shard.
pub(crate) fn subscribe(conn: ConnectionHandle, name: &[u8], pattern: bool) {
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        s.pubsub
            .table(pattern)
            .entry(name.to_vec())
            .or_default()
            .insert(conn);
    });
}

/// Removes `conn` from the subscribers of `name` on this shard.
pub(crate) fn unsubscribe(conn: ConnectionHandle, name: &[u8], pattern: bool) {
    SHARD.with(|s| {
        let mut s = s.borrow_mut();
        let table = s.pubsub.table(pattern);
        if let Some(subs) = table.get_mut(name) {
            subs.remove(&conn);
            if subs.is_empty() {
                table.remove(name);
            }
        }
    });
}

/// PUBLISH's part on this shard: the message goes to every local
/// subscriber of the channel and of each matching pattern (delivered on
/// the loop's next turn); returns how many receive it.
pub(crate) fn publish_here(lp: &LoopHandle, channel: &[u8], message: &[u8]) -> u64 {
    let deliveries: Vec<(ConnectionHandle, Rc<Message>)> = SHARD.with(|s| {
        let s = s.borrow();
        let mut out = Vec::new();
        if let Some(subs) = s.pubsub.channels.get(channel) {
            let m = Rc::new(Message {
                pattern: None,
                channel: channel.to_vec(),
                payload: message.to_vec(),
            });
            out.extend(subs.iter().map(|c| (*c, Rc::clone(&m))));
        }
        for (pattern, subs) in &s.pubsub.patterns {
            if glob_match(pattern, channel) {
                let m = Rc::new(Message {
                    pattern: Some(pattern.clone()),
                    channel: channel.to_vec(),
                    payload: message.to_vec(),
                });
                out.extend(subs.iter().map(|c| (*c, Rc::clone(&m))));
            }
        }
        out
    });
    let n = deliveries.len() as u64;
    if n > 0 {
        lp.call_soon(move |lp| {
            for (conn, m) in deliveries {
                lp.with_connection(conn, |p: &mut KvConn, t| p.push(t, &m));
            }
        });
    }
    n
}

/// A published message, as each subscriber receives it (written in the
/// subscriber's own protocol).
#[derive(Debug)]
pub(crate) struct Message {
    /// The pattern it matched (a `pmessage`), or none (a `message`).
    pub(crate) pattern: Option<Vec<u8>>,
    pub(crate) channel: Vec<u8>,
    pub(crate) payload: Vec<u8>,
}

/// PUBSUB CHANNELS' part: this shard's channels with a subscriber that
/// match the pattern, if one is given.
pub(crate) fn channels_here(a: &Args<'_>) -> Vec<Vec<u8>> {
    let pattern = (a.len() > 2).then(|| a.get(2));
    SHARD.with(|s| {
        s.borrow()
            .pubsub
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c)))
            .cloned()
            .collect()
    })
}

/// PUBSUB NUMSUB's part: this shard's subscriber count of each channel
/// named.
pub(crate) fn numsub_here(a: &Args<'_>) -> Vec<u64> {
    SHARD.with(|s| {
        let s = s.borrow();
        a.iter_from(2)
            .map(|c| s.pubsub.channels.get(c).map_or(0, |v| v.len() as u64))
            .collect()
    })
}

/// PUBSUB NUMPAT's part: this shard's patterns with a subscriber.
pub(crate) fn patterns_here() -> Vec<Vec<u8>> {
    SHARD.with(|s| s.borrow().pubsub.patterns.keys().cloned().collect())
}

/// Publishes keyspace `events` (in order) to the subscribers of every
/// shard, on the channels of the classes enabled (see `notify`).
pub fn publish_events(lp: &LoopHandle, events: Vec<super::notify::Event>) {
    use super::notify::{classes, KEYEVENT, KEYSPACE};
    let c = classes();
    let mut messages: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for e in events {
        if c & KEYSPACE != 0 {
            let mut ch = b"__keyspace@0__:".to_vec();
            ch.extend_from_slice(&e.key);
            messages.push((ch, e.event.as_bytes().to_vec()));
        }
        if c & KEYEVENT != 0 {
            let ch = format!("__keyevent@0__:{}", e.event).into_bytes();
            messages.push((ch, e.key));
        }
    }
    if messages.is_empty() {
        return;
    }
    let messages = std::sync::Arc::new(messages);
    for shard in 0..lp.shard_count() {
        let messages = std::sync::Arc::clone(&messages);
        lp.post(shard, move |lp| {
            for (ch, m) in messages.iter() {
                publish_here(lp.handle(), ch, m);
            }
        });
    }
}
