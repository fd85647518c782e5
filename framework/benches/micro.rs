//! Micro-benchmarks of the bookkeeping around the syscalls, through the
//! public API: appending to a transport's write queue (with the flow-control
//! check every write makes), scheduling and cancelling a timer, and handing
//! a closure to a shard from another thread (crossbeam channel + waker).
//!
//! `cargo bench -p shardloop --bench micro`

use std::hint::black_box;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardloop::{EventLoop, Protocol, Transport};

struct Quiet;
impl Protocol for Quiet {}

/// `write` of 64 bytes to a transport whose queue is already non-empty (the
/// peer does not read): no syscall, just the append and the flow check.
fn write_queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_queue");
    g.throughput(Throughput::Bytes(64));
    g.bench_function("write_64B_to_a_queued_transport", |b| {
        b.iter_custom(|iters| {
            let mut lp = EventLoop::new().unwrap();
            let (ours, peer) = UnixStream::pair().unwrap();
            let h = lp.create_connection_with_socket(|| Quiet, ours).unwrap();
            let chunk = [7u8; 64];
            let elapsed = lp
                .with_transport(h, |t: &mut Transport| {
                    // Fill the kernel buffer so every timed write queues.
                    t.set_write_buffer_limits(Some(usize::MAX / 2), None)
                        .unwrap();
                    t.write(&vec![0u8; 4 << 20]).unwrap();
                    assert!(t.get_write_buffer_size() > 0);
                    let start = Instant::now();
                    for _ in 0..iters {
                        t.write(black_box(&chunk)).unwrap();
                    }
                    let elapsed = start.elapsed();
                    t.abort();
                    elapsed
                })
                .unwrap();
            drop(peer);
            elapsed
        })
    });
    g.finish();
}

/// `call_later` then `cancel`: a timer armed and disarmed, as an idle
/// timeout re-armed per message would be.
fn timers(c: &mut Criterion) {
    let lp = EventLoop::new().unwrap();
    c.bench_function("timer/call_later_then_cancel", |b| {
        b.iter(|| {
            let h = lp.call_later(Duration::from_secs(60), |_| {});
            h.cancel();
        })
    });
}

/// A closure handed from this thread to a running shard and run there;
/// timed until the shard has run all of them.
fn hand_off(c: &mut Criterion) {
    let done = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let shard = std::thread::spawn(move || {
        let mut lp = EventLoop::new().unwrap();
        tx.send(lp.shard_handle().unwrap()).unwrap();
        lp.run_forever().unwrap();
    });
    let handle = rx.recv().unwrap();
    let mut g = c.benchmark_group("hand_off");
    g.throughput(Throughput::Elements(1));
    g.bench_function("submit_to_a_running_shard", |b| {
        b.iter_custom(|iters| {
            let target = done.load(Ordering::Acquire) + iters;
            let start = Instant::now();
            for _ in 0..iters {
                let d = Arc::clone(&done);
                // Blocks while the mailbox is full: the shard drains it.
                handle
                    .submit(move |_| {
                        d.fetch_add(1, Ordering::AcqRel);
                    })
                    .unwrap();
            }
            while done.load(Ordering::Acquire) < target {
                std::hint::spin_loop();
            }
            start.elapsed()
        })
    });
    g.finish();
    handle.submit(|lp| lp.stop()).unwrap();
    shard.join().unwrap();
}

criterion_group!(benches, write_queue, timers, hand_off);
criterion_main!(benches);
