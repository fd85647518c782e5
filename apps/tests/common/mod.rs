//! Helpers shared by the binary's end-to-end tests: start `shardloop serve`
//! on a config, read the address it logs, signal it, wait for its exit.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../framework/tests/util/host.rs"]
mod host;
pub mod resp;
#[allow(unused_imports)]
pub use host::{python_module, scratch_dir, tool};

pub const BIN: &str = env!("CARGO_BIN_EXE_shardloop");
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// Writes `text` to `name` in this test process's scratch folder (removed
/// at exit).
pub fn temp_config(name: &str, text: &str) -> PathBuf {
    let path = scratch_dir("config").join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub const SERVE: &str = r#"
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
pub fn serve(config: &str) -> (Child, SocketAddr, BufReader<std::process::ChildStderr>) {
    // A file per server: tests run in parallel, and a shared name let one
    // test's server read another's configuration.
    static SERVED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    serve_file(&temp_config(&format!("serve-{n}.toml"), config))
}

/// As [`serve`], for a configuration file already written.
#[allow(clippy::zombie_processes)]
pub fn serve_file(
    path: &std::path::Path,
) -> (Child, SocketAddr, BufReader<std::process::ChildStderr>) {
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
            let addr = line[start..end]
                .trim_start_matches("udp:")
                .trim_start_matches("tls:");
            return (child, addr.parse().unwrap(), err);
        }
    }
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
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

pub fn sigterm(child: &Child) {
    signal(child, libc::SIGTERM);
}

/// Sends `sig` to the child.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Reads the server's log until a line containing `what`; returns it.
/// If the log ends first, the panic shows the last lines it read.
pub fn wait_for_log(log: &mut impl BufRead, what: &str) -> String {
    let mut line = String::new();
    let mut last = std::collections::VecDeque::new();
    loop {
        if last.len() == 20 {
            last.pop_front();
        }
        if !line.is_empty() {
            last.push_back(std::mem::take(&mut line));
        }
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "the log ended before {what:?}; its last lines:\n{}",
            last.iter().map(String::as_str).collect::<String>()
        );
        if line.contains(what) {
            return line;
        }
    }
}

/// The `address` field of a JSON log line.
pub fn logged_address(line: &str) -> SocketAddr {
    let start = line.find("\"address\":\"").unwrap() + 11;
    let end = start + line[start..].find('"').unwrap();
    line[start..end].parse().unwrap()
}

/// Reads the log until the metrics line; returns the metrics address.
pub fn metrics_address(log: &mut impl BufRead) -> SocketAddr {
    logged_address(&wait_for_log(log, "metrics on"))
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

/// A fresh folder of this test process under the temporary directory,
/// removed when the process exits.
pub fn temp_dir(tag: &str) -> PathBuf {
    // A folder per call: tests of one binary run in parallel under `cargo
    // test`, and a shared folder let two differential tests share one
    // redis-server socket.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    scratch_dir(&format!("{tag}-{n}"))
}

/// Runs `promtool check metrics` on an exposition; fails the test on any
/// complaint.
pub fn assert_promtool_clean(body: &str) {
    use std::io::Write;
    let mut promtool = tool("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is installed");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `pattern` over and over (each write continuing where the last
/// one stopped, so the stream is whole copies of it) until the server stops
/// taking data — a write times out (the caller set a write timeout) — or
/// `cap` bytes went; returns how many bytes went. A server with flow
/// control stops well before the cap.
pub fn write_until_pushed_back(s: &mut std::net::TcpStream, pattern: &[u8], cap: usize) -> usize {
    use std::io::Write;
    let mut sent = 0;
    while sent < cap {
        match s.write(&pattern[sent % pattern.len()..]) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => panic!("{e}"),
        }
    }
    sent
}

/// Waits until the metrics endpoint's `/ready` answers 200: it comes up
/// before the listeners serve, and answers "starting" (503) until they do.
pub fn wait_ready(maddr: SocketAddr) {
    use std::io::{Read, Write};
    let start = Instant::now();
    loop {
        let mut s = std::net::TcpStream::connect(maddr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        if out.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(out.ends_with("starting\n"), "{out}");
        assert!(start.elapsed() < DEADLINE, "never ready: {out}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Raises this process's descriptor limit to its hard limit (children
/// inherit it) and returns it: tests that hold thousands of connections
/// need more than a default soft limit of 1,024.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill and setrlimit
    // to read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// `args` as one RESP multibulk request.
pub fn multibulk<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A child process killed and reaped on drop, also when the test fails.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
