//! The metrics endpoint: Prometheus text format over HTTP, served by an
//! event loop of its own (`admin.rs`).
//!
//! It is not a listener of the shards on purpose: it must stay reachable
//! when the server is at `max_connections` or backing off for lack of
//! descriptors (exactly when an operator looks), one slow scraper must not
//! cost a shard anything, and scrapes must not count as the listeners'
//! traffic. A scrape asks every shard for a snapshot through its mailbox
//! and waits for the answers with a deadline; a shard that does not answer
//! in time makes the scrape fail with 503 rather than hang.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::shard::{EventLoop, ShardHandle};
use crate::stats::RuntimeGauges;
use crate::stats::{ListenerStats, ShardStats, LISTENER_FAMILIES, SHARD_FAMILIES};

/// The `listener` label of each runtime listener, by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names(Arc<Mutex<Vec<(u64, String)>>>);

impl Names {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Vec<(u64, String)>> {
        self.0.lock()
    }

    pub(crate) fn name(&self, id: u64) -> String {
        self.lock()
            .iter()
            .find(|(i, _)| *i == id)
            .map_or_else(|| id.to_string(), |(_, n)| n.clone())
    }
}

/// What a scrape reads.
pub(super) struct Source {
    pub(super) shards: Vec<ShardHandle>,
    pub(super) gauges: Arc<RuntimeGauges>,
    pub(super) names: Names,
    /// Set when the drain starts: `/ready` answers 503 from then on.
    pub(super) draining: Arc<AtomicBool>,
    /// Set once every listener serves (`serve_held`, or the first listener
    /// served directly).
    pub(super) serving: Arc<AtomicBool>,
}

/// One shard's answer.
pub(super) struct Snapshot {
    shard: ShardStats,
    listeners: Vec<(u64, ListenerStats)>,
    /// The registered app metrics, in registration order.
    apps: Vec<u64>,
}

/// A per-shard metric an app exposes on the metrics endpoint: `read` runs
/// on each shard's own thread at every scrape (so it can read the shard's
/// thread-local state) and the family is labelled by shard.
#[derive(Debug, Clone, Copy)]
pub struct ShardMetric {
    /// The family name, e.g. `shardloop_kv_keys` (a counter ends in
    /// `_total`).
    pub name: &'static str,
    /// Its help text.
    pub help: &'static str,
    /// `"counter"` or `"gauge"`.
    pub kind: &'static str,
    /// Reads the value on the calling shard.
    pub read: fn() -> u64,
}

static APP_METRICS: Mutex<Vec<ShardMetric>> = Mutex::new(Vec::new());

/// Adds `metric` to every metrics endpoint of this process (once per name;
/// a second registration of a name is ignored).
pub fn register_shard_metric(metric: ShardMetric) {
    let mut all = APP_METRICS.lock();
    if !all.iter().any(|m| m.name == metric.name) {
        all.push(metric);
    }
}

fn app_metrics() -> Vec<ShardMetric> {
    APP_METRICS.lock().clone()
}

/// This shard's snapshot (runs on the shard's own thread).
pub(super) fn snapshot(lp: &mut EventLoop) -> Snapshot {
    Snapshot {
        shard: lp.stats(),
        listeners: lp.listener_stats(),
        apps: app_metrics().iter().map(|m| (m.read)()).collect(),
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value, escaped as the text format asks.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition.
pub(super) fn render(snapshots: &[Snapshot], source: &Source) -> String {
    let mut out = String::new();
    for f in LISTENER_FAMILIES.iter().filter(|f| !f.name.is_empty()) {
        header(&mut out, f.name, f.kind, &f.help());
        for (k, snap) in snapshots.iter().enumerate() {
            for (id, stats) in &snap.listeners {
                let name = label(&source.names.name(*id));
                let _ = writeln!(
                    out,
                    "{}{{listener=\"{name}\",shard=\"{k}\"}} {}",
                    f.name,
                    (f.value)(stats)
                );
            }
        }
    }
    for f in SHARD_FAMILIES.iter().filter(|f| !f.name.is_empty()) {
        header(&mut out, f.name, f.kind, &f.help());
        for (k, snap) in snapshots.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}{{shard=\"{k}\"}} {}",
                f.name,
                (f.value)(&snap.shard)
            );
        }
        if f.name == "shardloop_accept_backoffs_total" {
            let n = source.gauges.acceptor_backoffs.load(Ordering::Relaxed);
            let _ = writeln!(out, "{}{{shard=\"acceptor\"}} {n}", f.name);
        }
    }
    header(
        &mut out,
        "shardloop_config_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP), applied or refused.",
    );
    for (result, n) in [
        ("applied", &source.gauges.reloads_applied),
        ("failed", &source.gauges.reloads_failed),
    ] {
        let _ = writeln!(
            out,
            "shardloop_config_reloads_total{{result=\"{result}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    for (i, m) in app_metrics().iter().enumerate() {
        header(&mut out, m.name, m.kind, m.help);
        for (k, snap) in snapshots.iter().enumerate() {
            if let Some(v) = snap.apps.get(i) {
                let _ = writeln!(out, "{}{{shard=\"{k}\"}} {v}", m.name);
            }
        }
    }
    header(
        &mut out,
        "shardloop_build_info",
        "gauge",
        "The shardloop version serving, as a label; always 1.",
    );
    let _ = writeln!(
        out,
        "shardloop_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    process_metrics(&mut out);
    out
}

/// One unlabelled sample with its HELP and TYPE lines.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// The standard `process_*` metrics of the Prometheus client libraries,
/// from `/proc/self`.
fn process_metrics(out: &mut String) {
    let Ok(me) = procfs::process::Process::myself() else {
        return;
    };
    if let Ok(stat) = me.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        if let Ok(boot) = procfs::boot_time_secs() {
            let start = boot as f64 + stat.starttime as f64 / ticks;
            single(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                format!("{start:.2}"),
            );
        }
        let cpu = (stat.utime + stat.stime) as f64 / ticks;
        single(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            format!("{cpu:.2}"),
        );
        single(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            stat.rss * procfs::page_size(),
        );
        single(
            out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            stat.vsize,
        );
    }
    if let Ok(n) = me.fd_count() {
        single(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            n,
        );
    }
    if let Ok(limits) = me.limits() {
        let max = match limits.max_open_files.soft_limit {
            procfs::process::LimitValue::Value(n) => n as f64,
            procfs::process::LimitValue::Unlimited => f64::INFINITY,
        };
        single(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
}
