//! `shardloop`: runs the services a TOML configuration names, on the
//! thread-per-core runtime.
//!
//! * `shardloop` or `shardloop serve` — the embedded default configuration
//!   (echo on 127.0.0.1:8888);
//! * `shardloop serve CONFIG` — the listeners of CONFIG;
//! * `shardloop check [CONFIG]` — validate and print the effective
//!   configuration (the embedded default without CONFIG), binding nothing.
//!
//! `--log-level LEVEL` overrides `RUST_LOG`, which overrides the
//! configuration's `[log] level`.
//!
//! SIGINT or SIGTERM shuts down gracefully: stop accepting, flush and close
//! every connection (lingering closes included), wait up to `drain_timeout`,
//! abort the rest, exit 0. A second SIGINT or SIGTERM aborts at once and
//! exits 1. SIGHUP is logged and survived.

mod discard;
mod echo;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use shardloop::config::{
    Config, ListenAddress, ListenProtocol, ListenerConfig, LogFormat, ShardCount,
};
use shardloop::runtime::available_cores;
use shardloop::{DatagramOptions, Protocol, Runtime, RuntimeConfig};
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
    /// Log level, overriding RUST_LOG and the configuration's `[log] level`
    /// (trace, debug, info, warn, error, off, or a tracing filter).
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
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
    /// Validate a configuration (the embedded default when none is given)
    /// and print the effective settings as TOML; binds nothing.
    Check {
        /// The TOML configuration file.
        config: Option<PathBuf>,
    },
}

/// The configuration at `path`, or the embedded default.
fn load(path: Option<&PathBuf>) -> Result<Config, shardloop::config::ConfigError> {
    match path {
        Some(path) => Config::from_file(path, APPS),
        None => Config::parse(DEFAULT_CONFIG, "(embedded default config)", APPS),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve { config: None }) {
        Command::Check { config } => match load(config.as_ref()) {
            Ok(c) => {
                let origin = config.as_ref().map_or_else(
                    || "the embedded default configuration".to_string(),
                    |p| p.display().to_string(),
                );
                // A closed pipe (`| head -1`) ends the output quietly.
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{c}").and_then(|()| writeln!(out, "# {origin}: valid"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve { config } => {
            let config = match load(config.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) = init_logging(&config, cli.log_level.as_deref()) {
                eprintln!("error: --log-level: {e}");
                return ExitCode::from(2);
            }
            match serve(&config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // Logging is set up: the error goes out once, there.
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Logs to stderr at the level `--log-level` gives, else `RUST_LOG`, else
/// the configuration's.
fn init_logging(config: &Config, flag: Option<&str>) -> anyhow::Result<()> {
    let filter = match flag {
        Some(level) => tracing_subscriber::EnvFilter::try_new(level)?,
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log_level))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_thread_names(true);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
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

    // Bind everything, then serve: a bind error stops the server before it
    // accepted anything.
    rt.hold_serving();
    for l in &config.listeners {
        rt.name_next_listener(&l.name);
        let bound = listen(&mut rt, l).with_context(|| format!("listener \"{}\"", l.name))?;
        tracing::info!(
            listener = %l.name,
            address = %bound,
            app = %l.app,
            shards,
            distribution = %l.distribution,
            "listening"
        );
    }
    if let Some(addr) = config.metrics {
        let bound = rt
            .serve_metrics(addr)
            .with_context(|| format!("metrics.address ({addr})"))?;
        tracing::info!(address = %bound, "metrics on http://{bound}/metrics");
    }
    rt.serve_held().context("cannot start serving")?;

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
fn listen(rt: &mut Runtime, l: &ListenerConfig) -> anyhow::Result<String> {
    Ok(match (&l.address, l.protocol, l.app.as_str()) {
        (ListenAddress::Inet(addr), ListenProtocol::Udp, app) => {
            let mut options = DatagramOptions::default();
            options.recv_buffer = Some(l.udp_recv_buffer);
            options.send_buffer = Some(l.udp_send_buffer);
            let bound = match app {
                "echo" => rt.listen_udp_with(*addr, options, echo::UdpEcho::default),
                "discard" => rt.listen_udp_with(*addr, options, discard::UdpDiscard::default),
                other => bail!("unknown app \"{other}\""),
            }?;
            format!("udp:{bound}")
        }
        (_, _, "echo") => listen_stream(rt, l, echo::Echo::default)?,
        (_, _, "discard") => listen_stream(rt, l, discard::Discard::default)?,
        (_, _, other) => bail!("unknown app \"{other}\""),
    })
}

/// Binds one stream (TCP, TLS or Unix) listener.
fn listen_stream<P: Protocol>(
    rt: &mut Runtime,
    l: &ListenerConfig,
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
