//! A minimal TCP echo server written directly on mio, single-threaded: the
//! baseline shardloop's echo is compared with (what the framework costs over
//! the raw event loop it is built on).
//!
//! `mio-echo [ADDR]` (default 127.0.0.1:7001). Reads into one buffer until
//! `WouldBlock`, writes back at once, and queues only what the kernel
//! refuses; WRITABLE interest only while something is queued.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7001".into());
    let mut listener = TcpListener::bind(addr.parse().map_err(io::Error::other)?)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("mio-echo on {}", listener.local_addr()?);
    let mut events = Events::with_capacity(1024);
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    next += 1;
                    poll.registry()
                        .register(&mut stream, Token(next), Interest::READABLE)?;
                    conns.insert(
                        next,
                        Conn {
                            stream,
                            pending: Vec::new(),
                        },
                    );
                }
                continue;
            }
            let id = ev.token().0;
            let Some(c) = conns.get_mut(&id) else {
                continue;
            };
            let mut done = false;
            if ev.is_writable() && !c.pending.is_empty() {
                match c.stream.write(&c.pending) {
                    Ok(n) => {
                        c.pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => done = true,
                }
                if c.pending.is_empty() {
                    poll.registry()
                        .reregister(&mut c.stream, ev.token(), Interest::READABLE)?;
                }
            }
            if ev.is_readable() {
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => {
                            done = true;
                            break;
                        }
                        Ok(n) => {
                            let data = &buf[..n];
                            let sent = if c.pending.is_empty() {
                                match c.stream.write(data) {
                                    Ok(k) => k,
                                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                                    Err(_) => {
                                        done = true;
                                        break;
                                    }
                                }
                            } else {
                                0
                            };
                            if sent < n {
                                let was_empty = c.pending.is_empty();
                                c.pending.extend_from_slice(&data[sent..]);
                                if was_empty {
                                    poll.registry().reregister(
                                        &mut c.stream,
                                        ev.token(),
                                        Interest::READABLE | Interest::WRITABLE,
                                    )?;
                                }
                            }
                            if n < buf.len() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            done = true;
                            break;
                        }
                    }
                }
            }
            if done {
                conns.remove(&id);
            }
        }
    }
}
