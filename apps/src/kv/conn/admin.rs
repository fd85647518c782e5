//! The commands about the connection and the server — PING, HELLO, SELECT,
//! QUIT, CLIENT, CONFIG, COMMAND and INFO — answered on the connection's
//! own shard.

use super::*;

/// The sections INFO gives without arguments (or with `default`), in
/// Redis's order; `all` and `everything` add `commandstats`.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "keyspace",
];

/// Where the per-command counters start in a shard's INFO part.
const STATS_AT: usize = 14;

/// Redis's `bytesToHuman`: B, K, M, G… with two decimals.
fn human(n: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", units[i])
    }
}

/// The text of INFO for the sections asked (lower case; none: the
/// default ones), with a line per shard where kv differs from Redis.
pub(super) fn info(parts: &[&[u8]], sections: &[String]) -> String {
    let per: Vec<Vec<u64>> = parts.iter().map(|p| read_u64s(p)).collect();
    let sum = |i: usize| {
        per.iter()
            .map(|v| v.get(i).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let all = sections.iter().any(|s| s == "all" || s == "everything");
    let default = sections.is_empty() || sections.iter().any(|s| s == "default");
    let want = |s: &str| {
        all || (default && DEFAULT_SECTIONS.contains(&s)) || sections.iter().any(|x| x == s)
    };
    let mut text = String::new();
    if want("server") {
        text += &format!(
            "# Server\r\nredis_version:7.0.15\r\nkv_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\nshards:{}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            parts.len()
        );
    }
    if want("clients") {
        text += &format!(
            "# Clients\r\nconnected_clients:{}\r\nblocked_clients:{}\r\ntotal_blocking_keys:{}\r\ntotal_watched_keys:{}\r\n\r\n",
            sum(5),
            sum(10),
            sum(11),
            sum(12)
        );
    }
    if want("memory") {
        let rss = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * 4096);
        // The counted heap (see `crate::memory`), else the resident size.
        let used = if crate::memory::installed() {
            crate::memory::used()
        } else {
            rss
        };
        let max = crate::kv::evict::maxmemory();
        text += &format!(
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\r\n",
            human(used),
            human(rss),
            human(max),
            crate::kv::evict::policy().name()
        );
    }
    if want("persistence") {
        let enabled = super::super::aof::enabled();
        text += &format!(
            "# Persistence\r\nloading:0\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_last_write_status:{}\r\n",
            enabled as u8,
            (sum(6) > 0) as u8,
            if sum(9) > 0 { "err" } else { "ok" },
        );
        if enabled {
            text += &format!(
                "aof_current_size:{}\r\naof_base_size:{}\r\n",
                sum(8),
                sum(7)
            );
        }
        text += "\r\n";
    }
    if want("stats") {
        text += &format!(
            "# Stats\r\ntotal_commands_processed:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkv_cross_shard_hops:{}\r\n",
            sum(2),
            sum(4),
            sum(13),
            sum(3)
        );
        for (k, v) in per.iter().enumerate() {
            text += &format!(
                "kv_shard{k}:keys={},commands={},hops={}\r\n",
                v.first().unwrap_or(&0),
                v.get(2).unwrap_or(&0),
                v.get(3).unwrap_or(&0)
            );
        }
        text += "\r\n";
    }
    if want("replication") {
        // No replicas: a master of none.
        text += "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\nrepl_backlog_active:0\r\n\r\n";
    }
    if want("cpu") {
        let (user, sys) = cpu_seconds(libc::RUSAGE_SELF);
        let (cuser, csys) = cpu_seconds(libc::RUSAGE_CHILDREN);
        text += &format!(
            "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\nused_cpu_user_children:{cuser:.6}\r\n\r\n"
        );
    }
    if want("commandstats") {
        text += "# Commandstats\r\n";
        let n = cmd::COMMANDS.len();
        for (i, spec) in cmd::COMMANDS.iter().enumerate() {
            let (calls, rejected) = (sum(STATS_AT + i), sum(STATS_AT + n + i));
            if calls + rejected > 0 {
                text += &format!(
                    "cmdstat_{}:calls={calls},usec=0,usec_per_call=0.00,rejected_calls={rejected},failed_calls=0\r\n",
                    spec.name
                );
            }
        }
        text += "\r\n";
    }
    if want("keyspace") {
        text += "# Keyspace\r\n";
        if sum(0) > 0 {
            text += &format!("db0:keys={},expires={},avg_ttl=0\r\n", sum(0), sum(1));
        }
    }
    text
}

/// User and system CPU seconds of this process (`who`: RUSAGE_SELF) or
/// its waited-for children.
fn cpu_seconds(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage writes a whole rusage into the zeroed struct we
    // own; `who` is one of the two values it accepts.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(u.ru_utime), secs(u.ru_stime))
}

impl KvConn {
    pub(super) fn connection_command(
        &mut self,
        t: &mut Transport,
        c: ConnCmd,
        spec: &Spec,
        a: &Args<'_>,
    ) {
        match c {
            ConnCmd::Subscribe => self.subscribe(t, a, false),
            ConnCmd::Psubscribe => self.subscribe(t, a, true),
            ConnCmd::Unsubscribe => self.unsubscribe(t, a, false),
            ConnCmd::Punsubscribe => self.unsubscribe(t, a, true),
            ConnCmd::Publish => self.gather_all(t, &cmd::PUBLISH, Gather::Publish, a),
            ConnCmd::Pubsub => self.pubsub(t, a),
            // In subscribe mode PING answers ["pong", message].
            ConnCmd::Ping if self.proto == 2 && self.subscribed() && a.len() <= 2 => {
                let msg = if a.len() == 2 { a.get(1) } else { b"" };
                self.ready(|out| {
                    reply::array(out, 2);
                    reply::bulk(out, b"pong");
                    reply::bulk(out, msg);
                })
            }
            ConnCmd::Ping => match a.len() {
                1 => self.ready(|out| reply::simple(out, "PONG")),
                2 => self.ready(|out| reply::bulk(out, a.get(1))),
                _ => self.error(&cmd::arity_error(spec)),
            },
            ConnCmd::Echo => self.ready(|out| reply::bulk(out, a.get(1))),
            ConnCmd::Hello => {
                let proto = if a.len() > 1 {
                    match super::super::resp::string2ll(a.get(1)) {
                        None => {
                            return self
                                .error("ERR Protocol version is not an integer or out of range")
                        }
                        Some(p @ 2..=3) => p as u8,
                        Some(_) => return self.error("NOPROTO unsupported protocol version"),
                    }
                } else {
                    self.proto
                };
                if a.len() > 2 {
                    return self.error("ERR kv supports HELLO [2|3] without AUTH or SETNAME");
                }
                // The reply is in the protocol it asks for.
                self.proto = proto;
                reply::set_protocol(proto);
                if let Some(c) = &self.client {
                    c.resp.set(proto);
                }
                let id = self.client.as_ref().map_or(0, |c| c.id) as i64;
                self.ready(|out| {
                    reply::map(out, 7);
                    for (k, v) in [("server", "redis"), ("version", "7.0.15")] {
                        reply::bulk(out, k.as_bytes());
                        reply::bulk(out, v.as_bytes());
                    }
                    reply::bulk(out, b"proto");
                    reply::int(out, proto as i64);
                    reply::bulk(out, b"id");
                    reply::int(out, id);
                    for (k, v) in [("mode", "standalone"), ("role", "master")] {
                        reply::bulk(out, k.as_bytes());
                        reply::bulk(out, v.as_bytes());
                    }
                    reply::bulk(out, b"modules");
                    reply::array(out, 0);
                });
            }
            ConnCmd::Select => {
                let mut out = Vec::new();
                match cmd::select(a, &mut out) {
                    Ok(()) => self.ready(|o| o.extend_from_slice(&out)),
                    Err(e) => self.error(&String::from_utf8_lossy(&e.0)),
                }
            }
            ConnCmd::Quit => {
                self.ready(reply::ok);
                self.closing = true;
            }
            ConnCmd::Client => self.client(t, a),
            ConnCmd::Command => {
                let sub = (a.len() > 1).then(|| a.get(1).to_ascii_lowercase());
                match sub.as_deref() {
                    Some(b"count") => {
                        let n = cmd::COMMANDS.len() as i64;
                        self.ready(|out| reply::int(out, n))
                    }
                    // redis-cli asks for COMMAND DOCS to offer hints: none.
                    _ => self.ready(|out| reply::array(out, 0)),
                }
            }
            ConnCmd::Config => self.config(t, a),
            ConnCmd::Debug => self.debug(t, a),
            ConnCmd::Watch => {
                // Later commands wait until every owner of the keys knows
                // (a write of this connection's after WATCH touches them).
                let keys: Vec<Vec<u8>> = a.iter_from(1).map(<[u8]>::to_vec).collect();
                let to = self.slot(t, Slot::Waiting);
                self.barrier = Some(to.seq);
                self.send_outgoing(t);
                let w = self.watch.get_or_insert_with(Default::default);
                crate::kv::watch::watch(t.get_loop(), w, keys, to);
            }
            ConnCmd::Unwatch => {
                self.unwatch(t);
                self.ready(reply::ok);
            }
            ConnCmd::Memory => match a.get(1).to_ascii_lowercase().as_slice() {
                b"usage" if a.len() >= 3 => self.keyed(t, &cmd::MEMORY_USAGE, a),
                _ => {
                    let msg = format!(
                        "ERR unknown subcommand or wrong number of arguments for '{}'. Try MEMORY HELP.",
                        String::from_utf8_lossy(a.get(1))
                    );
                    self.error(&msg)
                }
            },
            ConnCmd::Time => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                self.ready(|out| {
                    reply::array(out, 2);
                    reply::bulk(out, now.as_secs().to_string().as_bytes());
                    reply::bulk(out, now.subsec_micros().to_string().as_bytes());
                });
            }
            ConnCmd::Function => {
                // kv has no scripting: nothing to flush, nothing to list.
                match a.get(1).to_ascii_lowercase().as_slice() {
                    b"flush" if a.len() <= 3 => self.ready(reply::ok),
                    b"list" => self.ready(|out| reply::array(out, 0)),
                    _ => self.error("ERR kv has no functions (no scripting)"),
                }
            }
        }
    }

    /// The DEBUG subcommands clients and Redis's tests use: SLEEP answers
    /// after the time (this connection only: the shard serves on),
    /// SET-ACTIVE-EXPIRE turns the expiry sweep off and on, and those about
    /// Redis's internals (RELOAD and LOADAOF, which keep the keyspace as it
    /// is — what reloading the dataset gives —,
    /// QUICKLIST-PACKED-THRESHOLD, CHANGE-REPL-ID, JMAP,
    /// STRINGMATCH-LEN) are accepted and change nothing.
    fn debug(&mut self, t: &mut Transport, a: &Args<'_>) {
        let sub = a.get(1).to_ascii_lowercase();
        match (sub.as_slice(), a.len()) {
            (b"sleep", 3) => {
                let Some(secs) = crate::kv::float::parse(a.get(2)).filter(|s| s.is_finite()) else {
                    return self.error("ERR value is not a valid float");
                };
                let to = self.slot(t, Slot::Waiting);
                let delay = std::time::Duration::from_secs_f64(secs.clamp(0.0, 3600.0));
                t.get_loop().call_later(delay, move |lp| {
                    let mut out = Vec::new();
                    reply::set_protocol(to.proto);
                    reply::ok(&mut out);
                    crate::kv::deliver(lp, to, out);
                });
            }
            (b"object", 3) => self.keyed(t, &cmd::DEBUG_OBJECT, a),
            (b"protocol", 3) => {
                let name = a.get(2).to_ascii_lowercase();
                let resp3 = self.proto == 3;
                match debug_protocol(&name, resp3) {
                    Ok(bytes) => self.ready(|out| out.extend_from_slice(&bytes)),
                    Err(e) => self.error(e),
                }
            }
            (b"set-active-expire", 3) => {
                crate::kv::set_active_expire(a.get(2) != b"0");
                self.ready(reply::ok);
            }
            (
                b"reload"
                | b"loadaof"
                | b"quicklist-packed-threshold"
                | b"change-repl-id"
                | b"jmap"
                | b"stringmatch-len",
                _,
            ) => self.ready(reply::ok),
            _ => {
                let msg = format!(
                    "ERR unknown subcommand '{}'. Try DEBUG HELP.",
                    String::from_utf8_lossy(a.get(1).split(|&b| b == 0).next().unwrap_or_default())
                );
                self.error(&msg)
            }
        }
    }

    /// CONFIG GET, SET and RESETSTAT (see `kv::cmd::config_command`).
    fn config(&mut self, t: &Transport, a: &Args<'_>) {
        let mut out = Vec::new();
        match crate::kv::cmd::config_command(a, &mut out) {
            Ok(()) => {
                // A lowered limit is enforced at once, on every shard.
                if crate::kv::evict::over() {
                    crate::kv::evict_everywhere(t.get_loop());
                }
                self.ready(|o| o.extend_from_slice(&out))
            }
            Err(e) => self.error(&e),
        }
    }

    fn client(&mut self, t: &mut Transport, a: &Args<'_>) {
        let sub = a.get(1).to_ascii_lowercase();
        match sub.as_slice() {
            b"id" if a.len() == 2 => {
                let id = self.client.as_ref().map_or(0, |c| c.id);
                self.ready(|out| reply::int(out, id as i64));
            }
            b"info" if a.len() == 2 => {
                let mut line = Vec::new();
                if let Some(c) = &self.client {
                    c.line(super::super::db::now_ms(t.get_loop()), &mut line);
                }
                self.ready(|out| reply::verbatim(out, &line));
            }
            b"list" => {
                let spec = &cmd::CLIENT_LIST;
                self.gather_all(t, spec, Gather::Clients, a);
            }
            b"unblock" if matches!(a.len(), 3 | 4) => {
                let spec = &cmd::CLIENT_UNBLOCK;
                self.gather_all(t, spec, Gather::Unblock, a);
            }
            b"setname" if a.len() == 3 => {
                let name = a.get(2);
                if name.iter().any(|&b| b <= b' ' || b > b'~') {
                    return self.error(
                        "ERR Client names cannot contain spaces, newlines or special characters.",
                    );
                }
                if let Some(c) = &self.client {
                    *c.name.borrow_mut() = (!name.is_empty()).then(|| name.to_vec());
                }
                self.ready(reply::ok);
            }
            b"getname" if a.len() == 2 => {
                let name = self.client.as_ref().and_then(|c| c.name.borrow().clone());
                self.ready(|out| reply::opt_bulk(out, name.as_deref()));
            }
            b"setinfo" if a.len() == 4 => self.ready(reply::ok),
            // ON answers OK; OFF and SKIP answer nothing (SKIP: nor the
            // next command).
            b"reply" if a.len() == 3 => match a.get(2).to_ascii_lowercase().as_slice() {
                b"on" => {
                    self.replies = Replies::On;
                    self.ready(reply::ok);
                }
                b"off" => self.replies = Replies::Off,
                b"skip" => {
                    if self.replies == Replies::On {
                        self.replies = Replies::Skip;
                    }
                }
                _ => self.error("ERR syntax error"),
            },
            _ => {
                let sub = String::from_utf8_lossy(a.get(1)).into_owned();
                self.error(&format!(
                    "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try CLIENT HELP."
                ));
            }
        }
    }
}

/// DEBUG PROTOCOL's sample replies of each type, as redis-server 7.0
/// writes them in RESP2 and RESP3.
fn debug_protocol(name: &[u8], resp3: bool) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    let boolean = |out: &mut Vec<u8>, b: bool| {
        out.extend_from_slice(match (resp3, b) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        })
    };
    match name {
        b"string" => reply::bulk(&mut out, b"Hello World"),
        b"integer" => reply::int(&mut out, 12345),
        // Redis's sample double (not π: the digits it prints).
        #[allow(clippy::approx_constant)]
        b"double" => reply::double(&mut out, 3.141),
        b"bignum" => {
            let n = b"1234567999999999999999999999999999999";
            if resp3 {
                out.push(b'(');
                out.extend_from_slice(n);
                out.extend_from_slice(b"\r\n");
            } else {
                reply::bulk(&mut out, n);
            }
        }
        b"null" => reply::nil(&mut out),
        b"array" | b"set" => {
            if name == b"set" {
                reply::set(&mut out, 3);
            } else {
                reply::array(&mut out, 3);
            }
            for j in 0..3 {
                reply::int(&mut out, j);
            }
        }
        b"map" => {
            reply::map(&mut out, 3);
            for j in 0..3 {
                reply::int(&mut out, j);
                boolean(&mut out, j == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                out.extend_from_slice(b"|1\r\n");
                reply::bulk(&mut out, b"key-popularity");
                reply::array(&mut out, 2);
                reply::bulk(&mut out, b"key:123");
                reply::int(&mut out, 90);
            }
            reply::bulk(&mut out, b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return Err("ERR RESP2 is not supported by this command");
            }
            reply::push(&mut out, 2);
            reply::bulk(&mut out, b"server-cpu-usage");
            reply::int(&mut out, 42);
            reply::bulk(&mut out, b"Some real reply following the push reply");
        }
        b"true" => boolean(&mut out, true),
        b"false" => boolean(&mut out, false),
        b"verbatim" => reply::verbatim(&mut out, b"This is a verbatim\nstring"),
        _ => return Err("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"),
    }
    Ok(out)
}
