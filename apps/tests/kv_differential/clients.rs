//! DEBUG PROTOCOL's samples, CLIENT REPLY and CLIENT UNBLOCK, against
//! redis-server.

use super::*;

/// DEBUG PROTOCOL's sample of every reply type, in RESP2 and RESP3: the
/// bytes redis-server writes (clients test their parsers with it).
#[test]
fn debug_protocol_samples_are_redis_server_s() {
    let dir = temp_dir("kv-debug-protocol");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let _child = Reap(child);
    for proto in ["2", "3"] {
        let (mut theirs, mut ours) = (redis_client(&sock), kv_client(addr));
        let hello = multibulk(&["HELLO", proto]);
        theirs.send(&hello);
        ours.send(&hello);
        theirs.read();
        ours.read();
        for name in [
            "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib",
            "push", "verbatim", "true", "false", "FOO",
        ] {
            let cmd = multibulk(&["DEBUG", "PROTOCOL", name]);
            // Every type kept apart by the parser; an attribute and a push
            // come with a second reply.
            theirs.send(&cmd);
            ours.send(&cmd);
            let follows = matches!(name, "attrib" | "push") && proto == "3";
            let mut t = vec![theirs.read()];
            let mut o = vec![ours.read()];
            if follows {
                t.push(theirs.read());
                o.push(ours.read());
            }
            assert_eq!(o, t, "DEBUG PROTOCOL {name} in RESP{proto}");
        }
    }
}

/// CLIENT REPLY OFF, SKIP and ON, pipelined in one write over keys of both
/// shards (so muted replies come from the other shard too) and around a
/// subscription (whose confirmations are pushes and still go out): the
/// byte stream up to the final PING's reply is redis-server's.
#[test]
fn client_reply_off_skip_and_on_answer_as_redis_server_does() {
    let dir = temp_dir("kv-client-reply");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let _child = Reap(child);
    let mut script: Vec<Vec<&str>> = vec![
        vec!["SET", "a", "1"],
        vec!["CLIENT", "REPLY", "OFF"],
        vec!["SET", "b", "2"],
        vec!["MGET", "a", "b", "c", "d"],
        vec!["INCR", "a"],
        vec!["CLIENT", "REPLY", "ON"],
        vec!["GET", "a"],
        vec!["CLIENT", "REPLY", "SKIP"],
        vec!["GET", "b"],
        vec!["GET", "c"],
        vec!["CLIENT", "REPLY", "MAYBE"],
        vec!["CLIENT", "REPLY", "OFF"],
        vec!["SUBSCRIBE", "news"],
        vec!["UNSUBSCRIBE", "news"],
        vec!["DBSIZE"],
        vec!["CLIENT", "REPLY", "ON"],
    ];
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    script.push(vec!["CLIENT", "REPLY", "SKIP"]);
    script.push(
        std::iter::once("MSET")
            .chain(keys.iter().flat_map(|k| [k.as_str(), "v"]))
            .collect(),
    );
    script.push(
        std::iter::once("MGET")
            .chain(keys.iter().map(String::as_str))
            .collect(),
    );
    script.push(vec!["PING", "end"]);
    let bytes: Vec<u8> = script.iter().flat_map(|c| multibulk(c)).collect();
    let until_end = |c: &mut dyn ReadWrite| -> Vec<u8> {
        c.write_all(&bytes).unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        while !got.ends_with(b"$3\r\nend\r\n") {
            let n = c.read(&mut b).unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&b[..n]);
        }
        got
    };
    let theirs = until_end(&mut redis_client(&sock).r.into_inner());
    let ours = until_end(&mut kv_client(addr).r.into_inner());
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
    assert!(
        theirs.starts_with(b"+OK\r\n+OK\r\n$1\r\n2\r\n"),
        "{theirs:?}"
    );
}

/// CLIENT UNBLOCK against both servers: four clients (over both of kv's
/// shards) block on BLPOP, BLMOVE, BZPOPMIN and BRPOP; another client
/// unblocks them by id, with TIMEOUT, by default and with ERROR; a client
/// not blocked, a bad id and a bad reason get Redis's answers. Every reply
/// is redis-server's.
#[test]
fn client_unblock_answers_as_redis_server_does() {
    let dir = temp_dir("kv-unblock");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let _child = Reap(child);
    fn run<S: Read + Write>(mut connect: impl FnMut() -> Client<S>) -> Vec<Reply> {
        let mut ctl = connect();
        let mut seen = Vec::new();
        let ask = |c: &mut Client<S>, args: &[&str]| {
            c.send(&multibulk(args));
            c.read()
        };
        let blocked = |ctl: &mut Client<S>| -> u64 {
            ctl.send(&multibulk(&["INFO", "clients"]));
            let Reply::Bulk(Some(text)) = ctl.read() else {
                panic!("INFO")
            };
            let text = String::from_utf8(text).unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("blocked_clients:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let waits: [&[&str]; 4] = [
            &["BLPOP", "q1", "q2", "0"],
            &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"],
            &["BZPOPMIN", "z", "0"],
            &["BRPOP", "q3", "100"],
        ];
        for (i, wait) in waits.iter().enumerate() {
            for reason in [Some("TIMEOUT"), None, Some("ERROR")] {
                let mut c = connect();
                let Reply::Int(id) = ask(&mut c, &["CLIENT", "ID"]) else {
                    panic!("CLIENT ID")
                };
                let id = id.to_string();
                c.send(&multibulk(wait));
                let start = Instant::now();
                while blocked(&mut ctl) != 1 {
                    assert!(start.elapsed() < DEADLINE, "{wait:?} never blocked");
                    std::thread::sleep(Duration::from_millis(5));
                }
                let mut unblock = vec!["CLIENT", "UNBLOCK", id.as_str()];
                unblock.extend(reason);
                seen.push(ask(&mut ctl, &unblock));
                seen.push(c.read());
                // Not blocked any more: nothing to unblock; the client
                // goes on.
                seen.push(ask(&mut ctl, &unblock));
                seen.push(ask(&mut c, &["PING", &i.to_string()]));
            }
        }
        seen.push(ask(&mut ctl, &["CLIENT", "UNBLOCK", "x"]));
        seen.push(ask(&mut ctl, &["CLIENT", "UNBLOCK", "1", "LATER"]));
        seen.push(ask(&mut ctl, &["CLIENT", "UNBLOCK", "999999"]));
        seen
    }
    let theirs = run(|| redis_client(&sock));
    let ours = run(|| kv_client(addr));
    assert_eq!(ours, theirs);
    assert!(theirs.contains(&Reply::Int(1)), "{theirs:?}");
}
