//! The connected clients, as CLIENT ID, CLIENT INFO and CLIENT LIST report
//! them: each connection shares one [`Client`] with its shard's registry,
//! so listing reads the registry and a command costs one store (its name)
//! and a read one more (its time).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::cmd::{Args, Msg};

/// Client ids, unique over the process and its shards, from 1 (Redis's).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One connection, as CLIENT LIST shows it.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: u64,
    addr: String,
    laddr: String,
    fd: i64,
    created_ms: u64,
    /// CLIENT SETNAME's name.
    pub(crate) name: RefCell<Option<Vec<u8>>>,
    /// When the client last sent something (loop clock, Unix ms).
    pub(crate) last_ms: Cell<u64>,
    /// The last command (Redis's full name, `client|list` for a
    /// subcommand).
    pub(crate) last_cmd: Cell<&'static str>,
    /// Commands queued in MULTI, or -1 outside one.
    pub(crate) multi: Cell<i64>,
    /// The protocol HELLO chose (2 or 3).
    pub(crate) resp: Cell<u8>,
}

impl Client {
    /// A new client, with the next id.
    pub(crate) fn new(t: &shardloop::Transport, now_ms: u64) -> Rc<Self> {
        let fd = match t.get_extra_info("socket", None) {
            Some(shardloop::ExtraInfo::Socket(fd)) => fd as i64,
            _ => -1,
        };
        let show = |a: Option<shardloop::Address>| a.map_or_else(String::new, |a| a.to_string());
        Rc::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            addr: show(t.peername()),
            laddr: show(t.sockname()),
            fd,
            created_ms: now_ms,
            name: RefCell::new(None),
            last_ms: Cell::new(now_ms),
            last_cmd: Cell::new("NULL"),
            multi: Cell::new(-1),
            resp: Cell::new(2),
        })
    }

    /// Its CLIENT LIST line, with Redis 7.0's fields in Redis's order (the
    /// memory and buffer fields kv does not track are 0).
    pub(crate) fn line(&self, now_ms: u64, out: &mut Vec<u8>) {
        let name = self.name.borrow();
        let multi = self.multi.get();
        let line = format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub=0 psub=0 ssub=0 multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={}\n",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(name.as_deref().unwrap_or_default()),
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_ms.get()) / 1000,
            if multi >= 0 { "x" } else { "N" },
            multi,
            self.last_cmd.get(),
            self.resp.get(),
        );
        out.extend_from_slice(line.as_bytes());
    }
}

/// CLIENT LIST's filters: `TYPE t` and `ID id…` (Redis 7.0's order of
/// checks and errors).
pub(crate) fn list_filter(a: &Args<'_>) -> Result<Filter, Msg> {
    let mut filter = Filter::default();
    if a.len() == 2 {
        return Ok(filter);
    }
    let opt = a.get(2).to_ascii_lowercase();
    match opt.as_slice() {
        b"type" if a.len() == 4 => {
            match a.get(3).to_ascii_lowercase().as_slice() {
                b"normal" => {}
                b"master" | b"replica" | b"slave" | b"pubsub" => filter.none = true,
                _ => {
                    let mut m = b"ERR Unknown client type '".to_vec();
                    m.extend_from_slice(a.get(3));
                    m.push(b'\'');
                    return Err(Msg(m));
                }
            }
            Ok(filter)
        }
        b"id" if a.len() >= 4 => {
            let mut ids = Vec::new();
            for i in 3..a.len() {
                match super::resp::string2ll(a.get(i)) {
                    Some(id) if id > 0 => ids.push(id as u64),
                    _ => return Err(Msg(b"ERR Invalid client ID".to_vec())),
                }
            }
            filter.ids = Some(ids);
            Ok(filter)
        }
        _ => Err(Msg(b"ERR syntax error".to_vec())),
    }
}

/// Which clients CLIENT LIST shows.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    /// A type kv has no clients of (master, replica, pubsub).
    none: bool,
    ids: Option<Vec<u64>>,
}

impl Filter {
    pub(crate) fn admits(&self, c: &Client) -> bool {
        !self.none && self.ids.as_ref().is_none_or(|ids| ids.contains(&c.id))
    }
}

/// The full name of a command as CLIENT LIST's `cmd=` shows it: a
/// subcommand of CLIENT, CONFIG or COMMAND joined with `|`.
pub(crate) fn full_name(name: &'static str, a: &Args<'_>) -> &'static str {
    if a.len() < 2 {
        return name;
    }
    let sub = a.get(1).to_ascii_lowercase();
    match (name, sub.as_slice()) {
        ("client", b"list") => "client|list",
        ("client", b"info") => "client|info",
        ("client", b"id") => "client|id",
        ("client", b"setname") => "client|setname",
        ("client", b"getname") => "client|getname",
        ("client", b"setinfo") => "client|setinfo",
        ("config", b"get") => "config|get",
        ("command", b"count") => "command|count",
        ("command", b"docs") => "command|docs",
        _ => name,
    }
}
