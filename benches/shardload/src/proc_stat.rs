//! A server's CPU time and context switches, read from `/proc`.

use anyhow::Context;

/// Cumulative figures of one process (all its threads).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// User plus system CPU time, in microseconds.
    pub cpu_us: f64,
    /// Voluntary plus involuntary context switches of all threads.
    pub ctx_switches: f64,
}

/// Reads `/proc/PID/stat` (utime, stime) and every thread's
/// `/proc/PID/task/TID/status` (context switches).
pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name may hold spaces: fields are counted after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let ticks: f64 = fields
        .get(11..13)
        .context("short /proc/PID/stat")?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    let mut ctx_switches = 0.0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread just ended
        };
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                ctx_switches += v.trim().parse::<f64>().unwrap_or(0.0);
            }
        }
    }
    Ok(Sample {
        cpu_us: ticks * 1e6 / clock_ticks_per_second(),
        ctx_switches,
    })
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture this runs on; `getconf`
    // confirms it when available.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
