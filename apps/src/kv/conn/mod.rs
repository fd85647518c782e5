//! One kv connection: parses every complete request of a read, runs or
//! routes each, and writes the replies in request order, one write per
//! read.

mod admin;
mod blocked;
mod protocol;
mod pubsub;
mod replies;
mod route;
mod transaction;

pub(crate) use transaction::combine;

use admin::info;

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use shardloop::{Protocol, Transport};

use super::cmd::{self, Args, ConnCmd, Gather, Kind, OwnedArgs, Spec, TxnCmd};
use super::resp::{self, reply, Parse};
use super::{
    all_shards, exec_here, gate, owner, read_keys, read_u64s, txn_start, KvOptions, ReplyTo, SHARD,
};

/// A reply in the connection's queue.
enum Slot {
    /// Its command runs elsewhere.
    Waiting,
    Ready(Vec<u8>),
    /// A blocking command whose keys live on several shards, tried first
    /// as a transaction (keys in order, as Redis): a nil answer means it
    /// blocks now.
    Trying(Box<blocked::Pending>),
    /// An all-shard command: the pieces so far.
    Gathering {
        spec: &'static Spec,
        args: OwnedArgs,
        parts: Vec<Option<Vec<u8>>>,
        left: usize,
    },
}

/// CLIENT REPLY's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replies {
    On,
    Off,
    /// The next command is not answered.
    Skip,
}

/// The kv protocol of one connection.
pub struct KvConn {
    options: Arc<KvOptions>,
    /// Bytes of an incomplete request, kept for the next read.
    inbuf: Vec<u8>,
    /// The argument ranges of the request being handled (reused).
    ranges: Vec<Range<usize>>,
    /// The decoded arguments of an inline request (reused).
    scratch: Vec<u8>,
    /// How far the incomplete request at the start of `inbuf` is parsed.
    cursor: resp::Cursor,
    /// The time of this read, once a command needed it.
    now: Option<u64>,
    /// Replies ready to go, in order.
    out: Vec<u8>,
    /// Replies not all ready; `slots[0]` has sequence number `first_seq`.
    slots: VecDeque<Slot>,
    first_seq: u64,
    /// Commands queued by MULTI, and whether one was refused.
    multi: Option<Vec<(&'static Spec, OwnedArgs)>>,
    multi_failed: bool,
    /// The channels and patterns this connection subscribed to (RESP2's
    /// subscribe mode while any).
    channels: std::collections::HashSet<Vec<u8>, super::db::Fx>,
    patterns: std::collections::HashSet<Vec<u8>, super::db::Fx>,
    /// The protocol HELLO chose: 2 (RESP2, the default) or 3.
    proto: u8,
    /// What CLIENT LIST shows of this connection (set once made).
    client: Option<std::rc::Rc<super::clients::Client>>,
    /// QUIT or a protocol error: close once the replies are out.
    closing: bool,
    /// The slot of a multi-shard transaction in flight: later commands
    /// wait in `held` until its reply is in, so this connection's commands
    /// keep their order on every shard.
    barrier: Option<u64>,
    /// Commands received while a transaction is in flight (or waiting for
    /// this connection's earlier commands to finish), in order.
    held: VecDeque<OwnedArgs>,
    /// Commands for other shards gathered during this read, by shard.
    outgoing: Vec<super::RemoteBatch>,
    /// Split multi-key commands gathered during this read, sent at its
    /// end as one transaction (see `split`); other commands wait behind
    /// them.
    squash: Option<super::split::Group>,
    /// Reading is paused because [`MAX_IN_FLIGHT`] commands await their
    /// replies; it resumes once half of them are answered.
    parked: bool,
    /// Reading is paused by flow control (`pause_writing`).
    write_paused: bool,
    /// The last parse stopped inside a command: since when that command
    /// has been arriving (the loop's time), for `command_timeout`.
    partial_since: Option<std::time::Instant>,
    /// The last read completed a command, so a partial one after it is a
    /// new one.
    completed: bool,
    /// Armed while a command is partial.
    command_timer: Option<shardloop::Handle>,
    /// The server drains (P11): every complete command received is
    /// answered, then the connection closes.
    draining: bool,
    /// Replies wait in `out` for the log's sync (see `write_out`).
    write_deferred: bool,
    /// Its WATCH, until EXEC, DISCARD or UNWATCH.
    watch: Option<crate::kv::watch::Watching>,
    /// CLIENT REPLY: whether its commands are answered.
    replies: Replies,
    /// Slots (by sequence number, ascending) whose replies are dropped:
    /// commands sent while CLIENT REPLY was OFF or SKIP.
    muted: VecDeque<u64>,
    /// Its blocking commands (BLPOP…) still waiting, to cancel on close.
    blocks: Vec<std::sync::Arc<crate::kv::blocking::Block>>,
    /// What `inbuf` holds is at most part of one command (the last parse
    /// needed more), not commands that flow control held back.
    rest_partial: bool,
}

/// Most commands of one connection parsed and not yet answered (waiting
/// for another shard, or held behind a transaction). A client that
/// pipelines faster than the shards answer is not read further until they
/// catch up, so what it costs is bounded by this, not by what it sends.
pub const MAX_IN_FLIGHT: usize = 1024;

impl KvConn {
    /// A connection with these options.
    pub fn new(options: Arc<KvOptions>) -> Self {
        Self {
            options,
            inbuf: Vec::new(),
            ranges: Vec::new(),
            scratch: Vec::new(),
            cursor: resp::Cursor::default(),
            now: None,
            out: Vec::new(),
            slots: VecDeque::new(),
            first_seq: 0,
            multi: None,
            multi_failed: false,
            client: None,
            proto: 2,
            channels: Default::default(),
            patterns: Default::default(),
            closing: false,
            barrier: None,
            held: VecDeque::new(),
            outgoing: Vec::new(),
            squash: None,
            parked: false,
            write_paused: false,
            partial_since: None,
            completed: false,
            command_timer: None,
            draining: false,
            write_deferred: false,
            blocks: Vec::new(),
            watch: None,
            replies: Replies::On,
            muted: VecDeque::new(),
            rest_partial: true,
        }
    }

    /// Parses and handles every complete request of `buf`; returns how many
    /// bytes it used.
    fn process(&mut self, t: &mut Transport, buf: &[u8]) -> usize {
        self.now = None;
        // Transactions begun before this read are ordered before it here.
        super::order::catch_up(t.get_loop());
        let mut ranges = std::mem::take(&mut self.ranges);
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut at = 0;
        let mut partial = false;
        self.completed = false;
        let high = t.get_write_buffer_limits().1;
        while at < buf.len() && !self.closing {
            // Replies pile up faster than the client reads them: send what
            // is ready, and once the transport's queue is over its high
            // mark stop parsing; the rest waits in the query buffer until
            // `resume_writing` (reading is paused meanwhile).
            if self.out.len() >= high.max(16 << 10) {
                self.write_out(t);
            }
            // (Replies held for the log's sync count as queued.)
            let held_out = if self.write_deferred {
                self.out.len()
            } else {
                0
            };
            if t.get_write_buffer_size() + held_out > high || t.is_closing() {
                break;
            }
            if self.slots.len() + self.held.len() >= MAX_IN_FLIGHT {
                self.parked = true;
                break;
            }
            let parsed = resp::parse_from(&buf[at..], &mut ranges, &mut scratch, &mut self.cursor);
            match parsed {
                Parse::Request { consumed } | Parse::Inline { consumed } => {
                    let a = Args {
                        buf: if matches!(parsed, Parse::Inline { .. }) {
                            &scratch
                        } else {
                            &buf[at..]
                        },
                        ranges: &ranges,
                    };
                    if (self.barrier.is_some() && self.squash.is_none()) || !self.held.is_empty() {
                        self.held.push_back(OwnedArgs::from_args(&a));
                    } else {
                        self.handle(t, &a);
                    }
                    at += consumed;
                    self.completed = true;
                }
                Parse::Empty { consumed } => at += consumed,
                Parse::Incomplete => {
                    partial = true;
                    break;
                }
                Parse::Error(e) => {
                    self.ready(|out| reply::error_bytes(out, &e.message()));
                    self.closing = true;
                    at = buf.len();
                }
            }
        }
        self.ranges = ranges;
        self.scratch = scratch;
        self.rest_partial = partial || at == buf.len();
        self.send_outgoing(t);
        self.send_squash(t);
        if partial || self.partial_since.is_some() {
            self.watch_partial(t, partial);
        }
        at
    }

    /// Keeps `partial_since` on the command still arriving, and the timer
    /// that enforces `command_timeout` armed while there is one.
    #[cold]
    fn watch_partial(&mut self, t: &mut Transport, partial: bool) {
        if !partial {
            self.partial_since = None;
            return;
        }
        let now = t.get_loop().time();
        if self.completed || self.partial_since.is_none() {
            self.partial_since = Some(now);
        }
        let timeout = self.options.command_timeout;
        if self.command_timer.is_none() && !timeout.is_zero() {
            let conn = t.handle();
            self.command_timer = Some(t.get_loop().call_later(timeout, move |lp| {
                lp.with_connection(conn, |p: &mut KvConn, t| p.command_timer_fired(t));
            }));
        }
    }

    /// The command timer fired: a command arriving for longer than
    /// `command_timeout` closes the connection (after the replies to what
    /// came before it); a newer one gets the rest of its time.
    fn command_timer_fired(&mut self, t: &mut Transport) {
        reply::set_protocol(self.proto);
        self.command_timer = None;
        let Some(since) = self.partial_since else {
            return;
        };
        let timeout = self.options.command_timeout;
        let now = t.get_loop().time();
        let due = since + timeout;
        if now >= due {
            tracing::debug!(
                peer = %t.peername().map(|p| p.to_string()).unwrap_or_default(),
                "kv command not received within command_timeout: closed"
            );
            self.partial_since = None;
            self.inbuf = Vec::new();
            self.closing = true;
            // Closes once the replies before it are out.
            self.flush(t);
        } else {
            let conn = t.handle();
            self.command_timer = Some(t.get_loop().call_later(due - now, move |lp| {
                lp.with_connection(conn, |p: &mut KvConn, t| p.command_timer_fired(t));
            }));
        }
    }

    /// Sends the commands gathered for other shards, one message each.
    /// Called before anything else of this connection is posted, so every
    /// shard sees this connection's commands in the order sent.
    fn send_outgoing(&mut self, t: &Transport) {
        if self.outgoing.iter().all(super::RemoteBatch::is_empty) {
            return;
        }
        let lp = t.get_loop();
        let home = lp.shard_id().unwrap_or(0);
        for (shard, batch) in self.outgoing.iter_mut().enumerate() {
            if !batch.is_empty() {
                std::mem::take(batch).send(lp, shard, home, t.handle());
            }
        }
    }

    /// Appends a reply produced here, behind any still outstanding.
    fn ready(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if self.slots.is_empty() {
            write(&mut self.out);
        } else {
            let mut r = Vec::new();
            write(&mut r);
            self.slots.push_back(Slot::Ready(r));
        }
    }

    fn error(&mut self, msg: &str) {
        if self.multi.is_some() {
            self.multi_failed = true;
        }
        self.ready(|out| reply::error(out, msg));
    }

    /// A slot for a reply computed elsewhere; returns where to send it.
    fn slot(&mut self, t: &Transport, slot: Slot) -> ReplyTo {
        let seq = self.first_seq + self.slots.len() as u64;
        self.slots.push_back(slot);
        ReplyTo {
            shard: t.get_loop().shard_id().unwrap_or(0),
            conn: t.handle(),
            seq,
            proto: self.proto,
        }
    }

    fn handle(&mut self, t: &mut Transport, a: &Args<'_>) {
        if self.replies == Replies::On {
            return self.handle_one(t, a);
        }
        self.handle_muted(t, a);
    }

    /// A command sent under CLIENT REPLY OFF or SKIP: its reply, here or
    /// to come, is dropped. Pub/sub's confirmations and messages are pushes
    /// and still go out (as in Redis).
    #[cold]
    fn handle_muted(&mut self, t: &mut Transport, a: &Args<'_>) {
        let skip = self.replies == Replies::Skip;
        let push = cmd::lookup(a.get(0)).is_some_and(|s| {
            matches!(
                s.kind,
                Kind::Connection(
                    ConnCmd::Subscribe
                        | ConnCmd::Psubscribe
                        | ConnCmd::Unsubscribe
                        | ConnCmd::Punsubscribe
                )
            )
        });
        let mark = self.out.len();
        let first = self.first_seq + self.slots.len() as u64;
        let held = self.held.len();
        self.handle_one(t, a);
        if self.held.len() > held {
            // Put back to run once the replies before it are in: handled
            // (and muted) then.
            return;
        }
        if self.replies == Replies::On {
            // CLIENT REPLY ON: answered.
            return;
        }
        if !push {
            self.out.truncate(mark.min(self.out.len()));
            let end = self.first_seq + self.slots.len() as u64;
            self.muted.extend(first.max(self.first_seq)..end);
        }
        if skip && self.replies == Replies::Skip {
            self.replies = Replies::On;
        }
    }

    fn handle_one(&mut self, t: &mut Transport, a: &Args<'_>) {
        let Some((idx, spec)) = cmd::lookup_indexed(a.get(0)) else {
            if self.multi.is_some() {
                self.multi_failed = true;
            }
            let msg = cmd::unknown_command(a);
            return self.ready(|out| reply::error_bytes(out, &msg));
        };
        if let Some(c) = &self.client {
            c.last_cmd.set(match spec.kind {
                Kind::Connection(_) => super::clients::full_name(spec.name, a),
                _ => spec.name,
            });
        }
        if !cmd::arity_ok(spec, a.len()) {
            super::stats::count(idx, true);
            return self.error(&cmd::arity_error(spec));
        }
        if self.proto == 2 && self.subscribed() && !allowed_subscribed(spec) {
            super::stats::count(idx, true);
            return self.error(&format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            ));
        }
        if super::evict::limited() && self.refused_over_maxmemory(spec) {
            super::stats::count(idx, true);
            if matches!(spec.kind, Kind::Transaction(TxnCmd::Exec)) && self.multi.is_some() {
                // Redis aborts the transaction with the reason.
                self.multi = None;
                self.unwatch(t);
                if let Some(c) = &self.client {
                    c.multi.set(-1);
                }
                return self.error(&format!(
                    "EXECABORT Transaction discarded because of: {}",
                    super::evict::OOM
                ));
            }
            if self.multi.is_some() {
                self.multi_failed = true;
            }
            return self.error(super::evict::OOM);
        }
        super::stats::count(idx, false);
        if self.squash.is_some() && !matches!(spec.kind, Kind::Keyed) {
            return self.hold_behind_squash(a);
        }
        if let Some(queue) = &mut self.multi {
            match spec.kind {
                Kind::Transaction(_) | Kind::Connection(ConnCmd::Quit) => {}
                // Refused alone, as Redis: the transaction goes on.
                Kind::Connection(ConnCmd::Watch) => {
                    return self
                        .ready(|out| reply::error(out, "ERR WATCH inside MULTI is not allowed"))
                }
                // Keyed and all-shard commands, and the stateless ones,
                // run at EXEC (see `txn`).
                _ if spec.queued_in_multi() => {
                    queue.push((spec, OwnedArgs::from_args(a)));
                    if let Some(c) = &self.client {
                        c.multi.set(queue.len() as i64);
                    }
                    return self.ready(|out| reply::simple(out, "QUEUED"));
                }
                _ => {
                    return self.error(&format!("ERR kv does not run '{}' inside MULTI", spec.name))
                }
            }
        }
        match spec.kind {
            Kind::Connection(c) => self.connection_command(t, c, spec, a),
            Kind::Transaction(c) => self.transaction_command(t, c),
            Kind::Keyed => self.keyed(t, spec, a),
            Kind::Blocking(c) => self.blocking(t, c, spec, a),
            Kind::AllShards { gather, .. } => self.gather_all(t, spec, gather, a),
        }
    }
}

/// What a connection in subscribe mode may run (Redis 7.0, RESP2).
fn allowed_subscribed(spec: &Spec) -> bool {
    matches!(
        spec.kind,
        Kind::Connection(
            ConnCmd::Subscribe
                | ConnCmd::Unsubscribe
                | ConnCmd::Psubscribe
                | ConnCmd::Punsubscribe
                | ConnCmd::Ping
                | ConnCmd::Quit
        )
    )
}
