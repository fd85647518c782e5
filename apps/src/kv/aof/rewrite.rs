//! A rewrite in place, without fork: copy-on-write per key (see the module
//! docs of `aof`).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use super::format::{self, FileInfo, Manifest};
use super::{open_append, Log};
use crate::kv::db::{Db, Fx};

/// A rewrite under way.
pub struct Rewrite {
    /// The new base's sequence number (its incremental file's too).
    seq: u64,
    /// The new base, being written (`….base.aof.tmp`).
    tmp: File,
    buf: Vec<u8>,
    /// The keys held at the start, in the order the timer writes them.
    keys: Vec<Vec<u8>>,
    at: usize,
    /// Those of them not written yet.
    left: HashSet<Vec<u8>, Fx>,
    /// The manifest while it runs: the old files and the new incremental
    /// one.
    during: Manifest,
}

impl Rewrite {
    /// Starts: the log moves to a new incremental file, the manifest
    /// names it after the old ones, and the keys are listed.
    pub fn start(log: &mut Log, db: &mut Db) -> io::Result<Self> {
        log.evictions(db);
        log.sync();
        let seq = log.next_seq;
        let incr = FileInfo {
            name: format!("{}.{seq}.incr.aof", log.prefix),
            seq,
            kind: 'i',
        };
        let file = open_append(&log.file_path(&incr))?;
        let mut during = log.manifest.clone();
        during.files.push(incr);
        during.store(&log.settings.manifest_path_of(&log.prefix))?;
        log.next_seq += 1;
        log.file = Arc::new(file);
        log.manifest = during.clone();
        let tmp_path = log
            .settings
            .dir
            .join(format!("{}.{seq}.base.aof.tmp", log.prefix));
        let tmp = File::create(&tmp_path)?;
        let keys = db.key_list();
        let left = keys.iter().cloned().collect();
        tracing::info!(prefix = %log.prefix, keys = keys.len(), "kv: AOF rewrite started");
        Ok(Self {
            seq,
            tmp,
            buf: Vec::new(),
            keys,
            at: 0,
            left,
            during,
        })
    }

    /// A write is about to change `key`: if the rewrite has not written it
    /// yet, it writes the key as it is now (as it was at the start).
    pub fn touch(&mut self, db: &Db, key: &[u8]) {
        if self.left.remove(key) {
            format::key_state(&mut self.buf, key, db.peek(key));
        }
    }

    /// Every key is about to change (FLUSHALL): write them all now.
    pub fn touch_all(&mut self, db: &Db) {
        while self.at < self.keys.len() {
            let k = std::mem::take(&mut self.keys[self.at]);
            self.at += 1;
            self.touch(db, &k);
        }
    }

    /// Writes up to `budget` more keys; returns whether any are left.
    pub fn step(&mut self, db: &Db, budget: usize) -> io::Result<bool> {
        let end = (self.at + budget).min(self.keys.len());
        while self.at < end {
            let k = std::mem::take(&mut self.keys[self.at]);
            self.at += 1;
            if self.left.remove(&k) {
                if let Some(e) = db.peek(&k) {
                    format::key_state(&mut self.buf, &k, Some(e));
                }
            }
        }
        if self.buf.len() >= 64 << 10 || self.at == self.keys.len() {
            self.tmp.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(self.at < self.keys.len())
    }

    /// Every key is written: the base is synced and put in place, the
    /// manifest names it and the new incremental file, the old files go.
    pub fn finish(mut self, log: &mut Log) -> io::Result<()> {
        self.tmp.write_all(&self.buf)?;
        self.tmp.sync_all()?;
        let base = FileInfo {
            name: format!("{}.{}.base.aof", log.prefix, self.seq),
            seq: self.seq,
            kind: 'b',
        };
        let tmp_path = log.settings.dir.join(format!("{}.tmp", base.name));
        std::fs::rename(&tmp_path, log.file_path(&base))?;
        let incr = self.during.files.last().cloned().expect("the new incr");
        let old: Vec<FileInfo> = self.during.files[..self.during.files.len() - 1].to_vec();
        let manifest = Manifest {
            files: vec![base.clone(), incr.clone()],
        };
        manifest.store(&log.settings.manifest_path_of(&log.prefix))?;
        for f in &old {
            let _ = std::fs::remove_file(log.file_path(f));
        }
        log.base_size = std::fs::metadata(log.file_path(&base))?.len();
        log.incr_size = std::fs::metadata(log.file_path(&incr)).map_or(0, |m| m.len());
        log.manifest = manifest;
        tracing::info!(
            prefix = %log.prefix,
            keys = self.keys.len(),
            base_bytes = log.base_size,
            "kv: AOF rewrite done"
        );
        Ok(())
    }

    /// A rewrite that failed: its temporary base goes; the log goes on in
    /// the new incremental file, which the manifest names.
    pub fn abandon(self, log: &Log) {
        let _ = std::fs::remove_file(
            log.settings
                .dir
                .join(format!("{}.{}.base.aof.tmp", log.prefix, self.seq)),
        );
    }
}
