//! Protocol garbage, each on a fresh connection to both servers.

use super::*;

/// Protocol garbage, each on a fresh connection to both: the same error
/// text, then a close, from both.
#[test]
fn protocol_garbage_gets_redis_server_s_error_texts() {
    let dir = temp_dir("kv-garbage");
    let (redis, sock) = redis_server(&dir);
    let _redis = Reap(redis);
    let (child, addr, _log) = serve(&kv_config(2));
    let child = Reap(child);
    let mut cases: Vec<Vec<u8>> = [
        &b"*1\r\nfoo\r\n"[..],
        b"*1\r\n:1\r\n",
        b"*x\r\n",
        b"*-1\r\nPING\r\n",
        b"*01\r\n",
        b"*2147483648\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$536870913\r\n",
        b"*1\r\n$01\r\n",
        b"*1\r\n$x\r\n",
        b"*1\r\n$4\r\nPINGxx",
        b"*2\r\n$4\r\nECHO\r\n$1\r\nabc\r\n",
        b"SET k \"unclosed\r\n",
        b"SET k \"a\"b\r\n",
        b"SET k 'a'b\r\n",
        b"ECHO \"\\x4g\\x41\"\r\n",
        b"ECHO '\\'x\\''\r\n",
        b"\r\n\r\nPING\r\n",
        b"PING\0junk\r\n",
    ]
    .iter()
    .map(|c| c.to_vec())
    .collect();
    let mut endless = b"*".to_vec();
    endless.extend(std::iter::repeat_n(b'1', 70_000));
    cases.push(endless);
    let mut endless = b"*1\r\n$".to_vec();
    endless.extend(std::iter::repeat_n(b'1', 70_000));
    cases.push(endless);
    cases.push(vec![b'a'; 70_000]);
    let mut rng = Rng(0x9a4b_a9e5);
    for _ in 0..200 {
        let mut c = b"PING\r\n".to_vec();
        let n = rng.below(40);
        let alphabet = b"*$\r\n0123-x\"' \\";
        c.extend((0..n).map(|_| alphabet[rng.below(alphabet.len())]));
        c.extend_from_slice(b"\r\n");
        cases.push(c);
    }
    for case in &cases {
        // Whatever each answers before closing, or in a moment.
        let answer = |mut s: Box<dyn ReadWrite>| -> Vec<u8> {
            s.write_all(case).unwrap();
            let _ = s.shutdown_write();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            out
        };
        let t = answer(Box::new(UnixStream::connect(&sock).unwrap()));
        let o = answer(Box::new(TcpStream::connect(addr).unwrap()));
        assert_eq!(
            String::from_utf8_lossy(&o),
            String::from_utf8_lossy(&t),
            "{:?}",
            String::from_utf8_lossy(&case[..case.len().min(80)])
        );
    }
    sigterm(&child.0);
}

pub(super) trait ReadWrite: Read + Write {
    fn shutdown_write(&self) -> std::io::Result<()>;
}

impl ReadWrite for UnixStream {
    fn shutdown_write(&self) -> std::io::Result<()> {
        self.set_read_timeout(Some(DEADLINE))?;
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl ReadWrite for TcpStream {
    fn shutdown_write(&self) -> std::io::Result<()> {
        self.set_read_timeout(Some(DEADLINE))?;
        self.shutdown(std::net::Shutdown::Write)
    }
}
