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
