//! A server out of file descriptors (EMFILE) backs off and serves again when
//! descriptors free up; the listener never dies. Its own test binary, so
//! lowering `RLIMIT_NOFILE` affects no other test.

mod util;

use std::process::Stdio;
use std::time::Instant;

use shardloop::EventLoop;
use util::*;

/// Opens 40 connections at once (the kernel backlog holds them), sends on
/// each, then in order waits for the echo and closes. Prints how many
/// echoes came back.
const CLIENT: &str = r#"
import socket, sys
port = int(sys.argv[1])
socks = [socket.create_connection(('127.0.0.1', port), timeout=20) for _ in range(40)]
for s in socks:
    s.sendall(b'hi')
ok = 0
for s in socks:
    if s.recv(2) == b'hi':
        ok += 1
    s.close()
print(ok)
"#;

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn set_nofile(soft: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = soft.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

#[test]
fn emfile_backs_off_and_serves_again_when_descriptors_free_up() {
    let mut lp = EventLoop::new().unwrap();
    let log = new_log();
    let l = log.clone();
    let server = lp
        .create_server(
            move || Probe::new(&l).data(|t, d, _| t.write(d).unwrap()),
            "127.0.0.1:0",
        )
        .unwrap();
    let port = inet(&server).port().to_string();
    let mut child = tool("python3")
        .args(["-c", CLIENT, &port])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed (.ci/run installs it)");
    // Room for about 8 accepted connections at a time, out of 40.
    set_nofile(open_fds() + 8);
    let start = Instant::now();
    run_until(&mut lp, |_| {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
        }
        child.try_wait().unwrap().is_some()
    });
    let out = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    assert_eq!(out.trim(), "40", "every connection served despite EMFILE");
    let made = count(&log.borrow(), |e| *e == Ev::Made);
    assert_eq!(made, 40);
}
