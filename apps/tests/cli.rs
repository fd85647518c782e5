//! The `shardloop` binary end to end: `check`, `serve` from a file, the
//! echo app over real sockets, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shardloop");
const DEADLINE: Duration = Duration::from_secs(20);

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn temp_config(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shardloop-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const SERVE: &str = r#"
[runtime]
shards = 2
pin_cores = false
[limits]
drain_timeout = "10s"
[log]
level = "info"
format = "json"
[[listener]]
name = "echo-test"
address = "127.0.0.1:0"
app = "echo"
"#;

/// Starts `shardloop serve CONFIG` and returns it with the address its
/// "listening" log line reports. The child is returned to the caller, which
/// waits for it; if it dies early it is reaped here.
#[allow(clippy::zombie_processes)]
fn serve(config: &str) -> (Child, SocketAddr, BufReader<std::process::ChildStderr>) {
    let path = temp_config("serve.toml", config);
    let mut child = Command::new(BIN)
        .args(["serve", path.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "server exited before listening"
        );
        if line.contains("\"listening\"") {
            let start = line.find("\"address\":\"").unwrap() + 11;
            let end = start + line[start..].find('"').unwrap();
            return (child, line[start..end].parse().unwrap(), err);
        }
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("server did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sigterm(child: &Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
}

#[test]
fn check_accepts_the_shipped_configs_and_prints_the_effective_one() {
    for file in ["config/default.toml", "config/echo-and-discard.toml"] {
        let out = Command::new(BIN)
            .args(["check"])
            .arg(repo_file(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("[[listener]]") && text.contains("write_buffer_high"),
            "{text}"
        );
    }
}

#[test]
fn check_rejects_a_bad_config_naming_file_key_and_line_and_binds_nothing() {
    let path = temp_config(
        "bad.toml",
        "[limits]\nwrite_buffer_high = \"64KiB\"\nwrite_buffer_low = \"128KiB\"\n[[listener]]\nname='e'\naddress='127.0.0.1:0'\napp='echo'\n",
    );
    for cmd in ["check", "serve"] {
        let out = Command::new(BIN).arg(cmd).arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains(&format!(
                "{}:3:20: limits.write_buffer_low: limits.write_buffer_low (128KiB) must not exceed limits.write_buffer_high (64KiB)",
                path.display()
            )),
            "{cmd}: {err}"
        );
    }
}

#[test]
fn an_address_in_use_names_the_listener_and_exits_non_zero() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let path = temp_config(
        "inuse.toml",
        &format!("[runtime]\nshards=1\npin_cores=false\n[[listener]]\nname='busy'\naddress='{addr}'\napp='echo'\n"),
    );
    let out = Command::new(BIN).arg("serve").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("listener \"busy\"") && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn serve_echoes_and_sigterm_during_a_multi_megabyte_echo_loses_no_accepted_byte() {
    let (mut child, addr, _log) = serve(SERVE);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"ping").unwrap();
    let mut b = [0; 4];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ping");

    // 16 MiB in flight both ways, then SIGTERM in the middle.
    let total = 16 << 20;
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < total && w.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        let _ = w.shutdown(std::net::Shutdown::Write);
        sent
    });
    let mut got = Vec::new();
    let mut buf = vec![0; 1 << 16];
    let mut signalled = false;
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
        if !signalled && got.len() > 2 << 20 {
            sigterm(&child);
            signalled = true;
        }
    };
    let sent = writer.join().unwrap();
    end.expect("a clean FIN, never a reset");
    assert!(signalled);
    assert!(got.len() <= sent);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 65536 % 251) as u8),
        "the echo is an intact prefix of what was sent"
    );
    assert!(wait_exit(&mut child).success(), "exit 0 after SIGTERM");
}
