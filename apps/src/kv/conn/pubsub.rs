//! A connection's subscriptions: SUBSCRIBE, PSUBSCRIBE, their
//! UNSUBSCRIBEs and PUBSUB, and the messages pushed to it.

use super::*;
use crate::kv::pubsub as registry;

impl KvConn {
    /// Whether the connection is in subscribe mode.
    pub(super) fn subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }

    fn subscriptions(&self) -> i64 {
        (self.channels.len() + self.patterns.len()) as i64
    }

    /// SUBSCRIBE / PSUBSCRIBE: one reply per name, with the count after it.
    pub(super) fn subscribe(&mut self, t: &mut Transport, a: &Args<'_>, pattern: bool) {
        let kind: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
        for name in a.iter_from(1) {
            let list = if pattern {
                &mut self.patterns
            } else {
                &mut self.channels
            };
            if list.insert(name.to_vec()) {
                registry::subscribe(t.handle(), name, pattern);
            }
            let count = self.subscriptions();
            self.ready(|out| {
                reply::push(out, 3);
                reply::bulk(out, kind);
                reply::bulk(out, name);
                reply::int(out, count);
            });
        }
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE: the names given, or every one; with
    /// none to leave, one reply with a nil name.
    pub(super) fn unsubscribe(&mut self, t: &mut Transport, a: &Args<'_>, pattern: bool) {
        let kind: &[u8] = if pattern {
            b"punsubscribe"
        } else {
            b"unsubscribe"
        };
        let names: Vec<Vec<u8>> = if a.len() > 1 {
            a.iter_from(1).map(<[u8]>::to_vec).collect()
        } else if pattern {
            self.patterns.iter().cloned().collect()
        } else {
            self.channels.iter().cloned().collect()
        };
        if names.is_empty() {
            let count = self.subscriptions();
            return self.ready(|out| {
                reply::push(out, 3);
                reply::bulk(out, kind);
                reply::nil(out);
                reply::int(out, count);
            });
        }
        for name in names {
            let list = if pattern {
                &mut self.patterns
            } else {
                &mut self.channels
            };
            if list.remove(&name) {
                registry::unsubscribe(t.handle(), &name, pattern);
            }
            let count = self.subscriptions();
            self.ready(|out| {
                reply::push(out, 3);
                reply::bulk(out, kind);
                reply::bulk(out, &name);
                reply::int(out, count);
            });
        }
    }

    /// Every subscription dropped (the connection is gone).
    pub(super) fn unsubscribe_all(&mut self, t: &Transport) {
        for name in std::mem::take(&mut self.channels) {
            registry::unsubscribe(t.handle(), &name, false);
        }
        for name in std::mem::take(&mut self.patterns) {
            registry::unsubscribe(t.handle(), &name, true);
        }
    }

    /// PUBSUB CHANNELS [pattern] | NUMSUB [channel…] | NUMPAT, over every
    /// shard (Redis 7.0's errors).
    pub(super) fn pubsub(&mut self, t: &mut Transport, a: &Args<'_>) {
        let sub = a.get(1).to_ascii_lowercase();
        match sub.as_slice() {
            b"channels" if a.len() <= 3 => {
                self.gather_all(t, &cmd::PUBSUB_CHANNELS, Gather::Channels, a)
            }
            b"channels" => {
                let mut m = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
                m.extend_from_slice(a.get(1));
                m.extend_from_slice(b"'. Try PUBSUB HELP.");
                self.ready(|out| reply::error_bytes(out, &m));
            }
            b"numsub" => self.gather_all(t, &cmd::PUBSUB_NUMSUB, Gather::Numsub, a),
            b"numpat" if a.len() == 2 => self.gather_all(t, &cmd::PUBSUB_NUMPAT, Gather::Numpat, a),
            b"numpat" => self.error("ERR wrong number of arguments for 'pubsub|numpat' command"),
            _ => {
                let mut m = b"ERR unknown subcommand '".to_vec();
                m.extend_from_slice(a.get(1));
                m.extend_from_slice(b"'. Try PUBSUB HELP.");
                self.ready(|out| reply::error_bytes(out, &m));
            }
        }
    }

    /// A published message for this subscriber: behind its replies in
    /// order, then written (a subscriber past `max_output_buffer` is
    /// closed).
    pub(in crate::kv) fn push(&mut self, t: &mut Transport, m: &registry::Message) {
        reply::set_protocol(self.proto);
        self.ready(|out| {
            match &m.pattern {
                Some(p) => {
                    reply::push(out, 4);
                    reply::bulk(out, b"pmessage");
                    reply::bulk(out, p);
                }
                None => {
                    reply::push(out, 3);
                    reply::bulk(out, b"message");
                }
            }
            reply::bulk(out, &m.channel);
            reply::bulk(out, &m.payload);
        });
        self.flush(t);
    }
}
