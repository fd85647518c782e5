//! Pipe transports (L3): `connect_read_pipe` and `connect_write_pipe` over
//! the pipes of real child processes, with the stream contract where it
//! applies (T4 "pipe", T7, T13 as closing, P5, P8).

mod util;

use std::io::ErrorKind;
use std::process::{Command, Stdio};

use shardloop::{EventLoop, ExtraInfo};
use util::*;

#[test]
fn l3_a_read_pipe_delivers_a_childs_output_then_eof_and_lost() {
    let mut lp = EventLoop::new().unwrap();
    let mut child = Command::new("sh")
        .args(["-c", "printf hello; printf ' world'"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let log = new_log();
    let h = lp
        .connect_read_pipe(|| Probe::new(&log), child.stdout.take().unwrap())
        .unwrap();
    lp.with_transport(h, |t| {
        assert!(matches!(
            t.get_extra_info("pipe", None),
            Some(ExtraInfo::Pipe(_))
        ));
        assert_eq!(
            t.get_extra_info("socket", None),
            None,
            "a pipe is no socket"
        );
        assert_eq!(t.peername(), None);
    });
    run_until_log(&mut lp, &log, has_lost);
    let l = log.borrow();
    assert_eq!(received(&l), b"hello world");
    assert_eq!(l[0], Ev::Made);
    assert_eq!(&l[l.len() - 2..], &[Ev::Eof, Ev::Lost(None)]);
    assert!(child.wait().unwrap().success());
}

#[test]
fn l3_a_write_pipe_streams_megabytes_through_cat_with_flow_control_then_closes() {
    let mut lp = EventLoop::new().unwrap();
    let mut cat = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (wlog, rlog) = (new_log(), new_log());
    let w = lp
        .connect_write_pipe(|| Probe::new(&wlog), cat.stdin.take().unwrap())
        .unwrap();
    lp.connect_read_pipe(|| Probe::new(&rlog), cat.stdout.take().unwrap())
        .unwrap();
    const TOTAL: usize = 4 << 20;
    let data = pattern(TOTAL);
    lp.with_transport(w, |t| {
        assert!(t.can_write_eof(), "T7: write pipes can");
        t.write(&data).unwrap();
        // A pipe holds 64 KiB: the rest is queued, over the high mark.
        assert!(t.get_write_buffer_size() > 64 * 1024);
        // T13 on a pipe: flush, then close.
        t.write_eof().unwrap();
    });
    run_until_log(&mut lp, &rlog, has_lost);
    assert!(
        received(&rlog.borrow()) == data,
        "4 MiB through cat, intact"
    );
    run_until_log(&mut lp, &wlog, has_lost);
    let wl = wlog.borrow();
    assert_eq!(count(&wl, |e| matches!(e, Ev::Pause(_))), 1, "{wl:?}");
    assert_eq!(count(&wl, |e| matches!(e, Ev::Resume(_))), 1, "{wl:?}");
    assert_eq!(wl.last(), Some(&Ev::Lost(None)));
    assert_eq!(rlog.borrow().last(), Some(&Ev::Lost(None)));
    assert!(cat.wait().unwrap().success());
}

#[test]
fn l3_a_write_pipe_whose_reader_exits_reports_broken_pipe_only_with_data_queued() {
    let mut lp = EventLoop::new().unwrap();
    // A reader that takes 10 bytes and exits, with megabytes queued for it.
    let mut head = Command::new("head")
        .args(["-c", "10"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = new_log();
    let h = lp
        .connect_write_pipe(|| Probe::new(&log), head.stdin.take().unwrap())
        .unwrap();
    lp.with_transport(h, |t| t.write(&pattern(4 << 20)).unwrap());
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(
        log.borrow().last(),
        Some(&Ev::Lost(Some(ErrorKind::BrokenPipe)))
    );
    assert!(head.wait().unwrap().success());

    // A reader that exits with nothing queued for it: a plain close.
    let mut quiet = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let log = new_log();
    lp.connect_write_pipe(|| Probe::new(&log), quiet.stdin.take().unwrap())
        .unwrap();
    run_until_log(&mut lp, &log, has_lost);
    assert_eq!(*log.borrow(), vec![Ev::Made, Ev::Lost(None)]);
    assert!(quiet.wait().unwrap().success());
}
