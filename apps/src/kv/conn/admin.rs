//! The commands about the connection and the server — PING, HELLO, SELECT,
//! QUIT, CLIENT, CONFIG, COMMAND and INFO — answered on the connection's
//! own shard.

mod info;
pub(super) use info::info;

use super::*;

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
