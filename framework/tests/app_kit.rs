//! The app kit: a registry of apps with their own option tables, read by
//! `check` (configuration validation) and `serve` (binding) alike.

use std::io::Read;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shardloop::app::{App, AppOptions, Apps, NoOptions};
use shardloop::config::{Config, ConfigError};
use shardloop::{Protocol, Runtime, RuntimeConfig, Transport};

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

struct Greet(GreetOptions);

impl Protocol for Greet {
    fn connection_made(&mut self, t: &mut Transport) {
        for _ in 0..self.0.times {
            let _ = t.write(format!("{}\n", self.0.greeting).as_bytes());
        }
        t.close();
    }
}

struct Quiet;
impl Protocol for Quiet {}

fn apps() -> Apps {
    Apps::new()
        .with(App::new::<GreetOptions>("greet").stream(|o| Greet(o.clone())))
        .with(App::new::<NoOptions>("quiet").stream(|_| Quiet))
}

fn listener(app: &str, extra: &str) -> String {
    format!("[[listener]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\napp = \"{app}\"\n{extra}")
}

fn invalid(text: &str) -> (String, usize, String) {
    match Config::parse(text, "t.toml", &apps()) {
        Err(ConfigError::Invalid {
            key, line, message, ..
        }) => (key, line, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn app_options_are_validated_by_the_app_naming_key_and_line_and_print_effective() {
    let c = Config::parse(
        &listener("greet", "[listener.greet]\ngreeting = \"bonjour\"\n"),
        "t.toml",
        &apps(),
    )
    .unwrap();
    let printed = c.to_string();
    assert!(
        printed.contains("[listener.greet]\ngreeting = \"bonjour\"\ntimes = 1\n"),
        "defaults filled in: {printed}"
    );
    assert_eq!(Config::parse(&printed, "again", &apps()).unwrap(), c);

    let (key, line, msg) = invalid(&listener("greet", "[listener.greet]\ntimes = 11\n"));
    assert_eq!(
        (key.as_str(), line),
        ("listener[0].greet.times", 6),
        "{msg}"
    );
    assert!(msg.contains("1 to 10"), "{msg}");
    let (key, line, msg) = invalid(&listener("greet", "[listener.greet]\ntimez = 1\n"));
    assert_eq!(
        (key.as_str(), line),
        ("listener[0].greet.timez", 6),
        "{msg}"
    );
    let (key, _, msg) = invalid(&listener("greet", "[listener.greet]\ntimes = \"x\"\n"));
    assert!(key.starts_with("listener[0].greet"), "{key}: {msg}");
    // Options of an app that takes none, or of another app.
    let (key, line, msg) = invalid(&listener("quiet", "[listener.quiet]\nx = 1\n"));
    assert_eq!((key.as_str(), line), ("listener[0].quiet", 5), "{msg}");
    assert!(msg.contains("takes no options"), "{msg}");
    let (key, _, msg) = invalid(&listener("quiet", "[listener.greet]\ntimes = 1\n"));
    assert_eq!(key, "listener[0].greet", "{msg}");
    assert!(msg.contains("this listener serves \"quiet\""), "{msg}");
    let (key, _, msg) = invalid(&listener("quiet", "colour = \"blue\"\n"));
    assert_eq!(key, "listener[0].colour", "{msg}");
    // A stream-only app on a UDP listener.
    let (key, _, msg) = invalid(&listener("quiet", "protocol = \"udp\"\n"));
    assert_eq!(key, "listener[0].protocol", "{msg}");
    assert!(msg.contains("does not serve UDP"), "{msg}");
}

#[test]
fn the_registry_serves_a_listener_with_its_options_on_a_runtime() {
    let config = Config::parse(
        &listener(
            "greet",
            "[listener.greet]\ngreeting = \"salut\"\ntimes = 3\n",
        ),
        "t.toml",
        &apps(),
    )
    .unwrap();
    let mut rc = RuntimeConfig::default();
    rc.shards = 2;
    rc.pin_cores = false;
    let mut rt = Runtime::start(rc).unwrap();
    let bound = apps().listen(&mut rt, &config.listeners[0]).unwrap();
    let mut s = std::net::TcpStream::connect(bound.as_str()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "salut\nsalut\nsalut\n");
    drop(s); // ends the server side's lingering close
    rt.shutdown(Duration::from_secs(5)).unwrap();
}
