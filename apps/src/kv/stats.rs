//! Per-command counters for INFO commandstats: each shard counts the
//! commands its connections dispatch (calls), and those refused before
//! they ran (rejected: wrong arity, not allowed in subscribe mode), by the
//! command's place in [`cmd::COMMANDS`]. INFO adds the shards up.
//!
//! Not measured: the time each command takes (`usec`, a clock read per
//! command would cost more than many commands do) and `failed_calls`
//! (the reply may be computed on another shard); both are reported as 0.

use std::cell::RefCell;

use super::cmd;

thread_local! {
    /// [calls, rejected] per command.
    static STATS: RefCell<Vec<[u64; 2]>> = RefCell::new(vec![[0; 2]; cmd::COMMANDS.len()]);
}

/// Command `idx` was dispatched (or `rejected` before it ran).
#[inline]
pub fn count(idx: usize, rejected: bool) {
    STATS.with(|s| {
        if let Some(c) = s.borrow_mut().get_mut(idx) {
            c[rejected as usize] += 1;
        }
    });
}

/// A command put back to be handled again: its count is taken back.
pub fn uncount(name: &[u8]) {
    if let Some((idx, _)) = cmd::lookup_indexed(name) {
        STATS.with(|s| {
            if let Some(c) = s.borrow_mut().get_mut(idx) {
                c[0] = c[0].saturating_sub(1);
            }
        });
    }
}

/// This shard's counters, for INFO's gather: calls then rejected, per
/// command in table order.
pub fn snapshot() -> Vec<u64> {
    STATS.with(|s| {
        let s = s.borrow();
        s.iter()
            .map(|c| c[0])
            .chain(s.iter().map(|c| c[1]))
            .collect()
    })
}
