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
use signal_hook::consts::{SIGINT, SIGTERM};
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
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;

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

    let signal = signals.forever().next();
    tracing::info!(?signal, drain_timeout = ?config.drain_timeout, "shutting down");
    rt.shutdown(config.drain_timeout).context("shutdown")?;
    tracing::info!("stopped");
    Ok(())
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
