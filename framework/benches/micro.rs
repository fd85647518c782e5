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

/// Cross-shard request/reply on a 2-shard runtime: shard 0 makes `iters`
/// calls to shard 1 in batches of 64 per iteration (as a connection
/// pipelining requests would) and the time runs until every reply is back
/// on shard 0.
fn cross_shard(c: &mut Criterion) {
    let mut config = shardloop::RuntimeConfig::default();
    config.shards = 2;
    config.pin_cores = false;
    let rt = shardloop::Runtime::start(config).unwrap();
    let mut g = c.benchmark_group("cross_shard");
    g.throughput(Throughput::Elements(1));
    g.bench_function("call_on_request_and_reply", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = std::sync::mpsc::channel();
            let start = Instant::now();
            rt.shard(0)
                .submit(move |lp| {
                    if iters == 0 {
                        let _ = tx.send(());
                    }
                    let answered = std::rc::Rc::new(std::cell::Cell::new(0));
                    send_batches(lp, iters, iters, answered, tx)
                })
                .unwrap();
            rx.recv().unwrap();
            start.elapsed()
        })
    });
    g.finish();
    rt.shutdown(Duration::from_secs(1)).unwrap();
}

/// Makes up to 64 calls this iteration and the rest on later ones; tells
/// `done` when the last reply is in.
fn send_batches(
    lp: &mut EventLoop,
    left: u64,
    total: u64,
    answered: std::rc::Rc<std::cell::Cell<u64>>,
    done: std::sync::mpsc::Sender<()>,
) {
    let now = left.min(64);
    for _ in 0..now {
        let answered = answered.clone();
        let done = done.clone();
        lp.call_on(
            1,
            |_| 1u64,
            move |_, r| {
                answered.set(answered.get() + r);
                if answered.get() == total {
                    let _ = done.send(());
                }
            },
        );
    }
    if left > now {
        let answered = answered.clone();
        lp.call_soon(move |lp| send_batches(lp, left - now, total, answered, done));
    }
}

criterion_group!(benches, write_queue, timers, hand_off, cross_shard);
criterion_main!(benches);
