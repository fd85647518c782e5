//! `deploy/`, checked by each ecosystem's own tool, and a rolling restart
//! behind a real HAProxy with a client load running throughout.

mod common;

use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_systemd_unit_verifies_clean_and_scores_at_most_1_5() {
    let unit = std::fs::read_to_string(repo_file("deploy/systemd/shardloop.service")).unwrap();
    // The unit as shipped, with its install paths pointing at this build.
    let unit = unit.replace("/usr/local/bin/shardloop", BIN).replace(
        "/etc/shardloop/shardloop.toml",
        repo_file("config/default.toml").to_str().unwrap(),
    );
    let path = temp_dir("systemd").join("shardloop.service");
    std::fs::write(&path, unit).unwrap();
    let (ok, text) = run(tool("systemd-analyze").arg("verify").arg(&path));
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );
    let (_, text) = run(tool("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&path));
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("shardloop.service: ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in {text}"));
    assert!(score <= 1.5, "exposure {score}: {text}");
}

#[test]
fn the_dockerfile_is_hadolint_clean() {
    let (ok, text) = run(tool("hadolint").arg(repo_file("deploy/container/Dockerfile")));
    assert!(ok && text.trim().is_empty(), "hadolint: {text}");
}

#[test]
fn the_container_serves_its_config_on_every_address_so_a_published_port_reaches_it() {
    let dockerfile = std::fs::read_to_string(repo_file("deploy/container/Dockerfile")).unwrap();
    let src = dockerfile
        .lines()
        .find_map(|l| {
            l.strip_prefix("COPY ")?
                .strip_suffix(" /etc/shardloop/shardloop.toml")
        })
        .expect("the Dockerfile copies a configuration to /etc/shardloop/shardloop.toml");
    let text = std::fs::read_to_string(repo_file(src)).unwrap();
    let out = Command::new(BIN)
        .arg("check")
        .arg(repo_file(src))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addresses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("address = \""))
        .collect();
    assert_eq!(
        addresses.len(),
        2,
        "a listener and the metrics: {addresses:?}"
    );
    for a in &addresses {
        assert!(a.starts_with("0.0.0.0:") || a.starts_with("[::]:"), "{a}");
    }
    // Served (on port 0), it answers on the loopback address too: every
    // address of the container, as `docker run -p` needs.
    let text = text
        .replace("0.0.0.0:8888", "0.0.0.0:0")
        .replace("0.0.0.0:9100", "0.0.0.0:0");
    let (mut child, addr, mut log) = serve(&text);
    assert!(addr.ip().is_unspecified(), "{addr}");
    let maddr = metrics_address(&mut log);
    std::thread::spawn(move || for _ in log.lines() {});
    let local = |a: std::net::SocketAddr| std::net::SocketAddr::from(([127, 0, 0, 1], a.port()));
    let mut s = std::net::TcpStream::connect(local(addr)).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ping");
    drop(s);
    wait_ready(local(maddr));
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn the_kubernetes_manifests_validate_strictly_and_the_configmap_checks() {
    let dir = repo_file("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    let (ok, text) = run(tool("kubernetes-validate").arg("--strict").args(&files));
    assert!(
        ok && !text.contains("WARN") && !text.contains("ERROR"),
        "{text}"
    );
    // The configuration inside the ConfigMap is one `shardloop check` accepts.
    let cm = std::fs::read_to_string(dir.join("configmap.yaml")).unwrap();
    let toml: String = cm
        .split_once("shardloop.toml: |\n")
        .unwrap()
        .1
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let path = temp_config("configmap.toml", &toml);
    let (ok, text) = run(Command::new(BIN).arg("check").arg(&path));
    assert!(ok, "{text}");
    // Grace period longer than preStop + drain_timeout.
    let deployment = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    assert!(
        deployment.contains("terminationGracePeriodSeconds: 45")
            && toml.contains("drain_timeout = \"20s\"")
    );
}

#[test]
fn the_haproxy_config_is_valid() {
    let (ok, text) = run(tool("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(repo_file("deploy/haproxy/haproxy.cfg")));
    assert!(ok, "{text}");
}

/// An echo instance on fixed ports (a restart takes the same ones).
fn instance(dir: &Path, name: &str, port: u16, metrics: u16) -> Child {
    let config = format!(
        "[runtime]\nshards = 1\npin_cores = false\n[limits]\ndrain_timeout = \"10s\"\ndrain_delay = \"2s\"\n\
         [log]\nformat = \"json\"\n[metrics]\naddress = \"127.0.0.1:{metrics}\"\n\
         [[listener]]\nname = \"{name}\"\naddress = \"127.0.0.1:{port}\"\napp = \"echo\"\n"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("metrics on") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "{name} did not start"
        );
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in err.lines() {});
    child
}

/// The ports an instance bound, from a first start on port 0.
fn free_ports() -> (u16, u16) {
    let (mut child, addr, mut log) = serve(
        "[runtime]\nshards = 1\npin_cores = false\n[log]\nformat = \"json\"\n[metrics]\naddress = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"probe\"\naddress = \"127.0.0.1:0\"\napp = \"echo\"\n",
    );
    let mut line = String::new();
    while !line.contains("metrics on") {
        line.clear();
        assert!(log.read_line(&mut line).unwrap() > 0);
    }
    let start = line.find("\"address\":\"").unwrap() + 11;
    let end = start + line[start..].find('"').unwrap();
    let metrics: std::net::SocketAddr = line[start..end].parse().unwrap();
    sigterm(&child);
    assert!(wait_exit(&mut child).success());
    (addr.port(), metrics.port())
}

fn ready(metrics: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", metrics)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /ready HTTP/1.0\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

#[test]
fn a_rolling_restart_behind_haproxy_fails_no_request_and_loses_no_byte() {
    let dir = temp_dir("haproxy");
    let (p1, m1) = free_ports();
    let (p2, m2) = free_ports();
    let front = dir.join("front.sock");
    let _ = std::fs::remove_file(&front);
    // The shipped configuration, on this test's ports and socket.
    let cfg = std::fs::read_to_string(repo_file("deploy/haproxy/haproxy.cfg"))
        .unwrap()
        // This machine's descriptor limit is lower than production's.
        .replace("maxconn 100000", "maxconn 4096")
        .replace(
            "bind 127.0.0.1:8800",
            &format!("bind unix@{}", front.display()),
        )
        .replace(
            "127.0.0.1:8801 check port 9101",
            &format!("127.0.0.1:{p1} check port {m1}"),
        )
        .replace(
            "127.0.0.1:8802 check port 9102",
            &format!("127.0.0.1:{p2} check port {m2}"),
        );
    let cfg_path = dir.join("haproxy.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut one = instance(&dir, "one", p1, m1);
    let mut two = instance(&dir, "two", p2, m2);
    let mut haproxy = tool("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy (Debian package) is installed");
    let start = Instant::now();
    while UnixStream::connect(&front).is_err() {
        assert!(start.elapsed() < DEADLINE, "haproxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Both servers seen up by HAProxy (rise 2 x inter 200 ms, with margin).
    std::thread::sleep(Duration::from_millis(1000));

    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed, bytes) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (stop, done, failed, bytes, front) = (
                Arc::clone(&stop),
                Arc::clone(&done),
                Arc::clone(&failed),
                Arc::clone(&bytes),
                front.clone(),
            );
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Acquire) {
                    i += 1;
                    let msg: Vec<u8> = (0..4096u64)
                        .map(|j| ((i * 31 + j + c) % 251) as u8)
                        .collect();
                    let result = (|| -> std::io::Result<Vec<u8>> {
                        let mut s = UnixStream::connect(&front)?;
                        s.set_read_timeout(Some(DEADLINE))?;
                        s.write_all(&msg)?;
                        s.shutdown(std::net::Shutdown::Write)?;
                        let mut back = Vec::new();
                        s.read_to_end(&mut back)?;
                        Ok(back)
                    })();
                    match result {
                        Ok(back) if back == msg => {
                            done.fetch_add(1, Ordering::Relaxed);
                            bytes.fetch_add(back.len() as u64, Ordering::Relaxed);
                        }
                        Ok(back) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            errors.push(format!("request {i}: {} of 4096 bytes back", back.len()));
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            errors.push(format!("request {i}: {e}"));
                        }
                    }
                }
                errors
            })
        })
        .collect();

    // Restart each instance in turn, under load.
    for (child, name, port, metrics) in [(&mut one, "one", p1, m1), (&mut two, "two", p2, m2)] {
        std::thread::sleep(Duration::from_millis(300));
        let before = done.load(Ordering::Relaxed);
        sigterm(child);
        assert!(wait_exit(child).success(), "{name} drained and exited 0");
        *child = instance(&dir, name, port, metrics);
        let start = Instant::now();
        while !ready(metrics) {
            assert!(start.elapsed() < DEADLINE, "{name} did not come back");
            std::thread::sleep(Duration::from_millis(20));
        }
        // HAProxy sees it up again (rise 2 x inter 200 ms, with margin for
        // a busy machine), load continues.
        std::thread::sleep(Duration::from_millis(1000));
        assert!(
            done.load(Ordering::Relaxed) > before,
            "requests served during the restart of {name}"
        );
    }
    stop.store(true, Ordering::Release);
    let errors: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let (done, failed, bytes) = (
        done.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
    );
    eprintln!("rolling restart: {done} requests, {failed} failed, {bytes} bytes echoed intact");
    assert_eq!(failed, 0, "{errors:?}");
    assert!(done > 100, "{done} requests");
    let _ = haproxy.kill();
    let _ = haproxy.wait();
    for mut c in [one, two] {
        sigterm(&c);
        assert!(wait_exit(&mut c).success());
    }
}
