//! A small TCP proxy written with streams: accept a client, connect to the
//! upstream, copy both ways with `drain` (so a slow side slows the other
//! instead of filling memory), pass each side's EOF on as a half-close,
//! and close both when both directions are done. Sequential logic per
//! direction, as one would write it with asyncio.
//!
//! `cargo run --release -p shardloop --example stream_proxy -- LISTEN UPSTREAM`
//! (e.g. `127.0.0.1:9000 127.0.0.1:8888`). Prints `Proxying on ADDR`.

use std::rc::Rc;

use shardloop::streams::{open_connection, StreamReader, StreamWriter};
use shardloop::{EventLoop, ExtraInfo, LoopHandle};

/// Copies `from` to `to` until EOF, then half-closes `to` and hands it
/// back (dropping it would close the connection while the other direction
/// may still be copying). On an error `to` is dropped: closed.
async fn pipe(
    mut from: StreamReader,
    mut to: StreamWriter,
) -> std::io::Result<(u64, StreamWriter)> {
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = from.read_into(&mut buf).await?;
        if n == 0 {
            break;
        }
        to.write(&buf[..n]).map_err(std::io::Error::other)?;
        to.drain().await?;
        total += n as u64;
    }
    if to.can_write_eof() {
        let _ = to.write_eof();
    }
    Ok((total, to))
}

async fn handle(client_r: StreamReader, client_w: StreamWriter, upstream: Rc<String>) {
    let peer = match client_w.get_extra_info("peername") {
        Some(ExtraInfo::Address(a)) => a.to_string(),
        _ => "?".to_string(),
    };
    let (up_r, up_w) = match open_connection(upstream.as_str()).await {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("{peer}: upstream {upstream}: {e}");
            return; // dropping the client's writer closes it
        }
    };
    let lp = LoopHandle::current().expect("a task runs on a shard");
    let up = lp.spawn_local(pipe(client_r, up_w));
    let down = lp.spawn_local(pipe(up_r, client_w));
    match up.await {
        Ok(Ok((sent, _up_w))) => match down.await {
            Ok(Ok((received, _client_w))) => {
                println!("{peer}: {sent} bytes up, {received} bytes down");
            }
            other => eprintln!("{peer}: downstream: {other:?}"),
        },
        other => {
            // One side failed: stop the other (its writer closes).
            down.cancel();
            eprintln!("{peer}: upstream: {other:?}");
        }
    }
    // The writers held here drop now: both connections close.
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: stream_proxy LISTEN UPSTREAM");
        std::process::exit(2);
    };
    let upstream = Rc::new(upstream);
    let mut lp = EventLoop::new()?;
    let server = lp.start_server(
        move |r, w| handle(r, w, Rc::clone(&upstream)),
        listen.as_str(),
    )?;
    println!("Proxying on {}", server.sockets()[0]);
    lp.run_forever()
}
