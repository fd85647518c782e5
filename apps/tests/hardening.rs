//! The binary against hostile or unusual input: configurations at their
//! limits, address collisions, Unix socket files, `check`'s output as a
//! config of its own, log-level overrides.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

fn check(path: &Path) -> (bool, String, String) {
    let out = Command::new(BIN).arg("check").arg(path).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn check_without_a_file_checks_the_embedded_default_and_ends_saying_it_is_valid() {
    let out = Command::new(BIN).arg("check").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("address = \"127.0.0.1:8888\""), "{text}");
    let last = text.lines().last().unwrap();
    assert_eq!(last, "# the embedded default configuration: valid");
    // The output, comment included, is itself a valid configuration.
    let again = temp_config("default-again.toml", &text);
    let (ok, text2, err) = check(&again);
    assert!(ok, "{err}");
    assert_eq!(
        text.lines().rev().skip(1).collect::<Vec<_>>(),
        text2.lines().rev().skip(1).collect::<Vec<_>>()
    );
}

#[test]
fn check_into_a_closed_pipe_exits_quietly() {
    let mut child = Command::new(BIN)
        .arg("check")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone, as with `| head -1`.
    assert_eq!(first, "[runtime]\n");
    let status = wait_exit(&mut child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(status.success() || status.code().is_none(), "{status}");
}

/// Every configuration the repository ships, TLS included (with a fresh
/// certificate pair beside a copy of it).
fn shipped_configs() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["config", "benches/configs"] {
        for e in std::fs::read_dir(repo_file(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
    }
    files.sort();
    let tls_dir = temp_dir("shipped-tls");
    std::fs::create_dir_all(tls_dir.join("tls")).unwrap();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(tls_dir.join("tls/cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(tls_dir.join("tls/key.pem"), ck.key_pair.serialize_pem()).unwrap();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            if !text.contains("[listener.tls]") {
                return p;
            }
            // TLS configs name files relative to their folder: give the
            // copy a folder that holds them.
            let copy = tls_dir.join(p.file_name().unwrap());
            let text = text.replace("../../config/tls/", "tls/");
            std::fs::write(&copy, text).unwrap();
            copy
        })
        .collect()
}

#[test]
fn check_output_is_a_config_that_checks_to_the_same_for_every_shipped_config() {
    for file in shipped_configs() {
        let (ok, first, err) = check(&file);
        assert!(ok, "{}: {err}", file.display());
        let printed = temp_config("printed.toml", &first);
        let (ok, second, err) = check(&printed);
        assert!(ok, "{}: the printed config: {err}\n{first}", file.display());
        let body = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(body(&first), body(&second), "{}", file.display());
        // Paths print absolute.
        for line in first
            .lines()
            .filter(|l| l.starts_with("cert") || l.starts_with("key"))
        {
            assert!(line.contains("= \"/"), "{line}");
        }
    }
}

/// `shardloop serve` on `text`, one echo, SIGTERM: exits 0, no panic logged.
fn serve_echo_and_stop(text: &str) {
    let (mut child, addr, log) = serve(text);
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"hi").unwrap();
    let mut b = [0; 2];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"hi");
    drop(s);
    sigterm(&child);
    let status = wait_exit(&mut child);
    let rest: Vec<String> = log.lines().map_while(Result::ok).collect();
    assert!(status.success(), "{status}: {rest:?}");
    assert!(!rest.iter().any(|l| l.contains("panicked")), "{rest:?}");
}

#[test]
fn any_config_check_accepts_serves_and_shuts_down_without_a_panic_even_at_every_maximum() {
    let dir = temp_dir("max-tls");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    let tls = format!(
        "[[listener]]\nname = \"tls\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\nprotocol = \"tls\"\n\
         distribution = \"reuseport\"\n[listener.tls]\ncert = \"{0}/cert.pem\"\nkey = \"{0}/key.pem\"\n\
         handshake_timeout = \"24h\"\n",
        dir.display()
    );
    let limits = "[limits]\nwrite_buffer_high = \"1GiB\"\nwrite_buffer_low = \"1GiB\"\n\
                  max_connections = 16777216\nidle_timeout = \"24h\"\ndrain_timeout = \"24h\"\n";
    let echo = |extra: &str| {
        format!("[[listener]]\nname = \"echo\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n{extra}")
    };
    let udp = "[[listener]]\nname = \"udp\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
               protocol = \"udp\"\nudp_recv_buffer = \"1GiB\"\nudp_send_buffer = \"1GiB\"\n";
    let log = "[log]\nlevel = \"info\"\nformat = \"json\"\n";
    let configs = [
        format!("[runtime]\nshards = 1024\npin_cores = true\nudp_batch = 1024\n{limits}{log}{}{udp}", echo("")),
        format!("[runtime]\nshards = 2\npin_cores = false\n{limits}{log}{}{tls}", echo("distribution = \"reuseport\"\nbacklog = 65535\n")),
        format!("[runtime]\nshards = 3\npin_cores = true\n{log}{}", echo("distribution = \"least-connections\"\nbacklog = 1\n")),
        format!("[runtime]\nshards = 1\n[limits]\nwrite_buffer_high = 0\nidle_timeout = 0\ndrain_timeout = 0\n{log}{}", echo("")),
    ];
    for text in configs {
        let path = temp_config("max.toml", &text);
        let (ok, _, err) = check(&path);
        assert!(ok, "check accepts it: {err}\n{text}");
        serve_echo_and_stop(&text);
    }
}

#[test]
fn a_bind_error_stops_serve_cleanly_with_the_error_printed_once() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = holder.local_addr().unwrap();
    let path = temp_config(
        "busy.toml",
        &format!(
            "[runtime]\nshards = 1\npin_cores = false\n\
             [[listener]]\nname = \"first\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
             [[listener]]\nname = \"second\"\naddress = \"{busy}\"\napp = \"echo\"\n"
        ),
    );
    let out = Command::new(BIN).arg("serve").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    let mentions = err.lines().filter(|l| l.contains("in use")).count();
    assert_eq!(mentions, 1, "printed once: {err}");
    assert!(err.contains("listener \"second\""), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Os {"), "{err}");
}

fn unix_config(path: &Path) -> String {
    format!(
        "[runtime]\nshards = 1\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"tcp\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
         [[listener]]\nname = \"unix\"\naddress = \"unix:{}\"\napp = \"echo\"\n",
        path.display()
    )
}

#[test]
fn a_unix_listener_replaces_a_stale_socket_file_and_removes_its_own_on_exit() {
    let dir = temp_dir("unix-stale");
    let sock = dir.join("echo.sock");
    // A stale file: the socket of a process that is gone.
    drop(UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let (mut child, _, mut log) = serve(&unix_config(&sock));
    let mut line = String::new();
    while !(line.contains("listening") && line.contains("unix:")) {
        line.clear();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "no unix listener logged"
        );
    }
    let mut c = UnixStream::connect(&sock).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    c.write_all(b"unix").unwrap();
    let mut b = [0; 4];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"unix");
    drop(c);
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
    assert!(!sock.exists(), "the socket file is removed on exit");
}

#[test]
fn a_unix_listener_refuses_the_path_of_a_live_server() {
    let dir = temp_dir("unix-live");
    let sock = dir.join("live.sock");
    let live = UnixListener::bind(&sock).unwrap();
    let path = temp_config("live.toml", &unix_config(&sock));
    let out = Command::new(BIN).arg("serve").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "a server is listening on {} already",
            sock.display()
        )),
        "{err}"
    );
    // The live server keeps its socket file and its clients.
    assert!(sock.exists());
    let _client = UnixStream::connect(&sock).unwrap();
    live.accept().unwrap();
}

#[test]
fn rust_log_and_log_level_override_the_configured_level() {
    let quiet = SERVE.replace("level = \"info\"", "level = \"error\"");
    let path = temp_config("quiet.toml", &quiet);
    for (flag, env) in [(None, Some("info")), (Some("info"), Some("off"))] {
        let mut cmd = Command::new(BIN);
        if let Some(level) = flag {
            cmd.args(["--log-level", level]);
        }
        cmd.arg("serve")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match env {
            Some(v) => cmd.env("RUST_LOG", v),
            None => cmd.env_remove("RUST_LOG"),
        };
        let mut child = cmd.spawn().unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let mut seen = false;
        while err.read_line(&mut line).unwrap() > 0 {
            if line.contains("\"listening\"") {
                seen = true;
                break;
            }
            line.clear();
        }
        assert!(
            seen,
            "flag {flag:?}, RUST_LOG {env:?}: info lines are logged"
        );
        sigterm(&child);
        assert!(wait_exit(&mut child).success());
    }
}

#[test]
fn udp_listeners_set_their_socket_buffers_and_log_what_the_kernel_granted() {
    let text = "[runtime]\nshards = 1\npin_cores = false\n[log]\nformat = \"json\"\n\
                [[listener]]\nname = \"udp\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n\
                protocol = \"udp\"\nudp_recv_buffer = \"2MiB\"\nudp_send_buffer = \"1MiB\"\n";
    let path = temp_config("udp-buffers.toml", text);
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("socket buffers") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "no buffer sizes logged"
        );
    }
    let field = |name: &str| -> usize {
        let at = line.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // Linux reports twice what it granted, its bookkeeping included.
    assert!(field("recv_buffer") >= 2 << 20, "{line}");
    assert!(field("send_buffer") >= 1 << 20, "{line}");
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

/// A small deterministic generator (xorshift), so the property test needs
/// no seed file and fails the same way every time.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A random configuration over the whole range of every key, binding only
/// port 0 and paths in `dir`; its first listener is a TCP echo.
fn random_config(rng: &mut Rng, dir: &Path, i: usize) -> String {
    let dur = |rng: &mut Rng| match rng.below(4) {
        0 => "0".to_string(),
        1 => "\"24h\"".to_string(),
        _ => format!("\"{}s {}ms\"", rng.below(3600), rng.below(1000)),
    };
    let high = match rng.below(3) {
        0 => 0,
        1 => 1 << 30,
        _ => rng.below(1 << 30),
    };
    let mut t = format!(
        "[runtime]\nshards = {}\npin_cores = {}\nudp_batch = {}\n\
         [limits]\nwrite_buffer_high = {high}\nwrite_buffer_low = {}\nmax_connections = {}\n\
         idle_timeout = {}\ndrain_timeout = {}\n[log]\nlevel = \"info\"\nformat = \"json\"\n",
        rng.pick(&["\"auto\"", "1", "2", "3", "7", "64"]),
        rng.below(2) == 0,
        1 + rng.below(1024),
        rng.below(high + 1),
        rng.pick(&["0", "1", "16777216", "1000"]),
        dur(rng),
        dur(rng),
    );
    if rng.below(2) == 0 {
        t += "[metrics]\naddress = \"127.0.0.1:0\"\n";
    }
    t += &format!(
        "[[listener]]\nname = \"first\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\ndistribution = \"{}\"\nbacklog = {}\n",
        rng.pick(&["round-robin", "least-connections", "reuseport"]),
        1 + rng.below(65535)
    );
    for j in 0..rng.below(3) {
        t += &match rng.below(3) {
            0 => format!(
                "[[listener]]\nname = \"udp {j}\"\naddress = \"[::1]:0\"\napp = \"{}\"\nprotocol = \"udp\"\nudp_recv_buffer = {}\n",
                rng.pick(&["echo", "discard"]),
                1 + rng.below(1 << 30)
            ),
            1 => format!(
                "[[listener]]\nname = \"unix {j}\"\naddress = \"unix:{}/c{i}-{j}.sock\"\napp = \"discard\"\n",
                dir.display()
            ),
            _ => format!(
                "[[listener]]\nname = \"tcp {j}\"\naddress = \"[::1]:0\"\napp = \"discard\"\n"
            ),
        };
    }
    t
}

#[test]
fn property_any_generated_config_that_check_accepts_serves_and_stops_without_a_panic() {
    let dir = temp_dir("property");
    let mut rng = Rng(0x0bad_5eed_cafe_f00d);
    for i in 0..12 {
        let text = random_config(&mut rng, &dir, i);
        let path = temp_config("property.toml", &text);
        let (ok, _, err) = check(&path);
        assert!(ok, "generated config {i} is valid: {err}\n{text}");
        serve_echo_and_stop(&text);
    }
}
