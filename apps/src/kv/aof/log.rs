//! One shard's append-only log ([`Log`]): what each write appends, the
//! group-commit sync, `everysec`'s background syncer, and the rewrite's
//! bookkeeping.

use super::*;

/// One shard's log.
pub(crate) struct Log {
    pub(super) settings: Settings,
    pub(super) prefix: String,
    pub(super) manifest: Manifest,
    pub(super) file: Arc<File>,
    /// Records not written yet.
    pub(super) buf: Vec<u8>,
    /// Written since the last sync.
    pub(super) unsynced: bool,
    /// Bytes in the base, and in the incremental files after it.
    pub(super) base_size: u64,
    pub(super) incr_size: u64,
    pub(super) next_seq: u64,
    pub(super) rewrite: Option<rewrite::Rewrite>,
    /// The last write error, while writes fail.
    pub(super) error: Option<String>,
    pub(super) lp: LoopHandle,
}

impl Log {
    /// Whether write commands are refused (a write to the log failed).
    pub fn refusing(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Before a write command runs: a rewrite writes the old state of the
    /// keys it is about to change (see the module docs).
    pub fn before(&mut self, db: &Db, spec: &Spec, a: &Args<'_>) {
        if let Some(rw) = &mut self.rewrite {
            if spec.write {
                for i in super::super::cmd::key_positions(spec, a) {
                    rw.touch(db, a.get(i));
                }
            }
        }
    }

    /// After a command ran on the shard: its record, as its spec says, if
    /// it is a write that succeeded; and a `DEL` for each key expiry
    /// removed meanwhile.
    pub fn after(&mut self, db: &mut Db, spec: &Spec, a: &Args<'_>, reply: &[u8]) {
        self.evictions(db);
        if !spec.write || reply.first() == Some(&b'-') {
            return;
        }
        let key = || a.get(1);
        match spec.log {
            LogForm::Verbatim => format::command(&mut self.buf, (0..a.len()).map(|i| a.get(i))),
            LogForm::Value => format::key_state(&mut self.buf, key(), db.peek(key())),
            LogForm::Expiry => format::expiry(&mut self.buf, key(), db.peek(key())),
            LogForm::Keys => {
                for i in super::super::cmd::key_positions(spec, a) {
                    format::key_state(&mut self.buf, a.get(i), db.peek(a.get(i)));
                }
            }
            LogForm::Popped => {
                let members = format::bulk_strings(reply);
                if !members.is_empty() {
                    let args = [b"SREM".as_slice(), key()].into_iter().chain(members);
                    let args: Vec<&[u8]> = args.collect();
                    format::command(&mut self.buf, args.into_iter());
                }
            }
        }
    }

    /// A `DEL` for every key expiry removed since the last call.
    pub fn evictions(&mut self, db: &mut Db) {
        for k in db.evicted.drain(..) {
            format::del(&mut self.buf, &k);
        }
    }

    /// FLUSHDB/FLUSHALL, before the shard's keys are cleared.
    pub fn flush(&mut self, db: &mut Db) {
        self.evictions(db);
        if let Some(rw) = &mut self.rewrite {
            rw.touch_all(db);
        }
        format::command(&mut self.buf, [b"FLUSHALL".as_slice()].into_iter());
    }

    /// A multi-shard transaction's write-back on this shard: `apply` puts
    /// the keys back; each key's state is logged, all inside MULTI/EXEC.
    pub fn write_back(
        &mut self,
        db: &mut Db,
        flushed: bool,
        keys: &[Vec<u8>],
        apply: impl FnOnce(&mut Db),
    ) {
        self.evictions(db);
        if keys.is_empty() && !flushed {
            return apply(db);
        }
        if let Some(rw) = &mut self.rewrite {
            if flushed {
                rw.touch_all(db);
            }
            for k in keys {
                rw.touch(db, k);
            }
        }
        format::command(&mut self.buf, [b"MULTI".as_slice()].into_iter());
        if flushed {
            format::command(&mut self.buf, [b"FLUSHALL".as_slice()].into_iter());
        }
        apply(db);
        for k in keys {
            format::key_state(&mut self.buf, k, db.peek(k));
        }
        format::command(&mut self.buf, [b"EXEC".as_slice()].into_iter());
    }

    /// Writes what is recorded (and syncs it with `always`): called before
    /// replies leave the shard. Starts a rewrite when the log grew enough.
    pub fn sync(&mut self) {
        self.write_buffer();
        self.maybe_rewrite();
    }

    fn write_buffer(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match (&*self.file).write_all(&self.buf) {
            Ok(()) => {
                self.incr_size += self.buf.len() as u64;
                self.buf.clear();
                self.error = None;
                if self.settings.fsync == Fsync::Always {
                    if let Err(e) = self.file.sync_data() {
                        self.fatal(&e);
                    }
                } else {
                    self.unsynced = true;
                }
            }
            Err(e) => {
                if self.settings.fsync == Fsync::Always {
                    self.fatal(&e);
                }
                if self.error.is_none() {
                    tracing::error!(prefix = %self.prefix, "kv: cannot write the append-only log: {e}; write commands are refused until it can");
                }
                self.error = Some(e.to_string());
            }
        }
    }

    /// `always` cannot acknowledge what it could not write: stop, as
    /// Redis does.
    fn fatal(&self, e: &io::Error) -> ! {
        tracing::error!(prefix = %self.prefix, "kv: cannot write the append-only log with appendfsync always: {e}; stopping");
        std::process::exit(1);
    }

    /// Once a second: write what expiry logged, and hand the file to the
    /// sync thread (`everysec`).
    pub(super) fn tick(&mut self, db: &mut Db) {
        self.evictions(db);
        self.sync();
        if self.unsynced && self.settings.fsync == Fsync::Everysec {
            self.unsynced = false;
            syncer().send(Arc::clone(&self.file));
        }
    }

    /// Redis's automatic rewrite rule.
    fn maybe_rewrite(&mut self) {
        let s = &self.settings;
        if self.rewrite.is_none()
            && s.auto_percentage > 0
            && self.incr_size >= s.auto_min_size
            && self.incr_size * 100 >= self.base_size.max(1) * s.auto_percentage
        {
            self.lp.call_soon(|lp| start_rewrite(lp.handle()));
        }
    }

    /// INFO's persistence figures: a rewrite runs, the base's bytes, the
    /// bytes of the base and the incremental files, a write failed.
    pub fn info(&self) -> [u64; 4] {
        [
            self.rewrite.is_some() as u64,
            self.base_size,
            self.base_size + self.incr_size,
            self.error.is_some() as u64,
        ]
    }

    pub(super) fn file_path(&self, f: &FileInfo) -> PathBuf {
        self.settings.dir.join(&f.name)
    }
}

impl Drop for Log {
    /// A shard stopping writes and syncs its log; the last one lets the
    /// folder's lock go (a takeover's new server is waiting for it).
    fn drop(&mut self) {
        // (No rewrite is started: the loop is going.)
        self.write_buffer();
        let _ = self.file.sync_data();
        if OPEN.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(g) = &mut *GLOBAL.lock() {
                g.lock = None;
            }
            tracing::info!("kv: append-only logs synced and closed");
        }
    }
}

/// The `everysec` sync thread's queue.
pub(super) struct Syncer(crossbeam_channel::Sender<Arc<File>>);

impl Syncer {
    fn send(&self, f: Arc<File>) {
        let _ = self.0.send(f);
    }
}

pub(super) fn syncer() -> &'static Syncer {
    static SYNCER: OnceLock<Syncer> = OnceLock::new();
    SYNCER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Arc<File>>();
        let _ = std::thread::Builder::new()
            .name("kv-aof-fsync".into())
            .spawn(move || {
                for f in rx {
                    if let Err(e) = f.sync_data() {
                        tracing::error!("kv: fsync of the append-only log failed: {e}");
                    }
                }
            });
        Syncer(tx)
    })
}
