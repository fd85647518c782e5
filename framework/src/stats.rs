//! Every counter and gauge shardloop keeps, declared once: its field in the
//! public snapshot ([`ShardStats`], [`ListenerStats`]), the cell a shard
//! bumps without atomics, and its Prometheus family (name, type, help — the
//! help is the field's doc) come from one line of [`counters!`]. Adding a
//! metric is that line plus the place that counts it.
//!
//! Also the gauges the runtime shares with its shards ([`Gauges`],
//! [`RuntimeGauges`]): they sit here, below both, so neither the shard loop
//! nor a server reaches up into the runtime for them.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// One Prometheus family read from a snapshot `T`: its name (empty: not
/// exported on its own), `counter` or `gauge`, help, and how to read it.
#[derive(Debug)]
pub(crate) struct Family<T> {
    pub(crate) name: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) help: &'static str,
    pub(crate) value: fn(&T) -> u64,
}

impl<T> Family<T> {
    /// The help text: the field's doc on one line.
    pub(crate) fn help(&self) -> String {
        self.help.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Declares a snapshot struct, its cells and its Prometheus families.
/// `computed` fields are filled in by whoever takes the snapshot;
/// `counted` ones are cells. Each field: doc, name, `counter` or `gauge`,
/// and the family name (`""`: not exported with this snapshot's labels).
macro_rules! counters {
    (
        $(#[$meta:meta])*
        pub struct $Snap:ident, cells $Cells:ident, families $FAMILIES:ident {
            computed { $( $(#[doc = $cdoc:literal])+ $cfield:ident: $ckind:ident $cfamily:literal, )* }
            counted { $( $(#[doc = $doc:literal])+ $field:ident: $kind:ident $family:literal, )* }
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $Snap {
            $( $(#[doc = $cdoc])+ pub $cfield: u64, )*
            $( $(#[doc = $doc])+ pub $field: u64, )*
        }

        #[doc = concat!("The counted fields of [`", stringify!($Snap), "`], as cells only their thread touches.")]
        #[derive(Debug, Default)]
        pub(crate) struct $Cells {
            $( pub(crate) $field: Cell<u64>, )*
        }

        impl $Cells {
            /// The counted fields now; the computed ones zero.
            pub(crate) fn snapshot(&self) -> $Snap {
                $Snap {
                    $( $field: self.$field.get(), )*
                    ..$Snap::default()
                }
            }
        }

        #[doc = concat!("The Prometheus families of [`", stringify!($Snap), "`].")]
        pub(crate) const $FAMILIES: &[Family<$Snap>] = &[
            $( Family { name: $cfamily, kind: stringify!($ckind), help: concat!($($cdoc),+), value: |s| s.$cfield }, )*
            $( Family { name: $family, kind: stringify!($kind), help: concat!($($doc),+), value: |s| s.$field }, )*
        ];
    };
}

counters! {
    /// Counters of one loop, as [`EventLoop::stats`](crate::EventLoop::stats)
    /// reports them. On the metrics endpoint, labelled by shard; the
    /// connection counts and bytes are exported per listener instead
    /// ([`ListenerStats`]).
    pub struct ShardStats, cells ShardCells, families SHARD_FAMILIES {
        computed {
            /// Connections alive now.
            active: gauge "",
        }
        counted {
            /// Connections accepted by its servers (or handed to it by the
            /// acceptor).
            accepted: counter "",
            /// Connections whose `connection_lost` was delivered.
            closed: counter "",
            /// Bytes received.
            bytes_in: counter "",
            /// Bytes handed to the kernel.
            bytes_out: counter "",
            /// `pause_writing` calls delivered.
            pause_writing: counter "shardloop_pause_writing_total",
            /// Times a listener of this loop backed off for lack of
            /// descriptors.
            accept_backoffs: counter "shardloop_accept_backoffs_total",
            /// TLS handshakes that failed or timed out after the peer sent
            /// something (never seen by a protocol).
            tls_handshake_failures: counter "shardloop_tls_handshake_failures_total",
            /// Server-side TLS connections that ended before the client sent
            /// a byte: plain
            /// TCP health checks and port scans, not failed handshakes.
            tls_silent_closes: counter "shardloop_tls_silent_closes_total",
            /// Cross-shard tasks this shard ran: requests of
            /// [`EventLoop::call_on`](crate::EventLoop::call_on) made by other
            /// shards, and the replies to its own.
            cross_shard_calls: counter "shardloop_cross_shard_tasks_total",
            /// The batches they came in: one mailbox message (at most one
            /// wake-up) each.
            cross_shard_batches: counter "shardloop_cross_shard_batches_total",
        }
    }
}

counters! {
    /// One shard's counters of one runtime listener, as
    /// [`EventLoop::listener_stats`](crate::EventLoop::listener_stats)
    /// reports them. On the metrics endpoint, labelled by listener and
    /// shard.
    pub struct ListenerStats, cells ListenerCells, families LISTENER_FAMILIES {
        computed {}
        counted {
            /// Connections accepted.
            accepted: counter "shardloop_connections_accepted_total",
            /// Connections alive now.
            active: gauge "shardloop_connections_active",
            /// Connections closed.
            closed: counter "shardloop_connections_closed_total",
            /// Bytes received.
            bytes_in: counter "shardloop_received_bytes_total",
            /// Bytes handed to the kernel.
            bytes_out: counter "shardloop_sent_bytes_total",
        }
    }
}

/// Adds `n` to a counter cell (wrapping: a counter never panics).
#[inline]
pub(crate) fn add(cell: &Cell<u64>, n: u64) {
    cell.set(cell.get().wrapping_add(n));
}

/// Takes `n` from a gauge cell.
#[inline]
pub(crate) fn sub(cell: &Cell<u64>, n: u64) {
    cell.set(cell.get().wrapping_sub(n));
}

impl ListenerStats {
    pub(crate) fn add_bytes(&mut self, bytes_in: u64, bytes_out: u64) {
        self.bytes_in = self.bytes_in.wrapping_add(bytes_in);
        self.bytes_out = self.bytes_out.wrapping_add(bytes_out);
    }
}

/// Live connections over the whole runtime, and who to wake at the cap.
#[derive(Debug, Default)]
pub(crate) struct RuntimeGauges {
    pub(crate) live: AtomicUsize,
    /// Times the acceptor backed off for lack of descriptors.
    pub(crate) acceptor_backoffs: AtomicUsize,
    /// Configuration reloads applied and refused.
    pub(crate) reloads_applied: AtomicUsize,
    pub(crate) reloads_failed: AtomicUsize,
    pub(crate) cap: usize,
    pub(crate) acceptor: OnceLock<Arc<mio::Waker>>,
}

impl RuntimeGauges {
    pub(crate) fn at_cap(&self) -> bool {
        self.cap > 0 && self.live.load(Ordering::Acquire) >= self.cap
    }
}

/// Counters a connection keeps up to date: its shard's live count and the
/// runtime's. Counted up by the acceptor at hand-off (so its choices see
/// every connection it sent), or by the shard for `reuseport` listeners.
#[derive(Debug, Clone)]
pub(crate) struct Gauges {
    pub(crate) shard: Arc<AtomicUsize>,
    pub(crate) runtime: Arc<RuntimeGauges>,
    pub(crate) counted_at_accept: bool,
    /// The runtime listener the connection came from.
    pub(crate) listener: u64,
}

impl Gauges {
    pub(crate) fn opened(&self) {
        if !self.counted_at_accept {
            self.shard.fetch_add(1, Ordering::AcqRel);
            self.runtime.live.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub(crate) fn closed(&self) {
        self.shard.fetch_sub(1, Ordering::AcqRel);
        let before = self.runtime.live.fetch_sub(1, Ordering::AcqRel);
        if self.runtime.cap > 0 && before >= self.runtime.cap {
            // The acceptor may be waiting at the cap: let it accept again.
            if let Some(w) = self.runtime.acceptor.get() {
                let _ = w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_reads_its_own_field_and_has_help() {
        let cells = ShardCells::default();
        add(&cells.pause_writing, 3);
        add(&cells.cross_shard_batches, 5);
        let snap = cells.snapshot();
        let read = |name: &str| {
            SHARD_FAMILIES
                .iter()
                .find(|f| f.name == name)
                .map(|f| (f.value)(&snap))
        };
        assert_eq!(read("shardloop_pause_writing_total"), Some(3));
        assert_eq!(read("shardloop_cross_shard_batches_total"), Some(5));
        for f in SHARD_FAMILIES {
            assert!(!f.help().is_empty() && !f.help().contains("  "));
            assert!(f.name.is_empty() || f.kind != "counter" || f.name.ends_with("_total"));
        }
        for f in LISTENER_FAMILIES {
            assert!(!f.help().is_empty());
            assert!(
                f.kind != "counter" || f.name.ends_with("_total"),
                "{}",
                f.name
            );
        }
    }
}
