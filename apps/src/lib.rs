//! The applications bundled with shardloop, one folder each (its protocol
//! logic, its [`Protocol`](shardloop::Protocol), its options), and
//! [`apps`], the registry the `shardloop` binary serves.
//!
//! * `echo` — RFC 862 over TCP, TLS, Unix and UDP, with backpressure;
//! * `echo-async` — the same echo written as an `async` function on
//!   streams;
//! * `discard` — RFC 863;
//! * `http` — HTTP/1.1: TechEmpower's plaintext and JSON, static files;
//! * `kv` — a Redis-protocol server, its keyspace sharded over the
//!   shards, persisted in an append-only log per shard when asked.

pub mod discard;
pub mod echo;
pub mod echo_async;
pub mod http;
pub mod kv;
pub mod memory;

use shardloop::app::{App, Apps, NoOptions};

/// The configuration served when none is given: echo on 127.0.0.1:8888.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");

/// Every bundled app, and the embedded default configuration.
pub fn apps() -> Apps {
    kv::register_metrics();
    Apps::new()
        .with(
            App::new::<NoOptions>("echo")
                .stream(|_| echo::Echo::default())
                .datagram(|_| echo::UdpEcho),
        )
        .with(App::new::<NoOptions>("echo-async").stream(|_| echo_async::protocol()))
        .with(
            App::new::<NoOptions>("discard")
                .stream(|_| discard::Discard)
                .datagram(|_| discard::UdpDiscard),
        )
        .with(App::new::<http::HttpOptions>("http").stream(http::protocol))
        .with(
            App::new::<kv::KvOptions>("kv")
                .on_serve(kv::start)
                .stream(|o| kv::KvConn::new(std::sync::Arc::new(o.clone()))),
        )
        .default_config(DEFAULT_CONFIG)
}
