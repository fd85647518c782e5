//! A complete server of your own, in ~60 lines: one app, `greet`, with an
//! option table, served by shardloop's server program — `serve`/`check`,
//! the TOML configuration, metrics, signals and the graceful drain.
//!
//! ```sh
//! cargo run -p shardloop --example custom_server            # serves its embedded greet.toml
//! cargo run -p shardloop --example custom_server -- check   # prints the effective config
//! cargo run -p shardloop --example custom_server -- serve framework/examples/greet.toml
//! nc 127.0.0.1 7070                                          # "bonjour" twice, then echo
//! ```
//!
//! with `framework/examples/greet.toml`:
//!
//! ```toml
//! [[listener]]
//! name = "hello"
//! address = "127.0.0.1:7070"
//! app = "greet"
//! [listener.greet]
//! greeting = "bonjour"
//! times = 2
//! ```

use serde::{Deserialize, Serialize};
use shardloop::app::{App, AppOptions, Apps};
use shardloop::{Protocol, Transport};

/// `[listener.greet]`: absent keys take their defaults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct GreetOptions {
    greeting: String,
    times: u32,
}

impl Default for GreetOptions {
    fn default() -> Self {
        Self {
            greeting: "hello".into(),
            times: 1,
        }
    }
}

impl AppOptions for GreetOptions {
    fn validate(&self) -> Result<(), (String, String)> {
        match self.times {
            1..=10 => Ok(()),
            n => Err(("times".into(), format!("{n} is not allowed: 1 to 10"))),
        }
    }
}

/// Greets each client, then echoes what it sends.
struct Greet(GreetOptions);

impl Protocol for Greet {
    fn connection_made(&mut self, t: &mut Transport) {
        for _ in 0..self.0.times {
            let _ = t.write(format!("{}\n", self.0.greeting).as_bytes());
        }
    }

    fn data_received(&mut self, t: &mut Transport, data: &[u8]) {
        let _ = t.write(data);
    }
}

fn main() -> std::process::ExitCode {
    let apps = Apps::new()
        .with(App::new::<GreetOptions>("greet").stream(|o| Greet(o.clone())))
        .default_config(include_str!("greet.toml"));
    shardloop::app::main(apps)
}
