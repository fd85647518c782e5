//! What a test takes from the machine, given back when the test process
//! exits, passed or failed: scratch folders are removed and child
//! processes still running are killed. Tools the tests run are looked up
//! first, so a missing one fails with its name and where it comes from,
//! not with an error that reads as if a file were missing. Shared by both
//! crates' tests (`apps/tests/common` includes this file).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, Once};

static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// Installs the exit hook, once per process.
pub fn clean_up_at_exit() {
    HOOK.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` that takes nothing.
        unsafe { libc::atexit(at_exit) };
    });
}

extern "C" fn at_exit() {
    kill_children();
    if let Ok(dirs) = DIRS.lock() {
        for d in dirs.iter() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// SIGKILLs every process whose parent is this one (a server a failed
/// test left running; a child already reaped has another parent or none).
fn kill_children() {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": comm may hold spaces and parentheses.
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat.get(i + 2..))
            .and_then(|rest| rest.split(' ').nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(me) {
            // SAFETY: plain kill(2) of this process's own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A fresh folder `shardloop-test-PID-TAG` under the temporary directory,
/// removed when this process exits.
pub fn scratch_dir(tag: &str) -> PathBuf {
    clean_up_at_exit();
    let dir = std::env::temp_dir().join(format!("shardloop-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    if !dirs.contains(&dir) {
        dirs.push(dir.clone());
    }
    dir
}

/// A `Command` for the external tool `name`, which must be on `PATH`:
/// otherwise the test fails saying that `name` is not installed and that
/// `.ci/run` installs it (the README's "Test it" lists every tool).
pub fn tool(name: &str) -> Command {
    clean_up_at_exit();
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(name)).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    });
    assert!(
        found,
        "`{name}` is not installed (`.ci/run` installs it; README.md, \"Test it\", lists every tool the tests need)"
    );
    Command::new(name)
}

/// Fails the test unless `python3` can import `module`, saying which
/// package is missing.
pub fn python_module(module: &str, package: &str) {
    let ok = tool("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the Python package `{package}` is not installed (`.ci/run` installs it with pip; README.md, \"Test it\", lists every tool the tests need)"
    );
}
