//! [`StreamIo`] under the ecosystem's I/O traits, driven by crates that
//! only know those traits: tokio-util's `LinesCodec` (tokio's
//! `AsyncRead`/`AsyncWrite`, feature `tokio-io`) and futures-util's
//! `copy` over a split stream (`futures-io`, feature `futures-io`), each
//! serving real loopback clients from a shardloop loop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use shardloop::streams::{StreamIo, StreamReader, StreamWriter};
use shardloop::EventLoop;
use tokio_util::codec::{Framed, LinesCodec};

mod util;

const DEADLINE: Duration = Duration::from_secs(20);

/// A line server written against tokio's traits only: each line comes
/// back upper-cased, `bye` ends the connection; a line past 1 KiB is the
/// codec's error, which ends it too.
async fn shout(reader: StreamReader, writer: StreamWriter) {
    let mut lines = Framed::new(
        StreamIo::new(reader, writer),
        LinesCodec::new_with_max_length(1024),
    );
    while let Some(Ok(line)) = lines.next().await {
        if line == "bye" {
            break;
        }
        if lines.send(line.to_uppercase()).await.is_err() {
            break;
        }
    }
    let _ = SinkExt::<String>::close(&mut lines).await;
}

#[test]
fn tokio_util_lines_codec_serves_lines_split_anywhere_by_the_network() {
    let mut lp = EventLoop::new().unwrap();
    let server = lp.start_server(shout, "127.0.0.1:0").unwrap();
    let addr = util::inet(&server);
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut wire = Vec::new();
        for i in 0..2000 {
            wire.extend_from_slice(format!("line {i} of the test\n").as_bytes());
        }
        wire.extend_from_slice(b"bye\n");
        // Written in odd-sized pieces, so lines straddle reads.
        let mut w = s.try_clone().unwrap();
        let writer = thread::spawn(move || {
            for chunk in wire.chunks(977) {
                w.write_all(chunk).unwrap();
            }
        });
        let mut got = Vec::new();
        for line in BufReader::new(&mut s).lines() {
            got.push(line.unwrap());
        }
        writer.join().unwrap();
        got
    });
    util::run_until(&mut lp, |_| client.is_finished());
    let got = client.join().unwrap();
    let want: Vec<String> = (0..2000).map(|i| format!("LINE {i} OF THE TEST")).collect();
    assert_eq!(got, want);

    // A line over the codec's limit: its error ends that connection only.
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.write_all(&[b'x'; 5000]).unwrap();
        s.write_all(b"\n").unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).map(|_| rest)
    });
    util::run_until(&mut lp, |_| client.is_finished());
    let rest = client.join().unwrap().expect("closed, not timed out");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

/// An echo server written against futures-io's traits only: the stream
/// split in two halves, one copied into the other until EOF.
async fn echo(reader: StreamReader, writer: StreamWriter) {
    use futures_util::io::AsyncReadExt;
    use futures_util::AsyncWriteExt;
    let (from, mut to) = StreamIo::new(reader, writer).split();
    let _ = futures_util::io::copy(from, &mut to).await;
    let _ = to.close().await;
}

#[test]
fn futures_io_copy_echoes_four_mebibytes_through_flow_control_intact() {
    let mut lp = EventLoop::new().unwrap();
    let server = lp.start_server(echo, "127.0.0.1:0").unwrap();
    let addr = util::inet(&server);
    let data = util::pattern(4 << 20);
    let sent = data.clone();
    let client = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut w = s.try_clone().unwrap();
        // Writing all before reading any: the server's writes pause at
        // the high-water mark and its reads with them, until we read.
        let writer = thread::spawn(move || {
            w.write_all(&sent).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        back
    });
    util::run_until(&mut lp, |_| client.is_finished());
    let back = client.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echo differs");
}
