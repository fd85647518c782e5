//! Tasks on a shard: `spawn_local`, `run_until_complete`, `sleep`,
//! `timeout`, join handles, cancellation, wakers from other threads,
//! panics, the budget that keeps I/O served, and cross-shard calls as
//! futures.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use shardloop::{EventLoop, Runtime, RuntimeConfig, TaskError};

#[test]
fn run_until_complete_returns_the_output_and_tasks_run_in_order_with_not_send_state() {
    let mut lp = EventLoop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new())); // !Send, and fine
    let (a, b) = (log.clone(), log.clone());
    let h = lp.spawn_local(async move {
        a.borrow_mut().push("first");
        7
    });
    let out = lp
        .run_until_complete(async move {
            b.borrow_mut().push("second");
            h.await.unwrap() * 6
        })
        .unwrap();
    assert_eq!(out, 42);
    assert_eq!(*log.borrow(), vec!["first", "second"]);
}

#[test]
fn sleep_and_timeout_run_on_the_loops_timers() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle().clone();
    let (slept, timed_out, in_time) = lp
        .run_until_complete(async move {
            let start = Instant::now();
            h.sleep(Duration::from_millis(50)).await;
            let slept = start.elapsed();
            let timed_out = h
                .timeout(
                    Duration::from_millis(20),
                    h.sleep(Duration::from_secs(3600)),
                )
                .await;
            let in_time = h.timeout(Duration::from_secs(3600), async { 5 }).await;
            (slept, timed_out, in_time)
        })
        .unwrap();
    assert!(slept >= Duration::from_millis(50), "{slept:?}");
    assert_eq!(timed_out, Err(shardloop::Elapsed));
    assert_eq!(in_time, Ok(5));
}

#[test]
fn a_cancelled_task_is_never_polled_again_and_its_state_is_dropped() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle().clone();
    let polled = Rc::new(Cell::new(0));
    let dropped = Rc::new(Cell::new(false));
    struct Guard(Rc<Cell<bool>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let (p, d, h2) = (polled.clone(), dropped.clone(), h.clone());
    let task = lp.spawn_local(async move {
        let _g = Guard(d);
        loop {
            p.set(p.get() + 1);
            h2.sleep(Duration::from_millis(5)).await;
        }
    });
    let h3 = h.clone();
    lp.run_until_complete(async move { h3.sleep(Duration::from_millis(30)).await })
        .unwrap();
    assert!(polled.get() >= 2);
    task.cancel();
    let after = polled.get();
    lp.run_until_complete(async move { h.sleep(Duration::from_millis(30)).await })
        .unwrap();
    assert_eq!(polled.get(), after, "never polled after cancel");
    assert!(dropped.get(), "the task's state is dropped, on its shard");
}

#[test]
fn a_waker_used_from_another_thread_wakes_the_shard() {
    let mut lp = EventLoop::new().unwrap();
    let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::new(Mutex::new((false, None)));
    let s = Arc::clone(&slot);
    let other = std::thread::spawn(move || {
        // Wait until the task has parked its waker, then wake it from here.
        let start = Instant::now();
        loop {
            let mut g = s.lock().unwrap();
            if let Some(w) = g.1.take() {
                g.0 = true;
                drop(g);
                w.wake();
                return;
            }
            drop(g);
            assert!(start.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let s = Arc::clone(&slot);
    let woke = lp
        .run_until_complete(std::future::poll_fn(move |cx| {
            let mut g = s.lock().unwrap();
            if g.0 {
                Poll::Ready("woken across threads")
            } else {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }))
        .unwrap();
    assert_eq!(woke, "woken across threads");
    other.join().unwrap();
}

#[test]
fn a_panicking_task_reports_its_error_and_the_loop_serves_on() {
    let mut lp = EventLoop::new().unwrap();
    let h = lp.spawn_local(async {
        panic!("task bug");
    });
    let result: Result<(), TaskError> = lp.run_until_complete(h).unwrap();
    match result {
        Err(TaskError::Panicked(msg)) => assert!(msg.contains("task bug"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        lp.run_until_complete(async { 1 }).unwrap(),
        1,
        "the loop serves on"
    );
}

#[test]
fn a_task_that_never_yields_to_io_cannot_starve_the_loop() {
    let mut lp = EventLoop::new().unwrap();
    let spins = Rc::new(Cell::new(0u64));
    let s = spins.clone();
    // Wakes itself on every poll: always ready.
    let busy = lp.spawn_local(std::future::poll_fn(move |cx| {
        s.set(s.get() + 1);
        cx.waker().wake_by_ref();
        Poll::<()>::Pending
    }));
    // A timer still fires while it spins.
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    lp.call_later(Duration::from_millis(20), move |lp| {
        f.set(true);
        lp.stop();
    });
    lp.run_forever().unwrap();
    assert!(fired.get());
    assert!(spins.get() > 1);
    busy.cancel();
}

#[test]
fn a_cross_shard_call_is_a_future() {
    let mut config = RuntimeConfig::default();
    config.shards = 2;
    config.pin_cores = false;
    let rt = Runtime::start(config).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.shard(0)
        .submit(move |lp| {
            let h = lp.handle().clone();
            // Detached: it reports through the channel.
            drop(lp.spawn_local(async move {
                let on = h.call_on_async(1, |remote| remote.shard_id()).await;
                tx.send((on, h.shard_id())).unwrap();
            }));
        })
        .unwrap();
    let (ran_on, back_on) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!((ran_on, back_on), (Some(1), Some(0)));
    rt.shutdown(Duration::from_secs(1)).unwrap();
}
