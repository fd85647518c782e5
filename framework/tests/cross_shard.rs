//! Cross-shard request/reply (`EventLoop::call_on`) on a real runtime: the
//! closure runs on the target shard, the reply on the caller's, calls of one
//! iteration travel as one batch, failures stay contained.

use std::sync::mpsc;
use std::time::Duration;

use shardloop::{Runtime, RuntimeConfig};

const DEADLINE: Duration = Duration::from_secs(20);

fn runtime(shards: usize) -> Runtime {
    let mut config = RuntimeConfig::default();
    config.shards = shards;
    config.pin_cores = false;
    Runtime::start(config).unwrap()
}

#[test]
fn call_on_runs_on_the_target_shard_and_replies_on_the_calling_shard() {
    let rt = runtime(3);
    let (tx, rx) = mpsc::channel();
    rt.shard(0)
        .submit(move |lp| {
            lp.call_on(
                2,
                |remote| {
                    (
                        remote.shard_id(),
                        std::thread::current().name().map(String::from),
                    )
                },
                move |home, (ran_on, thread)| {
                    let replied_on = home.shard_id();
                    let here = std::thread::current().name().map(String::from);
                    tx.send((ran_on, thread, replied_on, here)).unwrap();
                },
            )
        })
        .unwrap();
    let (ran_on, thread, replied_on, here) = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(ran_on, Some(2));
    assert_eq!(thread.as_deref(), Some("shard-2"));
    assert_eq!(replied_on, Some(0));
    assert_eq!(here.as_deref(), Some("shard-0"));
    rt.shutdown(Duration::from_secs(1)).unwrap();
}

#[test]
fn calls_of_one_iteration_travel_as_one_batch_and_reply_in_order() {
    let rt = runtime(2);
    let (tx, rx) = mpsc::channel();
    rt.shard(0)
        .submit(move |lp| {
            let replies = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            for i in 0..100u32 {
                let tx = tx.clone();
                let replies = replies.clone();
                lp.call_on(
                    1,
                    move |_| i * 2,
                    move |_, r| {
                        replies.borrow_mut().push(r);
                        if replies.borrow().len() == 100 {
                            tx.send(replies.borrow().clone()).unwrap();
                        }
                    },
                );
            }
        })
        .unwrap();
    let replies = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(replies, (0..100).map(|i| i * 2).collect::<Vec<u32>>());
    let (stx, srx) = mpsc::channel();
    rt.shard(1)
        .submit(move |lp| stx.send(lp.stats()).unwrap())
        .unwrap();
    let remote = srx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(remote.cross_shard_calls, 100);
    assert_eq!(
        remote.cross_shard_batches, 1,
        "one message for the 100 calls"
    );
    let (stx, srx) = mpsc::channel();
    rt.shard(0)
        .submit(move |lp| stx.send(lp.stats()).unwrap())
        .unwrap();
    let home = srx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(home.cross_shard_calls, 100, "the 100 replies");
    assert_eq!(home.cross_shard_batches, 1, "came back as one message");
    rt.shutdown(Duration::from_secs(1)).unwrap();
}

#[test]
fn a_panicking_call_costs_only_its_own_reply() {
    let rt = runtime(2);
    let (tx, rx) = mpsc::channel();
    rt.shard(0)
        .submit(move |lp| {
            for i in 0..3u32 {
                let tx = tx.clone();
                lp.call_on(
                    1,
                    move |_| {
                        assert!(i != 1, "request {i} fails");
                        i
                    },
                    move |_, r| tx.send(r).unwrap(),
                );
            }
        })
        .unwrap();
    let mut got = vec![
        rx.recv_timeout(DEADLINE).unwrap(),
        rx.recv_timeout(DEADLINE).unwrap(),
    ];
    got.sort();
    assert_eq!(got, vec![0, 2]);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    // Both shards still serve.
    let (tx, rx) = mpsc::channel();
    rt.shard(0)
        .submit(move |lp| lp.call_on(1, |_| 7, move |_, r| tx.send(r).unwrap()))
        .unwrap();
    assert_eq!(rx.recv_timeout(DEADLINE).unwrap(), 7);
    rt.shutdown(Duration::from_secs(1)).unwrap();
}

#[test]
fn a_loop_of_its_own_is_shard_zero_of_one_and_calls_itself_on_the_next_iteration() {
    let mut lp = shardloop::EventLoop::new().unwrap();
    assert_eq!((lp.shard_id(), lp.shard_count()), (None, 1));
    let got = std::rc::Rc::new(std::cell::Cell::new(0));
    let g = got.clone();
    lp.call_on(
        0,
        |_| 41,
        move |lp, r| {
            g.set(r + 1);
            lp.stop();
        },
    );
    assert_eq!(got.get(), 0, "not inside call_on");
    lp.run_forever().unwrap();
    assert_eq!(got.get(), 42);
}

#[test]
fn posts_to_a_shard_keep_their_order_through_a_full_mailbox() {
    use std::sync::{Arc, Mutex};
    const POSTS: u64 = 12_000;
    let rt = runtime(2);
    let seen = Arc::new(Mutex::new(Vec::with_capacity(POSTS as usize)));
    // Shard 1 blocks until shard 0 has filled its mailbox (4,096 batches),
    // then drains it while shard 0 goes on posting.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    rt.shard(1)
        .submit(move |_| {
            let _ = go_rx.recv_timeout(DEADLINE);
        })
        .unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    fn step(
        lp: &mut shardloop::EventLoop,
        n: u64,
        seen: Arc<Mutex<Vec<u64>>>,
        go: Option<mpsc::Sender<()>>,
        done: mpsc::Sender<()>,
    ) {
        if n == POSTS {
            // The last one tells.
            lp.post(1, move |_| done.send(()).unwrap());
            return;
        }
        let s = Arc::clone(&seen);
        lp.post(1, move |_| s.lock().unwrap().push(n));
        let go = match go {
            Some(g) if n == 6_000 => {
                g.send(()).unwrap();
                None
            }
            g => g,
        };
        // One post per iteration: one batch each.
        lp.call_soon(move |lp| step(lp, n + 1, seen, go, done));
    }
    let s = Arc::clone(&seen);
    rt.shard(0)
        .submit(move |lp| step(lp, 0, s, Some(go_tx), done_tx))
        .unwrap();
    done_rx.recv_timeout(DEADLINE).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, POSTS, "every post ran once");
    assert!(
        seen.iter().copied().eq(0..POSTS),
        "posts ran out of order: first out of place at {:?}",
        seen.iter().zip(0..).find(|(a, b)| **a != *b)
    );
    rt.shutdown(Duration::from_secs(1)).unwrap();
}
