//! Connection churn: connect, one echo, close — again and again. It
//! measures what a new connection costs the server (accept, hand-off to a
//! shard, setup and teardown), so the acceptor's hand-off can be compared
//! with `reuseport`. Blocking sockets on plain threads: a connection's whole
//! life is one request, so there is no event loop to keep busy.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::Tally;
use crate::workload::Workload;

/// Runs `threads` churning clients until `end`; latencies (connect to
/// answer) count from `measure_from`.
pub fn run(
    addr: SocketAddr,
    threads: usize,
    workload: Arc<dyn Workload>,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Tally> {
    let handles: Vec<_> = (0..threads)
        .map(|k| {
            let workload = Arc::clone(&workload);
            std::thread::Builder::new()
                .name(format!("churn-{k}"))
                .spawn(move || churn(addr, &*workload, measure_from, end))
        })
        .collect::<Result<_, _>>()?;
    let mut total = Tally::default();
    for h in handles {
        let t = h
            .join()
            .map_err(|_| anyhow::anyhow!("a churn thread panicked"))?;
        total.merge(&t);
    }
    Ok(total)
}

fn churn(addr: SocketAddr, workload: &dyn Workload, measure_from: Instant, end: Instant) -> Tally {
    let mut tally = Tally::default();
    let (mut request, mut expected) = (Vec::new(), Vec::new());
    let mut got = Vec::new();
    let mut seq = 0u64;
    while Instant::now() < end {
        request.clear();
        expected.clear();
        workload.request(seq, &mut request);
        workload.expected(seq, &mut expected);
        seq += 1;
        let start = Instant::now();
        let answered = (|| -> std::io::Result<bool> {
            let mut s = TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(&request)?;
            got.resize(expected.len(), 0);
            s.read_exact(&mut got)?;
            Ok(got == expected)
        })();
        let now = Instant::now();
        if matches!(answered, Ok(true)) {
            tally.completed_total += 1;
        }
        match answered {
            Ok(true) if now >= measure_from => {
                let ns = now.duration_since(start).as_nanos() as u64;
                let _ = tally.latency.record(ns.max(1));
                tally.completed += 1;
            }
            Ok(true) => {}
            Ok(false) => tally.mismatches += 1,
            Err(_) => tally.dropped += 1,
        }
    }
    tally
}
