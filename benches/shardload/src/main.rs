//! `shardload`: a load generator for echo-style services, built on
//! shardloop's own client side — one shard (an [`EventLoop`] on its own
//! thread) per core, `--connections` spread over them.
//!
//! Closed loop: each connection keeps `--pipeline` requests in flight.
//! Open loop (`--rate`): requests leave at their intended times and latency
//! counts from those times, so a stalled server cannot hide its stall
//! (no coordinated omission). Every response is checked byte for byte; a
//! mismatch or a dropped connection fails the run. With `--server-pid`, the
//! server's CPU time and context switches over the measured window are
//! divided by the requests completed in it.

mod churn;
mod proc_stat;
mod stats;
mod tcp;
mod udp;
mod workload;

use std::cell::Cell;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use serde::Serialize;
use shardloop::{DatagramOptions, EventLoop, LoopHandle, TlsClientConfig};

use stats::{micros, Recorder, Tally};
use workload::{Echo, Workload};

/// What the load speaks. Modes are named `<transport>-<workload>`; only
/// echo exists so far, RESP and HTTP would join it.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// TCP echo (RFC 862).
    TcpEcho,
    /// UDP echo: one connected endpoint per connection.
    UdpEcho,
    /// TCP echo over TLS (`--ca`, `--server-name`).
    TlsEcho,
    /// Redis protocol, memtier-style: SET and GET in `--ratio` on keys of
    /// `--key-range` (`--key-pattern`), values of `--size` bytes; every
    /// reply checked.
    Resp,
    /// HTTP/1.1 keep-alive GETs of `--path` (pipelined with `--pipeline`,
    /// constant rate with `--rate`, latency from intended send times as
    /// wrk2 does); every response parsed and checked (status 200, the
    /// body of /plaintext and /json).
    Http,
}

/// How RESP keys are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum KeyPattern {
    /// Each connection walks the range in order.
    Sequential,
    /// Uniformly at random (a fixed sequence per connection).
    Random,
}

#[derive(Debug, Parser)]
#[command(
    name = "shardload",
    version,
    about = "Load generator for shardloop services"
)]
struct Args {
    /// What to speak.
    #[arg(long, value_enum, default_value = "tcp-echo")]
    mode: Mode,
    /// The server.
    #[arg(long, default_value = "127.0.0.1:8888")]
    addr: SocketAddr,
    /// Connections (UDP: endpoints), spread over the shards.
    #[arg(short, long, default_value_t = 50)]
    connections: usize,
    /// Closed loop: requests in flight per connection.
    #[arg(short, long, default_value_t = 1)]
    pipeline: usize,
    /// Bytes per request.
    #[arg(short, long, default_value_t = 64)]
    size: usize,
    /// Open loop: requests per second over all connections.
    #[arg(long)]
    rate: Option<f64>,
    /// How long to measure, after the warm-up (e.g. 10s, 500ms).
    #[arg(short, long, value_parser = humantime::parse_duration, default_value = "10s")]
    duration: Duration,
    /// Stop after this many measured requests instead of after --duration.
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Load applied before measuring starts; discarded.
    #[arg(short, long, value_parser = humantime::parse_duration, default_value = "2s")]
    warmup: Duration,
    /// tls-echo: the CA file to verify the server against.
    #[arg(long, default_value = "config/tls/cert.pem")]
    ca: std::path::PathBuf,
    /// tls-echo: the name to send in SNI and verify.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Connection churn (tcp-echo only): every connection sends one request
    /// and closes; `--connections` clients do so in a loop.
    #[arg(long, conflicts_with_all = ["rate", "idle"])]
    churn: bool,
    /// Open the connections and hold them idle for warm-up plus duration,
    /// sending nothing (to measure the server's memory per connection).
    #[arg(long, conflicts_with = "rate")]
    idle: bool,
    /// resp: SETs to GETs, e.g. 1:10.
    #[arg(long, default_value = "1:10")]
    ratio: String,
    /// resp: how many distinct keys.
    #[arg(long, default_value_t = 10_000)]
    key_range: u64,
    /// resp: how keys are drawn.
    #[arg(long, value_enum, default_value = "random")]
    key_pattern: KeyPattern,
    /// http: the path to GET.
    #[arg(long, default_value = "/plaintext")]
    path: String,
    /// Client shards (threads with one event loop each).
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// The server's process id: report its CPU time and context switches
    /// per request over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// The end of the run, as every client of one shard sees it.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    /// Set once the shard stops: losses after it are the run's own doing.
    pub stopping: Rc<Cell<bool>>,
}

impl Shared {
    /// Ends the shard's run.
    pub fn stop(&self, lp: &LoopHandle) {
        self.stopping.set(true);
        lp.stop();
    }
}

/// The figures of a run, as `--json` prints them.
#[derive(Debug, Serialize)]
struct Report {
    mode: Mode,
    addr: SocketAddr,
    connections: usize,
    pipeline: usize,
    size: usize,
    rate: Option<f64>,
    churn: bool,
    shards: usize,
    seconds: f64,
    requests: u64,
    /// Requests completed in the whole run, warm-up included.
    requests_total: u64,
    requests_per_sec: f64,
    latency_us: Latency,
    mismatches: u64,
    dropped: u64,
    lost: u64,
    server_cpu_us_per_request: Option<f64>,
    server_ctx_switches_per_request: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report).expect("serialisable"));
            } else {
                print_table(&report);
            }
            if report.mismatches > 0 || report.dropped > 0 {
                eprintln!(
                    "error: {} mismatched responses, {} dropped connections",
                    report.mismatches, report.dropped
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<Report> {
    if args.connections == 0 || args.shards == 0 || args.size == 0 {
        bail!("--connections, --shards and --size must be at least 1");
    }
    if args.mode == Mode::UdpEcho && !(8..=65_507).contains(&args.size) {
        bail!("udp-echo needs --size between 8 (the sequence tag) and 65507");
    }
    if let Some(rate) = args.rate {
        if !(rate > 0.0 && rate.is_finite()) {
            bail!("--rate must be a positive number of requests per second");
        }
    }
    if (args.churn || args.idle) && args.mode != Mode::TcpEcho {
        bail!("--churn and --idle need --mode tcp-echo");
    }
    let shards = args.shards.min(args.connections);
    let tls = match args.mode {
        Mode::TlsEcho => Some(
            TlsClientConfig::builder()
                .ca_file(&args.ca)
                .build()
                .context("tls-echo")?,
        ),
        _ => None,
    };
    let workload: Arc<dyn Workload> = match args.mode {
        Mode::Resp => {
            let (sets, gets) = args
                .ratio
                .split_once(':')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .filter(|(a, b): &(u64, u64)| a + b > 0)
                .context("--ratio is SETS:GETS, e.g. 1:10")?;
            Arc::new(workload::Resp {
                sets,
                gets,
                key_range: args.key_range.max(1),
                random: args.key_pattern == KeyPattern::Random,
                value_size: args.size,
                salt: 0,
            })
        }
        Mode::Http => Arc::new(workload::Http::get(&args.path, &args.addr.to_string())),
        _ => Arc::new(Echo { size: args.size }),
    };
    if args.churn {
        let measure_from = Instant::now() + args.warmup;
        let end = measure_from + args.duration;
        let before = std::thread::spawn({
            let pid = args.server_pid;
            move || -> anyhow::Result<Option<proc_stat::Sample>> {
                std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
                pid.map(proc_stat::sample).transpose()
            }
        });
        let total = churn::run(args.addr, args.connections, workload, measure_from, end)?;
        let after = args.server_pid.map(proc_stat::sample).transpose()?;
        let before = before
            .join()
            .map_err(|_| anyhow::anyhow!("sampler panicked"))??;
        return Ok(report(
            args,
            1,
            args.duration.as_secs_f64(),
            &total,
            before,
            after,
        ));
    }
    let ready = Arc::new(Barrier::new(shards + 1));
    let mut threads = Vec::new();
    for k in 0..shards {
        let conns = args.connections / shards + usize::from(k < args.connections % shards);
        let plan = ShardPlan {
            mode: args.mode,
            addr: args.addr,
            connections: conns,
            pipeline: args.pipeline,
            interval: args
                .rate
                .map(|r| Duration::from_secs_f64(args.connections as f64 / r)),
            warmup: args.warmup,
            duration: args.duration,
            tls: tls.clone(),
            server_name: args.server_name.clone(),
            idle: args.idle,
            quota: args
                .requests
                .map(|n| n / shards as u64 + u64::from((k as u64) < n % shards as u64)),
        };
        let (workload, ready) = (Arc::clone(&workload), Arc::clone(&ready));
        let thread = std::thread::Builder::new()
            .name(format!("load-{k}"))
            .spawn(move || plan.run(workload, &ready))
            .context("cannot start a load shard")?;
        threads.push(thread);
    }
    ready.wait();
    let measure_from = Instant::now() + args.warmup;
    let bar = progress(args);
    std::thread::sleep(args.warmup);
    let before = args.server_pid.map(proc_stat::sample).transpose()?;
    while let Some(bar) = &bar {
        if threads.iter().all(|t| t.is_finished()) {
            bar.finish_and_clear();
            break;
        }
        bar.set_position(measure_from.elapsed().as_millis() as u64);
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut total = Tally::default();
    let mut finished = measure_from;
    for t in threads {
        let (tally, end) = t
            .join()
            .map_err(|_| anyhow::anyhow!("a load shard panicked"))??;
        total.merge(&tally);
        finished = finished.max(end);
    }
    let after = args.server_pid.map(proc_stat::sample).transpose()?;
    let seconds = finished
        .saturating_duration_since(measure_from)
        .as_secs_f64();
    Ok(report(args, shards, seconds, &total, before, after))
}

/// A progress bar over the measured window, when stdout is a terminal and
/// the run has a fixed duration; none otherwise (scripts, `--json`).
fn progress(args: &Args) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || args.json || args.requests.is_some() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(args.duration.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("{:?} {}", args.mode, args.addr));
    Some(bar)
}

/// The figures of a run, from its tally and the server samples around it.
fn report(
    args: &Args,
    shards: usize,
    seconds: f64,
    total: &Tally,
    before: Option<proc_stat::Sample>,
    after: Option<proc_stat::Sample>,
) -> Report {
    let per_request = |f: fn(&proc_stat::Sample) -> f64| match (&before, &after) {
        (Some(b), Some(a)) if total.completed > 0 => Some((f(a) - f(b)) / total.completed as f64),
        _ => None,
    };
    let h = &total.latency;
    Report {
        mode: args.mode,
        addr: args.addr,
        connections: args.connections,
        pipeline: args.pipeline,
        size: args.size,
        rate: args.rate,
        churn: args.churn,
        shards,
        seconds,
        requests: total.completed,
        requests_total: total.completed_total,
        requests_per_sec: if seconds > 0.0 {
            total.completed as f64 / seconds
        } else {
            0.0
        },
        latency_us: Latency {
            p50: micros(h.value_at_quantile(0.5)),
            p90: micros(h.value_at_quantile(0.9)),
            p99: micros(h.value_at_quantile(0.99)),
            p999: micros(h.value_at_quantile(0.999)),
            max: micros(h.max()),
        },
        mismatches: total.mismatches,
        dropped: total.dropped,
        lost: total.lost,
        server_cpu_us_per_request: per_request(|s| s.cpu_us),
        server_ctx_switches_per_request: per_request(|s| s.ctx_switches),
    }
}

/// What one load shard does.
struct ShardPlan {
    mode: Mode,
    addr: SocketAddr,
    connections: usize,
    pipeline: usize,
    interval: Option<Duration>,
    warmup: Duration,
    duration: Duration,
    tls: Option<TlsClientConfig>,
    server_name: String,
    idle: bool,
    quota: Option<u64>,
}

impl ShardPlan {
    /// Connects, waits for every shard, then loads until the duration ends
    /// or the quota is met. Returns the tally and when it stopped.
    fn run(self, workload: Arc<dyn Workload>, ready: &Barrier) -> anyhow::Result<(Tally, Instant)> {
        let mut lp = EventLoop::new()?;
        let shared = Shared::default();
        // Nothing counts until every shard is connected and warmed up.
        let rec = Recorder {
            measure_from: Rc::new(Cell::new(Instant::now() + Duration::from_secs(86_400))),
            quota: self.quota,
            tally: Default::default(),
        };
        let connected = (|| -> anyhow::Result<()> {
            for _ in 0..self.connections {
                let (w, r, s) = (Arc::clone(&workload), rec.clone(), shared.clone());
                let (pipeline, interval) = (self.pipeline, self.interval);
                match self.mode {
                    Mode::TcpEcho if self.idle => {
                        lp.create_connection(|| tcp::IdleClient::new(r, s), self.addr)
                    }
                    Mode::TcpEcho | Mode::Resp | Mode::Http => lp.create_connection(
                        || tcp::TcpClient::new(w, r, s, pipeline, interval),
                        self.addr,
                    ),
                    Mode::TlsEcho => lp.create_tls_connection(
                        || tcp::TcpClient::new(w, r, s, pipeline, interval),
                        self.addr,
                        self.tls.as_ref().expect("tls-echo has a TLS config"),
                        &self.server_name,
                    ),
                    Mode::UdpEcho => lp.create_datagram_endpoint(
                        || udp::UdpClient::new(w, r, s, pipeline, interval),
                        None,
                        Some(self.addr),
                        DatagramOptions::default(),
                    ),
                }
                .with_context(|| format!("cannot connect to {}", self.addr))?;
            }
            Ok(())
        })();
        ready.wait();
        connected?;
        let measure_from = Instant::now() + self.warmup;
        rec.measure_from.set(measure_from);
        if self.quota.is_none() {
            let s = shared.clone();
            lp.call_at(measure_from + self.duration, move |lp| s.stop(lp.handle()));
        }
        lp.run_forever()?;
        shared.stopping.set(true);
        let end = Instant::now();
        let tally = std::mem::take(&mut *rec.tally.borrow_mut());
        Ok((tally, end))
    }
}

fn print_table(r: &Report) {
    println!(
        "{:?} {} | {} conns x pipeline {} | {} B | {} shards | {:.2} s",
        r.mode, r.addr, r.connections, r.pipeline, r.size, r.shards, r.seconds
    );
    println!("requests      {:>12}", r.requests);
    println!("requests/s    {:>12.0}", r.requests_per_sec);
    let l = &r.latency_us;
    println!(
        "latency µs    p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        l.p50, l.p90, l.p99, l.p999, l.max
    );
    if let Some(cpu) = r.server_cpu_us_per_request {
        println!("server CPU µs/request   {cpu:.3}");
    }
    if let Some(cs) = r.server_ctx_switches_per_request {
        println!("server ctx switches/req {cs:.4}");
    }
    println!(
        "mismatches {}  dropped {}  lost {}",
        r.mismatches, r.dropped, r.lost
    );
}
