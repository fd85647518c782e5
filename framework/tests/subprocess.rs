//! Child processes (T15, P9): `subprocess_exec` with the asyncio
//! `SubprocessProtocol` callbacks, in order, over real children.

mod util;

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;

use shardloop::{EventLoop, ExtraInfo, SubprocessPipes, SubprocessProtocol, SubprocessTransport};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sp {
    Made,
    Data(i32, Vec<u8>),
    PipeLost(i32, bool),
    Exited(Option<i32>),
    Lost,
}

type SLog = Rc<RefCell<Vec<Sp>>>;

/// Records every callback; writes `input` to stdin, then closes it, once
/// made.
struct Recorder {
    log: SLog,
    input: Option<Vec<u8>>,
}

impl SubprocessProtocol for Recorder {
    fn connection_made(&mut self, t: &mut SubprocessTransport) {
        self.log.borrow_mut().push(Sp::Made);
        if let Some(input) = self.input.take() {
            let stdin = t.get_pipe_transport(0).expect("stdin is piped");
            stdin.write(&input).unwrap();
            stdin.write_eof().unwrap();
        }
    }
    fn pipe_data_received(&mut self, _t: &mut SubprocessTransport, fd: i32, data: &[u8]) {
        let mut log = self.log.borrow_mut();
        match log.last_mut() {
            Some(Sp::Data(f, d)) if *f == fd => d.extend_from_slice(data),
            _ => log.push(Sp::Data(fd, data.to_vec())),
        }
    }
    fn pipe_connection_lost(
        &mut self,
        _t: &mut SubprocessTransport,
        fd: i32,
        error: Option<std::io::Error>,
    ) {
        self.log
            .borrow_mut()
            .push(Sp::PipeLost(fd, error.is_some()));
    }
    fn process_exited(&mut self, t: &mut SubprocessTransport) {
        self.log.borrow_mut().push(Sp::Exited(t.get_returncode()));
    }
    fn connection_lost(&mut self, t: &mut SubprocessTransport, _error: Option<std::io::Error>) {
        assert!(t.get_returncode().is_some(), "P9: lost only after the exit");
        self.log.borrow_mut().push(Sp::Lost);
    }
}

fn run(lp: &mut EventLoop, log: &SLog) {
    util::run_until(lp, |_| log.borrow().last() == Some(&Sp::Lost));
}

fn data(log: &[Sp], fd: i32) -> Vec<u8> {
    log.iter()
        .filter_map(|e| match e {
            Sp::Data(f, d) if *f == fd => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn p9_output_exit_code_and_the_order_of_callbacks() {
    let mut lp = EventLoop::new().unwrap();
    let log: SLog = Rc::default();
    let l = log.clone();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "printf out; printf err >&2; exit 3"]);
    let h = lp
        .subprocess_exec(
            move || Recorder {
                log: l,
                input: None,
            },
            cmd,
            SubprocessPipes::default(),
        )
        .unwrap();
    lp.with_subprocess(h, |_: &mut Recorder, t| {
        assert!(t.get_pid() > 0);
        assert_eq!(t.get_returncode(), None, "running");
        assert_eq!(
            t.get_extra_info("subprocess", None),
            Some(ExtraInfo::Subprocess(t.get_pid()))
        );
        assert!(t.get_pipe_transport(0).unwrap().can_write_eof());
        assert!(t.get_pipe_transport(3).is_none(), "only 0, 1 and 2");
    });
    run(&mut lp, &log);
    let l = log.borrow();
    assert_eq!(l[0], Sp::Made);
    assert_eq!(data(&l, 1), b"out");
    assert_eq!(data(&l, 2), b"err");
    assert!(l.contains(&Sp::Exited(Some(3))));
    for fd in 1..3 {
        let lost = l
            .iter()
            .position(|e| *e == Sp::PipeLost(fd, false))
            .unwrap();
        let last_data = l
            .iter()
            .rposition(|e| matches!(e, Sp::Data(f, _) if *f == fd))
            .unwrap();
        assert!(last_data < lost, "P9: a pipe's data comes before its end");
    }
    assert_eq!(l.last(), Some(&Sp::Lost), "P9: connection_lost last");
    assert_eq!(l.iter().filter(|e| **e == Sp::Lost).count(), 1);
    assert!(
        lp.with_subprocess(h, |_: &mut Recorder, _| ()).is_none(),
        "gone"
    );
}

#[test]
fn t15_stdin_written_from_connection_made_flows_through_cat() {
    let mut lp = EventLoop::new().unwrap();
    let log: SLog = Rc::default();
    let l = log.clone();
    let input = util::pattern(1 << 20);
    let i = input.clone();
    let pipes = SubprocessPipes {
        stderr: false,
        ..SubprocessPipes::default()
    };
    lp.subprocess_exec(
        move || Recorder {
            log: l,
            input: Some(i),
        },
        Command::new("cat"),
        pipes,
    )
    .unwrap();
    run(&mut lp, &log);
    let l = log.borrow();
    assert!(data(&l, 1) == input, "1 MiB through cat, intact");
    assert!(
        l.contains(&Sp::PipeLost(0, false)),
        "stdin closed after its flush"
    );
    assert!(l.contains(&Sp::Exited(Some(0))));
    assert!(
        !l.iter().any(|e| matches!(e, Sp::PipeLost(2, _))),
        "stderr not piped"
    );
}

#[test]
fn t15_terminate_kill_and_close_end_the_child_with_its_signal() {
    for how in ["terminate", "kill", "close"] {
        let mut lp = EventLoop::new().unwrap();
        let log: SLog = Rc::default();
        let l = log.clone();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let h = lp
            .subprocess_exec(
                move || Recorder {
                    log: l,
                    input: None,
                },
                cmd,
                SubprocessPipes::default(),
            )
            .unwrap();
        lp.with_subprocess(h, |_: &mut Recorder, t| match how {
            "terminate" => t.terminate().unwrap(),
            "kill" => t.kill().unwrap(),
            _ => {
                t.close();
                assert!(t.is_closing());
            }
        });
        run(&mut lp, &log);
        let want = if how == "kill" { -9 } else { -15 };
        assert!(
            log.borrow().contains(&Sp::Exited(Some(want))),
            "{how}: {:?}",
            log.borrow()
        );
    }
}

#[test]
fn a_missing_program_is_an_error_at_the_call() {
    let mut lp = EventLoop::new().unwrap();
    let log: SLog = Rc::default();
    let l = log.clone();
    let err = lp
        .subprocess_exec(
            move || Recorder {
                log: l,
                input: None,
            },
            Command::new("/nonexistent/program"),
            SubprocessPipes::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    // The error names the program, in plain words.
    assert!(
        err.to_string()
            .starts_with("cannot spawn /nonexistent/program: "),
        "{err}"
    );
    assert!(!err.to_string().contains("Os {"), "{err}");
    assert!(log.borrow().is_empty());
}

/// Panics on its first output.
struct Fragile(SLog);

impl SubprocessProtocol for Fragile {
    fn pipe_data_received(&mut self, _t: &mut SubprocessTransport, _fd: i32, _data: &[u8]) {
        panic!("protocol bug");
    }
    fn pipe_connection_lost(
        &mut self,
        _t: &mut SubprocessTransport,
        fd: i32,
        e: Option<std::io::Error>,
    ) {
        self.0.borrow_mut().push(Sp::PipeLost(fd, e.is_some()));
    }
    fn process_exited(&mut self, t: &mut SubprocessTransport) {
        self.0.borrow_mut().push(Sp::Exited(t.get_returncode()));
    }
    fn connection_lost(&mut self, _t: &mut SubprocessTransport, e: Option<std::io::Error>) {
        assert!(e.is_some(), "the panic is the cause");
        self.0.borrow_mut().push(Sp::Lost);
    }
}

#[test]
fn a_panic_in_a_subprocess_callback_kills_that_child_only() {
    let mut lp = EventLoop::new().unwrap();
    let log: SLog = Rc::default();
    let l = log.clone();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo hi; sleep 30"]);
    lp.subprocess_exec(move || Fragile(l), cmd, SubprocessPipes::default())
        .unwrap();
    // Another child on the same loop is unaffected.
    let other: SLog = Rc::default();
    let o = other.clone();
    let mut echo = Command::new("echo");
    echo.arg("fine");
    lp.subprocess_exec(
        move || Recorder {
            log: o,
            input: None,
        },
        echo,
        SubprocessPipes::default(),
    )
    .unwrap();
    run(&mut lp, &log);
    run(&mut lp, &other);
    assert!(
        log.borrow().contains(&Sp::Exited(Some(-9))),
        "killed: {:?}",
        log.borrow()
    );
    assert!(log.borrow().contains(&Sp::PipeLost(1, true)));
    assert_eq!(data(&other.borrow(), 1), b"fine\n");
}

/// Pauses reading the child's stdout from the start.
struct Paused(Recorder);

impl SubprocessProtocol for Paused {
    fn connection_made(&mut self, t: &mut SubprocessTransport) {
        t.get_pipe_transport(1).unwrap().pause_reading();
        self.0.connection_made(t);
    }
    fn pipe_data_received(&mut self, t: &mut SubprocessTransport, fd: i32, data: &[u8]) {
        self.0.pipe_data_received(t, fd, data);
    }
    fn pipe_connection_lost(
        &mut self,
        t: &mut SubprocessTransport,
        fd: i32,
        e: Option<std::io::Error>,
    ) {
        self.0.pipe_connection_lost(t, fd, e);
    }
    fn process_exited(&mut self, t: &mut SubprocessTransport) {
        self.0.process_exited(t);
    }
    fn connection_lost(&mut self, t: &mut SubprocessTransport, e: Option<std::io::Error>) {
        self.0.connection_lost(t, e);
    }
}

#[test]
fn t5_a_paused_stdout_holds_output_and_eof_until_resumed() {
    let mut lp = EventLoop::new().unwrap();
    let log: SLog = Rc::default();
    let l = log.clone();
    let mut cmd = Command::new("printf");
    cmd.arg("held");
    let h = lp
        .subprocess_exec(
            move || {
                Paused(Recorder {
                    log: l,
                    input: None,
                })
            },
            cmd,
            SubprocessPipes::default(),
        )
        .unwrap();
    // The child exits; its output waits in the pipe while reading is paused.
    util::run_until(&mut lp, |_| log.borrow().contains(&Sp::Exited(Some(0))));
    util::turn_for(&mut lp, std::time::Duration::from_millis(20));
    assert!(
        data(&log.borrow(), 1).is_empty(),
        "paused: {:?}",
        log.borrow()
    );
    assert!(
        !log.borrow().contains(&Sp::Lost),
        "P9: stdout is still open"
    );
    lp.with_subprocess(h, |_: &mut Paused, t| {
        t.get_pipe_transport(1).unwrap().resume_reading()
    });
    run(&mut lp, &log);
    let l = log.borrow();
    assert_eq!(data(&l, 1), b"held");
    assert!(l.contains(&Sp::PipeLost(1, false)));
    assert_eq!(l.last(), Some(&Sp::Lost));
}

#[test]
fn subprocess_shell_runs_a_pipeline_with_stdin_from_the_protocol() {
    let mut lp = EventLoop::new().unwrap();
    let log: SLog = Rc::default();
    let l = log.clone();
    lp.subprocess_shell(
        move || Recorder {
            log: l,
            input: Some(b"b\na\nc\n".to_vec()),
        },
        "sort | tr a-z A-Z; exit 7",
        SubprocessPipes::default(),
    )
    .unwrap();
    run(&mut lp, &log);
    let l = log.borrow();
    assert_eq!(data(&l, 1), b"A\nB\nC\n");
    assert!(l.contains(&Sp::Exited(Some(7))));
}
