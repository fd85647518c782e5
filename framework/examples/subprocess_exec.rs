//! A child process through a `SubprocessProtocol`, as asyncio's
//! `loop.subprocess_exec` with a protocol: run a command, feed its stdin,
//! print what it writes and how it exits.
//!
//! `cargo run --release -p shardloop --example subprocess_exec [-- PROGRAM ARGS...]`
//! (default: `sort`, fed three lines).

use std::io;
use std::process::Command;

use shardloop::{EventLoop, SubprocessPipes, SubprocessProtocol, SubprocessTransport};

struct Show;

impl SubprocessProtocol for Show {
    fn connection_made(&mut self, transport: &mut SubprocessTransport) {
        println!("Started pid {}", transport.get_pid());
        if let Some(stdin) = transport.get_pipe_transport(0) {
            let _ = stdin.write(b"pear\napple\nfig\n");
            // Closing stdin tells the child its input is complete.
            let _ = stdin.write_eof();
        }
    }

    fn pipe_data_received(&mut self, _t: &mut SubprocessTransport, fd: i32, data: &[u8]) {
        let name = if fd == 1 { "stdout" } else { "stderr" };
        print!("{name}: {}", String::from_utf8_lossy(data));
    }

    fn process_exited(&mut self, transport: &mut SubprocessTransport) {
        match transport.get_returncode() {
            Some(code) => println!("Exited with {code}"),
            None => println!("Exited"),
        }
    }

    fn connection_lost(&mut self, transport: &mut SubprocessTransport, _error: Option<io::Error>) {
        transport.get_loop().stop();
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut command = Command::new(args.next().unwrap_or_else(|| "sort".into()));
    command.args(args);
    let mut lp = EventLoop::new()?;
    lp.subprocess_exec(|| Show, command, SubprocessPipes::default())?;
    lp.run_forever()
}
