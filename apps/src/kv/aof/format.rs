//! What the log holds, byte for byte: commands in RESP (Redis's AOF
//! format), a key's whole state as the commands that rebuild it (Redis's
//! rewrite format), and the manifest that names a shard's files (Redis
//! 7's multi-part AOF manifest).

use std::io;
use std::path::Path;

use super::super::db::{Entry, Value};
use super::super::float;

/// Items per command when a key's state is written out, as Redis's
/// `AOF_REWRITE_ITEMS_PER_CMD`.
const ITEMS_PER_CMD: usize = 64;

/// Appends one command, `*N\r\n$len\r\narg\r\n…`.
pub fn command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    header(out, b'*', args.len());
    for a in args {
        bulk(out, a);
    }
}

fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, a: &[u8]) {
    header(out, b'$', a.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
}

/// `DEL key`.
pub fn del(out: &mut Vec<u8>, key: &[u8]) {
    command(out, [b"DEL".as_slice(), key].into_iter());
}

/// The commands that make `key` what `entry` says from whatever it was:
/// `DEL` when it is gone; else its value (a string by `SET`, which
/// replaces; an aggregate by `DEL` then its elements, 64 per command) and
/// its expiry (`PXAT` on the `SET`, or a `PEXPIREAT`).
pub fn key_state(out: &mut Vec<u8>, key: &[u8], entry: Option<&Entry>) {
    let Some(e) = entry else {
        return del(out, key);
    };
    let at = e.expires_at.map(|t| t.to_string());
    match &e.value {
        Value::Str(s) => match &at {
            Some(t) => command(
                out,
                [b"SET".as_slice(), key, s, b"PXAT", t.as_bytes()].into_iter(),
            ),
            None => command(out, [b"SET".as_slice(), key, s].into_iter()),
        },
        Value::List(l) => {
            del(out, key);
            items(out, b"RPUSH", key, l.iter().map(|e| [e.as_slice()]));
        }
        Value::Set(s) => {
            del(out, key);
            items(out, b"SADD", key, s.iter().map(|e| [e.as_slice()]));
        }
        Value::Hash(h) => {
            del(out, key);
            items(
                out,
                b"HSET",
                key,
                h.iter().map(|(f, v)| [f.as_slice(), v.as_slice()]),
            );
        }
        Value::ZSet(z) => {
            del(out, key);
            let scored: Vec<(String, &[u8])> = z
                .order
                .iter()
                .map(|(s, m)| (float::format(s.0), m.as_slice()))
                .collect();
            items(
                out,
                b"ZADD",
                key,
                scored.iter().map(|(s, m)| [s.as_bytes(), *m]),
            );
        }
    }
    if let (Some(t), false) = (&at, matches!(e.value, Value::Str(_))) {
        command(
            out,
            [b"PEXPIREAT".as_slice(), key, t.as_bytes()].into_iter(),
        );
    }
}

/// A key's expiry only: `PEXPIREAT`, `PERSIST`, or `DEL` when the key is
/// gone.
pub fn expiry(out: &mut Vec<u8>, key: &[u8], entry: Option<&Entry>) {
    match entry {
        None => del(out, key),
        Some(Entry {
            expires_at: Some(t),
            ..
        }) => command(
            out,
            [b"PEXPIREAT".as_slice(), key, t.to_string().as_bytes()].into_iter(),
        ),
        Some(_) => command(out, [b"PERSIST".as_slice(), key].into_iter()),
    }
}

/// `cmd key e e e…` for every group of items, `ITEMS_PER_CMD` a command.
fn items<'a, const N: usize>(
    out: &mut Vec<u8>,
    cmd: &[u8],
    key: &[u8],
    mut it: impl Iterator<Item = [&'a [u8]; N]>,
) {
    loop {
        let chunk: Vec<[&[u8]; N]> = it.by_ref().take(ITEMS_PER_CMD).collect();
        if chunk.is_empty() {
            return;
        }
        header(out, b'*', 2 + chunk.len() * N);
        bulk(out, cmd);
        bulk(out, key);
        for group in chunk {
            for a in group {
                bulk(out, a);
            }
        }
    }
}

/// The bulk strings of a reply (SPOP's members), in RESP2 or RESP3.
pub fn bulk_strings(mut reply: &[u8]) -> Vec<&[u8]> {
    let mut found = Vec::new();
    while let Some(&kind) = reply.first() {
        let Some(eol) = memchr::memmem::find(reply, b"\r\n") else {
            break;
        };
        let line = &reply[1..eol];
        reply = &reply[eol + 2..];
        if kind == b'$' {
            let Some(n) = std::str::from_utf8(line)
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue; // $-1: a nil
            };
            if reply.len() < n + 2 {
                break;
            }
            found.push(&reply[..n]);
            reply = &reply[n + 2..];
        }
    }
    found
}

/// One file a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub name: String,
    pub seq: u64,
    /// `b` base, `i` incremental.
    pub kind: char,
}

/// A shard's manifest: its base file and its incremental files, oldest
/// first, in Redis 7's format (`file NAME seq N type b|i`, a line each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub files: Vec<FileInfo>,
}

impl Manifest {
    /// The manifest's text.
    pub fn render(&self) -> String {
        self.files
            .iter()
            .map(|f| format!("file {} seq {} type {}\n", f.name, f.seq, f.kind))
            .collect()
    }

    /// Reads a manifest; an error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut files = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_ascii_whitespace().collect();
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair {
                    ["file", v] => name = Some(v.to_string()),
                    ["seq", v] => seq = v.parse().ok(),
                    ["type", v] if v.len() == 1 => kind = v.chars().next(),
                    [_, _] => {} // a key of a later Redis: ignored, as Redis does
                    _ => return Err(format!("line {}: an odd number of words", i + 1)),
                }
            }
            match (name, seq, kind) {
                (Some(name), Some(seq), Some(kind @ ('b' | 'i'))) => {
                    files.push(FileInfo { name, seq, kind })
                }
                _ => return Err(format!("line {}: not `file NAME seq N type b|i`", i + 1)),
            }
        }
        if files.iter().filter(|f| f.kind == 'b').count() > 1 {
            return Err("more than one base file".into());
        }
        Ok(Self { files })
    }

    /// Writes the manifest at `path` atomically: a temporary file, synced,
    /// renamed over it, and the folder synced.
    pub fn store(&self, path: &Path) -> io::Result<()> {
        write_atomically(path, self.render().as_bytes())
    }
}

/// Writes `data` at `path` so that a crash leaves the old file or the new
/// one, never part of either.
pub fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a folder's entries (a file created, renamed, removed) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_what_it_wrote_and_names_a_bad_line() {
        let m = Manifest {
            files: vec![
                FileInfo {
                    name: "appendonly-0of2.aof.3.base.aof".into(),
                    seq: 3,
                    kind: 'b',
                },
                FileInfo {
                    name: "appendonly-0of2.aof.3.incr.aof".into(),
                    seq: 3,
                    kind: 'i',
                },
            ],
        };
        assert_eq!(
            m.render(),
            "file appendonly-0of2.aof.3.base.aof seq 3 type b\nfile appendonly-0of2.aof.3.incr.aof seq 3 type i\n"
        );
        assert_eq!(Manifest::parse(&m.render()).unwrap(), m);
        let e = Manifest::parse("file a seq 1 type b\nfile b seq x type i\n").unwrap_err();
        assert!(e.starts_with("line 2"), "{e}");
    }

    #[test]
    fn spop_replies_give_their_members_in_both_protocols() {
        assert_eq!(bulk_strings(b"$1\r\na\r\n"), vec![b"a".as_slice()]);
        assert_eq!(bulk_strings(b"$-1\r\n"), Vec::<&[u8]>::new());
        assert_eq!(
            bulk_strings(b"~2\r\n$2\r\nab\r\n$0\r\n\r\n"),
            vec![b"ab".as_slice(), b"".as_slice()]
        );
        assert_eq!(
            bulk_strings(b"*1\r\n$4\r\na\r\nb\r\n"),
            vec![b"a\r\nb".as_slice()]
        );
    }
}
