//! Loading a shard's logs at start, and the layout file that says how many
//! shards wrote them.

use std::path::Path;

use shardloop::EventLoop;

use super::format::{self, FileInfo, Manifest};
use super::{open_log, Settings};
use crate::kv::cmd::{self, Args, Kind};
use crate::kv::db::Db;
use crate::kv::resp::{self, Parse};

const LAYOUT: &str = "kv.layout";

/// The shard count the logs in `dir` were written with (`None`: no logs).
pub fn read_layout(dir: &Path) -> Result<Option<usize>, String> {
    let path = dir.join(LAYOUT);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .strip_prefix("shards ")
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .map(Some)
            .ok_or_else(|| format!("{}: not `shards N`", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Removes what a rewrite cut short by a crash left (`*.tmp`).
pub fn remove_temporaries(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "tmp") {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Writes the layout for `n` shards, then removes the files of the
/// layout `old` it replaces.
pub fn commit_layout(dir: &Path, n: usize, old: Option<usize>) -> Result<(), String> {
    format::write_atomically(&dir.join(LAYOUT), format!("shards {n}\n").as_bytes())
        .map_err(|e| format!("{}: {e}", dir.join(LAYOUT).display()))?;
    if let Some(old) = old.filter(|&o| o != n) {
        for k in 0..old {
            let manifest = dir.join(format!("{}.manifest", Settings::prefix(k, old)));
            if let Ok(m) = read_manifest(&manifest) {
                for f in &m.files {
                    let _ = std::fs::remove_file(dir.join(&f.name));
                }
            }
            let _ = std::fs::remove_file(&manifest);
        }
    }
    Ok(())
}

fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads shard `k` of `n` from the logs of `old` shards (see the module
/// docs), opens its log, and returns how many keys it holds.
pub fn load_shard(
    lp: &mut EventLoop,
    settings: &Settings,
    k: usize,
    n: usize,
    old: Option<usize>,
) -> Result<usize, String> {
    let prefix = Settings::prefix(k, n);
    let mut db = Db::default();
    let (manifest, sizes) = match old {
        Some(old) if old == n => {
            let path = settings.manifest_path(k, n);
            let manifest = read_manifest(&path)?;
            let sizes = replay_manifest(&settings.dir, &manifest, &mut db)?;
            (manifest, sizes)
        }
        _ => {
            // A new folder, or another shard count: this shard's keys from
            // every old log, written as a new base.
            for j in 0..old.unwrap_or(0) {
                let manifest = read_manifest(&settings.manifest_path(j, old.unwrap_or(0)))?;
                let mut theirs = Db::default();
                replay_manifest(&settings.dir, &manifest, &mut theirs)?;
                theirs.move_into(&mut db, |key| crate::kv::owner(key, n) == k);
            }
            let manifest = write_base(&settings.dir, &prefix, &db)
                .map_err(|e| format!("{}: {e}", settings.dir.display()))?;
            let base = std::fs::metadata(settings.dir.join(&manifest.files[0].name))
                .map_or(0, |m| m.len());
            (manifest, (base, 0))
        }
    };
    let keys = db.len();
    let log =
        open_log(lp.handle(), settings, prefix, manifest, sizes).map_err(|e| e.to_string())?;
    db.track_evictions = true;
    crate::kv::install(db, log);
    Ok(keys)
}

/// A first base of `db` (seq 1), an empty incremental file, and their
/// manifest.
fn write_base(dir: &Path, prefix: &str, db: &Db) -> std::io::Result<Manifest> {
    let base = FileInfo {
        name: format!("{prefix}.1.base.aof"),
        seq: 1,
        kind: 'b',
    };
    let incr = FileInfo {
        name: format!("{prefix}.1.incr.aof"),
        seq: 1,
        kind: 'i',
    };
    let mut out = Vec::new();
    for (key, e) in db.entries() {
        format::key_state(&mut out, key, Some(e));
    }
    format::write_atomically(&dir.join(&base.name), &out)?;
    format::write_atomically(&dir.join(&incr.name), b"")?;
    let manifest = Manifest {
        files: vec![base, incr],
    };
    manifest.store(&dir.join(format!("{prefix}.manifest")))?;
    Ok(manifest)
}

/// Replays every file of `manifest` into `db`; returns the base's size and
/// the incremental files' sizes.
fn replay_manifest(dir: &Path, manifest: &Manifest, db: &mut Db) -> Result<(u64, u64), String> {
    let (mut base, mut incr) = (0, 0);
    let last = manifest.files.len().saturating_sub(1);
    for (i, f) in manifest.files.iter().enumerate() {
        let path = dir.join(&f.name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // Redis creates an incremental file lazily: a missing last
            // one is empty.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && i == last && f.kind == 'i' => {
                Vec::new()
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let good = replay(&bytes, db)
            .map_err(|(at, why)| format!("{}: corrupt at byte {at}: {why}", path.display()))?;
        if good < bytes.len() {
            if i != last {
                return Err(format!(
                    "{}: cut short at byte {good}, and it is not the last file",
                    path.display()
                ));
            }
            tracing::warn!(
                file = %path.display(),
                at = good,
                lost = bytes.len() - good,
                "kv: the append-only log ends in an incomplete command (a crash): loaded up to it and truncated there"
            );
            let f = std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(good as u64).and_then(|()| f.sync_all()))
                .map_err(|e| format!("{}: {e}", path.display()));
            f?;
        }
        let size = good as u64;
        if f.kind == 'b' {
            base += size;
        } else {
            incr += size;
        }
    }
    Ok((base, incr))
}

/// Replays the commands of `bytes` into `db` with expiry off (the time is
/// 0). Returns how many bytes hold complete commands (an unfinished
/// MULTI/EXEC at the end is not counted), or the offset and reason of
/// what cannot be read.
pub fn replay(bytes: &[u8], db: &mut Db) -> Result<usize, (usize, String)> {
    let mut at = 0;
    let mut good = 0;
    let mut ranges = Vec::new();
    let mut scratch = Vec::new();
    let mut out = Vec::new();
    let mut multi: Option<Vec<cmd::OwnedArgs>> = None;
    while at < bytes.len() {
        if bytes[at] != b'*' {
            return Err((at, format!("expected '*', got byte {:#04x}", bytes[at])));
        }
        let consumed = match resp::parse(&bytes[at..], &mut ranges, &mut scratch) {
            Parse::Request { consumed } => consumed,
            Parse::Incomplete => break,
            Parse::Empty { .. } => return Err((at, "an empty command".into())),
            Parse::Inline { .. } => return Err((at, "not a RESP array".into())),
            Parse::Error(e) => return Err((at, String::from_utf8_lossy(&e.message()).into())),
        };
        let a = Args {
            buf: &bytes[at..],
            ranges: &ranges,
        };
        if a.is_empty() {
            return Err((at, "an empty command".into()));
        }
        let name = a.get(0).to_ascii_lowercase();
        match (name.as_slice(), &mut multi) {
            (b"multi", None) => multi = Some(Vec::new()),
            (b"exec", Some(_)) => {
                for c in multi.take().expect("in MULTI") {
                    apply(db, &c.args(), &mut out).map_err(|e| (at, e))?;
                }
            }
            (b"multi" | b"exec", _) => return Err((at, "MULTI/EXEC out of order".into())),
            (_, Some(queued)) => queued.push(cmd::OwnedArgs::from_args(&a)),
            (_, None) => apply(db, &a, &mut out).map_err(|e| (at, e))?,
        }
        at += consumed;
        if multi.is_none() {
            good = at;
        }
    }
    Ok(good)
}

/// Runs one logged command at time 0.
fn apply(db: &mut Db, a: &Args<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    let spec = cmd::lookup(a.get(0))
        .filter(|s| cmd::arity_ok(s, a.len()))
        .ok_or_else(|| {
            format!(
                "not a command kv runs: '{}'",
                String::from_utf8_lossy(&a.get(0)[..a.get(0).len().min(64)])
            )
        })?;
    match spec.kind {
        Kind::AllShards {
            gather: cmd::Gather::Flush,
            ..
        } => db.clear(),
        Kind::Keyed => {
            out.clear();
            cmd::exec(db, spec, a, 0, out);
        }
        // SELECT 0 (Redis writes one first), PING: nothing to do.
        Kind::Connection(_) => {}
        _ => return Err(format!("'{}' is not a command of a log", spec.name)),
    }
    Ok(())
}
