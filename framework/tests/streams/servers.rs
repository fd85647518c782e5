//! Stream servers and connections: start_server and open_connection on one
//! loop, refused connects, Unix sockets and TLS, a runtime's stream server,
//! a detached reader.

use super::*;

#[test]
fn s9_start_server_and_open_connection_echo_lines_on_one_loop_with_peername() {
    let mut lp = EventLoop::new().unwrap();
    let peers = Rc::new(RefCell::new(Vec::new()));
    let p2 = Rc::clone(&peers);
    let server = lp
        .start_server(
            move |mut r: StreamReader, mut w: StreamWriter| {
                let peers = Rc::clone(&p2);
                async move {
                    if let Some(shardloop::ExtraInfo::Address(a)) = w.get_extra_info("peername") {
                        peers.borrow_mut().push(a.to_string());
                    }
                    while let Ok(line) = r.readline().await {
                        if line.is_empty() {
                            break;
                        }
                        w.writelines(&[&b"echo: "[..], &line]).unwrap();
                        w.drain().await.unwrap();
                    }
                    w.close();
                    w.wait_closed().await;
                }
            },
            "127.0.0.1:0",
        )
        .unwrap();
    let addr = server.sockets()[0].to_string();
    let answers = lp
        .run_until_complete(async move {
            let mut answers = Vec::new();
            for i in 0..3 {
                let (mut r, mut w) = open_connection(addr.as_str()).await.unwrap();
                assert!(w.can_write_eof());
                w.write(format!("line {i}\n").as_bytes()).unwrap();
                w.write_eof().unwrap();
                answers.push(r.read_to_end().await.unwrap());
                // Both directions ended, but (as in asyncio) the transport
                // stays open until closed.
                assert!(!w.is_closing());
                w.close();
                w.wait_closed().await;
                assert!(w.is_closing());
            }
            answers
        })
        .unwrap();
    assert_eq!(
        answers,
        vec![
            b"echo: line 0\n".to_vec(),
            b"echo: line 1\n".to_vec(),
            b"echo: line 2\n".to_vec()
        ]
    );
    assert_eq!(peers.borrow().len(), 3);
    server.close();
}

#[test]
fn s10_open_connection_to_a_closed_port_fails_with_connection_refused() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut lp = EventLoop::new().unwrap();
    let e = lp
        .run_until_complete(async move { open_connection(("127.0.0.1", port)).await.map(|_| ()) })
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn s11_streams_over_unix_sockets_and_tls() {
    // Unix.
    let dir = util::scratch_dir("streams");
    let path = dir.join("s.sock");
    let mut lp = EventLoop::new().unwrap();
    let server = lp
        .start_unix_server(
            |mut r: StreamReader, mut w: StreamWriter| async move {
                let data = r.read_to_end().await.unwrap();
                w.write(&data).unwrap();
                w.close();
            },
            &path,
        )
        .unwrap();
    let p2 = path.clone();
    let got = lp
        .run_until_complete(async move {
            let (mut r, mut w) = open_unix_connection(&p2).await.unwrap();
            w.write(b"over unix").unwrap();
            w.write_eof().unwrap();
            r.read_to_end().await.unwrap()
        })
        .unwrap();
    assert_eq!(got, b"over unix");
    server.close();
    let _ = std::fs::remove_dir_all(&dir);

    // TLS: a stream server on create_tls_server, a TLS stream client.
    let pki = util::pki::Pki::new();
    let server_tls = shardloop::TlsServerConfig::builder()
        .cert(&pki.server_cert, &pki.server_key)
        .build()
        .unwrap();
    let client_tls = shardloop::TlsClientConfig::builder()
        .ca_file(&pki.ca)
        .build()
        .unwrap();
    let server = lp
        .create_tls_server(
            || {
                StreamReaderProtocol::with_callback(
                    |mut r: StreamReader, mut w: StreamWriter| async move {
                        let line = r.readline().await.unwrap();
                        w.write(&line).unwrap();
                        w.close();
                    },
                )
            },
            "127.0.0.1:0",
            server_tls,
        )
        .unwrap();
    let addr = server.sockets()[0].to_string();
    let (c2, a2) = (client_tls.clone(), addr.clone());
    let got = lp
        .run_until_complete(async move {
            let (mut r, mut w) = open_tls_connection(a2.as_str(), &c2, "localhost")
                .await
                .unwrap();
            assert!(!w.can_write_eof());
            assert!(matches!(
                w.get_extra_info("cipher"),
                Some(shardloop::ExtraInfo::Cipher(_))
            ));
            w.write(b"over tls\n").unwrap();
            r.read_to_end().await.unwrap()
        })
        .unwrap();
    assert_eq!(got, b"over tls\n");
    // The wrong name fails the handshake: the error comes back.
    let e = lp
        .run_until_complete(async move {
            open_tls_connection(addr.as_str(), &client_tls, "not-localhost")
                .await
                .map(|_| ())
        })
        .unwrap()
        .unwrap_err();
    assert!(
        e.to_string().contains("certificate") || e.to_string().contains("name"),
        "{e}"
    );
    server.close();
}

#[test]
fn s12_a_runtime_stream_server_spreads_its_connections_over_the_shards() {
    let mut config = RuntimeConfig::default();
    config.shards = 2;
    config.pin_cores = false;
    let mut rt = Runtime::start(config).unwrap();
    let addr = rt
        .start_server(
            |mut r: StreamReader, mut w: StreamWriter| async move {
                let shard = std::thread::current().name().unwrap_or("?").to_string();
                let mut buf = [0u8; 1024];
                loop {
                    let n = r.read_into(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    w.write(shard.as_bytes()).unwrap();
                    w.write(b":").unwrap();
                    w.write(&buf[..n]).unwrap();
                    w.drain().await.unwrap();
                }
            },
            "127.0.0.1:0".parse().unwrap(),
            Distribution::RoundRobin,
        )
        .unwrap();
    let mut shards = Vec::new();
    for i in 0..4 {
        let mut s = peer(addr);
        let msg = format!("m{i}");
        s.write_all(msg.as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = String::new();
        s.read_to_string(&mut back).unwrap();
        let (shard, echoed) = back.split_once(':').unwrap();
        assert_eq!(echoed, msg);
        shards.push(shard.to_string());
    }
    shards.sort();
    assert_eq!(shards, ["shard-0", "shard-0", "shard-1", "shard-1"]);
    rt.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn s13_a_detached_reader_is_fed_by_hand_and_wakes_a_waiting_read() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle().clone();
    let (mut r, feed) = StreamReader::detached(1024);
    let got = lp
        .run_until_complete(async move {
            // Fed from another task, a little at a time, while we wait.
            let h2 = h.clone();
            let feeder = h.spawn_local(async move {
                for piece in [&b"hel"[..], b"lo\nwor", b"ld\n", b"12345"] {
                    h2.sleep(Duration::from_millis(5)).await;
                    feed.feed_data(piece);
                }
                feed.feed_eof();
            });
            let a = r.readline().await.unwrap();
            let b = r.readline().await.unwrap();
            let c = r.readexactly(3).await.unwrap();
            let rest = r.read_to_end().await.unwrap();
            assert!(r.at_eof());
            feeder.await.unwrap();
            (a, b, c, rest)
        })
        .unwrap();
    assert_eq!(got.0, b"hello\n");
    assert_eq!(got.1, b"world\n");
    assert_eq!(got.2, b"123");
    assert_eq!(got.3, b"45");
    // set_exception: the read that finds nothing buffered fails with it.
    let (mut r, feed) = StreamReader::detached(1024);
    feed.feed_data(b"ok");
    feed.set_exception(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "gone",
    ));
    let (first, second) = lp
        .run_until_complete(async move {
            let first = r.read(10).await.unwrap();
            let second = r.read(10).await.map_err(|e| e.kind());
            (first, second)
        })
        .unwrap();
    assert_eq!(first, b"ok");
    assert_eq!(second, Err(std::io::ErrorKind::ConnectionReset));
}
