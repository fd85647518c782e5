//! Clients that misbehave or misconfigure: a config check, a client that
//! pipelines without reading, a request head trickled byte by byte.

use super::*;

#[test]
fn config_check_names_bad_http_options() {
    let dir = temp_dir("http-check");
    let bad = temp_config(
        "http-bad.toml",
        "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n[listener.http]\nroot = \"/no/such/dir\"\n",
    );
    let out = Command::new(BIN).arg("check").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("root") && err.contains("/no/such/dir"),
        "{err}"
    );
    let bad = temp_config(
        "http-bad2.toml",
        "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n[listener.http]\nmax_headers = 100000\n",
    );
    let out = Command::new(BIN).arg("check").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("max_headers"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_that_pipelines_without_reading_is_paused_then_gets_every_answer() {
    let (server, addr) = serve_http(None);
    let mut s = client(addr);
    s.set_write_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let req = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
    let batch: Vec<u8> = req.iter().copied().cycle().take(req.len() * 1000).collect();
    // Write without reading until the server stops taking requests (its
    // answers fill our receive buffer and its write queue, then it stops
    // reading). Bounded: without flow control this would run to the cap.
    let cap = 256usize << 20;
    let sent = write_until_pushed_back(&mut s, &batch, cap);
    assert!(sent < cap, "the server never pushed back");
    let pid = server.id();
    let rss = rss_kib(pid);
    assert!(rss < 64 * 1024, "server RSS {rss} KiB while held");
    // Finish the last request, then read every answer.
    let whole = sent / req.len();
    let rest = &req[sent % req.len()..];
    if sent % req.len() != 0 {
        s.set_write_timeout(None).unwrap();
        let reader = s.try_clone().unwrap();
        let drain = std::thread::spawn(move || {
            let mut reader = reader;
            let mut buf = Vec::new();
            let mut n = 0;
            while n < whole + 1 {
                read_response(&mut reader, &mut buf, false);
                n += 1;
            }
            n
        });
        s.write_all(rest).unwrap();
        assert_eq!(drain.join().unwrap(), whole + 1);
    } else {
        let mut buf = Vec::new();
        for _ in 0..whole {
            assert_eq!(
                read_response(&mut s, &mut buf, false).body,
                b"Hello, World!"
            );
        }
    }
    drop(s);
    stop(server);
}

#[test]
fn a_request_head_trickled_byte_by_byte_gets_408_after_header_timeout() {
    let (server, addr, log) = serve(
        "[runtime]\nshards = 1\npin_cores = false\n[log]\nformat = \"json\"\n\
         [[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\napp = \"http\"\n\
         [listener.http]\nheader_timeout = \"500ms\"\n",
    );
    std::thread::spawn(move || {
        let mut log = log;
        let _ = std::io::copy(&mut log, &mut std::io::sink());
    });
    let mut s = client(addr);
    // A complete request first: answered, and it does not start the clock.
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf, false).status, 200);
    // Then a head that never ends, one header line every 100 ms: every
    // byte resets an idle timeout, but not this one.
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let mut reader = s.try_clone().unwrap();
    let stop_trickle = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop_trickle);
    let trickle = std::thread::spawn(move || {
        for i in 0..200 {
            if flag.load(std::sync::atomic::Ordering::Acquire)
                || s.write_all(format!("X-{i}: v\r\n").as_bytes()).is_err()
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    let r = read_response(&mut reader, &mut buf, false);
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    // Then the server's FIN (its lingering close discards the trickle).
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("a clean close");
    assert!(rest.is_empty() && buf.is_empty());
    stop_trickle.store(true, std::sync::atomic::Ordering::Release);
    trickle.join().unwrap();
    drop(reader);
    stop(server);
}
