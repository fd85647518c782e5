//! `shardloop`: runs the services a TOML configuration names, on the
//! thread-per-core runtime.
//!
//! * `shardloop` or `shardloop serve` — the embedded default configuration
//!   (echo on 127.0.0.1:8888);
//! * `shardloop serve CONFIG` — the listeners of CONFIG;
//! * `shardloop check CONFIG` — validate and print the effective
//!   configuration, binding nothing.
//!
//! SIGINT or SIGTERM shuts down gracefully: stop accepting, flush and close
//! every connection, wait up to `drain_timeout`, abort the rest, exit 0.

mod discard;
mod echo;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use shardloop::config::{Config, ListenAddress, ListenProtocol, LogFormat, ShardCount};
use shardloop::runtime::available_cores;
use shardloop::{Protocol, Runtime, RuntimeConfig};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The configuration served when none is given.
const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");

/// Applications a listener can name.
const APPS: &[&str] = &["echo", "discard"];

#[derive(Parser)]
#[command(
    name = "shardloop",
    version,
    about = "Run shardloop services from a TOML configuration"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the listeners a configuration names (the embedded default when
    /// none is given).
    Serve {
        /// The TOML configuration file.
        config: Option<PathBuf>,
    },
    /// Validate a configuration and print the effective settings; binds
    /// nothing.
    Check {
        /// The TOML configuration file.
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { config: None }) {
        Command::Check { config } => match Config::from_file(&config, APPS) {
            Ok(c) => {
                print!("{c}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve { config } => {
            let loaded = match &config {
                Some(path) => Config::from_file(path, APPS),
                None => Config::parse(DEFAULT_CONFIG, "(embedded default config)", APPS),
            };
            let config = match loaded {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&config);
            match serve(&config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log_level);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_thread_names(true);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(config: &Config) -> anyhow::Result<()> {
    // Before anything binds, so an early signal is a graceful stop too.
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;

    let mut rc = RuntimeConfig::default();
    rc.shards = match config.shards {
        ShardCount::Auto => available_cores().len().max(1),
        ShardCount::Count(n) => n,
    };
    rc.pin_cores = config.pin_cores;
    rc.max_connections = config.max_connections;
    rc.loop_config.write_buffer_high = config.write_buffer_high;
    rc.loop_config.write_buffer_low = config.write_buffer_low;
    rc.loop_config.idle_timeout = config.idle_timeout;
    rc.loop_config.udp_batch = config.udp_batch;
    let shards = rc.shards;
    let mut rt = Runtime::start(rc).context("cannot start the shards")?;

    for l in &config.listeners {
        let bound = match (l.protocol, &l.address, l.app.as_str()) {
            (ListenProtocol::Udp, ListenAddress::Inet(addr), app) => match app {
                "echo" => rt.listen_udp(*addr, echo::UdpEcho::default),
                "discard" => rt.listen_udp(*addr, discard::UdpDiscard::default),
                other => bail!("listener {:?}: unknown app {other:?}", l.name),
            }
            .map(|a| format!("udp:{a}"))
            .map_err(anyhow::Error::from),
            (_, _, "echo") => listen(&mut rt, l, echo::Echo::default),
            (_, _, "discard") => listen(&mut rt, l, discard::Discard::default),
            (_, _, other) => bail!("listener {:?}: unknown app {other:?}", l.name),
        }
        .with_context(|| format!("listener {:?}", l.name))?;
        tracing::info!(
            listener = %l.name,
            address = %bound,
            app = %l.app,
            shards,
            distribution = ?l.distribution,
            "listening"
        );
    }

    if let Some(addr) = config.metrics {
        let bound = rt
            .serve_metrics(addr)
            .with_context(|| format!("metrics.address ({addr})"))?;
        tracing::info!(address = %bound, "metrics on http://{bound}/metrics");
    }

    let first = wait_for_stop(&mut signals);
    tracing::info!(
        signal = signal_name(first),
        drain_timeout = %humantime::format_duration(config.drain_timeout),
        "shutting down: no new connections, draining the open ones"
    );
    drain(rt, config.drain_timeout, signals)
}

/// Waits for SIGINT or SIGTERM. SIGHUP (a closed terminal or ssh session
/// sends it) is logged and survived.
fn wait_for_stop(signals: &mut Signals) -> i32 {
    for signal in signals.forever() {
        if signal == SIGHUP {
            tracing::warn!(
                "SIGHUP received: configuration reload is not supported yet; carrying on"
            );
            continue;
        }
        return signal;
    }
    SIGTERM
}

/// Drains the runtime on another thread while this one keeps listening: a
/// second SIGINT or SIGTERM cuts the drain short (what is still open is
/// aborted) and the exit is non-zero.
fn drain(rt: Runtime, timeout: std::time::Duration, mut signals: Signals) -> anyhow::Result<()> {
    let cutter = rt.drain_cutter();
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("drain".into())
        .spawn(move || {
            let _ = done_tx.send(rt.shutdown(timeout));
        })
        .context("cannot start the drain")?;
    let (sig_tx, sig_rx) = crossbeam_channel::unbounded();
    let forwarder = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if sig_tx.send(signal).is_err() {
                    break;
                }
            }
        })
        .context("cannot watch signals during the drain")?;
    let mut cut_by = None;
    let report = loop {
        crossbeam_channel::select! {
            recv(done_rx) -> r => break r.context("the drain thread died")?,
            recv(sig_rx) -> s => match s {
                Ok(SIGHUP) => tracing::warn!("SIGHUP received during the drain; carrying on"),
                Ok(signal) if cut_by.is_none() => {
                    tracing::warn!(signal = signal_name(signal), "second stop signal: aborting the connections still open");
                    cut_by = Some(signal);
                    cutter.cut();
                }
                _ => {}
            },
        }
    };
    forwarder.close();
    let report = report.context("shutdown")?;
    if let Some(signal) = cut_by {
        bail!(
            "the drain was cut short by a second {}: {} of {} connections aborted",
            signal_name(signal),
            report.aborted,
            report.waited
        );
    }
    tracing::info!("stopped");
    Ok(())
}

fn signal_name(signal: i32) -> &'static str {
    signal_hook::low_level::signal_name(signal).unwrap_or("signal")
}

/// Binds one listener; returns the address as bound (port 0 resolved).
fn listen<P: Protocol>(
    rt: &mut Runtime,
    l: &shardloop::config::ListenerConfig,
    factory: fn() -> P,
) -> anyhow::Result<String> {
    Ok(match &l.address {
        ListenAddress::Inet(addr) if l.protocol == ListenProtocol::Tls => {
            let settings = l
                .tls
                .as_ref()
                .context("a TLS listener without [listener.tls]")?;
            let tls = settings.server_config()?;
            rt.listen_tls(*addr, l.distribution, l.backlog, tls, factory)
                .map(|a| format!("tls:{a}"))?
        }
        ListenAddress::Inet(addr) => rt
            .listen(*addr, l.distribution, l.backlog, factory)
            .map(|a| a.to_string())?,
        ListenAddress::Unix(path) => rt
            .listen_unix(path, l.distribution, l.backlog, factory)
            .map(|()| format!("unix:{}", path.display()))?,
    })
}
