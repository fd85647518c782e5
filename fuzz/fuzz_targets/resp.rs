//! The RESP parser: parsed whole or arriving in pieces (the cursor going
//! on where it stopped), the same requests come out; every argument is a
//! range of the input; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardloop_apps::kv::resp::{parse, parse_from, Cursor, Parse};

/// Every request of `buf`, parsed from the start each time.
fn whole(buf: &[u8]) -> Vec<(Parse, Vec<Vec<u8>>)> {
    let (mut args, mut scratch) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let p = parse(&buf[at..], &mut args, &mut scratch);
        let from: &[u8] = if matches!(p, Parse::Inline { .. }) {
            &scratch
        } else {
            &buf[at..]
        };
        let taken = args.iter().map(|r| from[r.clone()].to_vec()).collect();
        let next = match p {
            Parse::Request { consumed }
            | Parse::Inline { consumed }
            | Parse::Empty { consumed } => {
                assert!(consumed > 0 && consumed <= buf.len() - at);
                Some(at + consumed)
            }
            _ => None,
        };
        out.push((p, taken));
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    // The first byte picks the piece size; the rest is the input.
    let step = 1 + data[0] as usize % 64;
    let buf = &data[1..];
    let expected = whole(buf);
    // The same input arriving `step` bytes at a time, as a connection
    // feeds it: the partial request kept at the start of a query buffer.
    let (mut args, mut scratch, mut cursor) = (Vec::new(), Vec::new(), Cursor::default());
    let mut got = Vec::new();
    let mut query: Vec<u8> = Vec::new();
    let mut fed = 0;
    while fed < buf.len() {
        let end = (fed + step).min(buf.len());
        query.extend_from_slice(&buf[fed..end]);
        fed = end;
        loop {
            if query.is_empty() {
                break;
            }
            let p = parse_from(&query, &mut args, &mut scratch, &mut cursor);
            match p {
                Parse::Incomplete => break,
                Parse::Error(_) => {
                    got.push((p, Vec::new()));
                    query.clear();
                    fed = buf.len();
                    break;
                }
                Parse::Request { consumed }
                | Parse::Inline { consumed }
                | Parse::Empty { consumed } => {
                    let from: &[u8] = if matches!(p, Parse::Inline { .. }) {
                        &scratch
                    } else {
                        &query
                    };
                    let taken = args.iter().map(|r| from[r.clone()].to_vec()).collect();
                    got.push((p, taken));
                    query.drain(..consumed);
                }
            }
        }
    }
    if !query.is_empty() {
        got.push((Parse::Incomplete, Vec::new()));
    }
    // Errors may surface at another piece (a limit is met earlier or
    // later); up to the first error, the requests are the same.
    let n = got.len().min(expected.len());
    for i in 0..n {
        match (&got[i].0, &expected[i].0) {
            (Parse::Error(_), _)
            | (_, Parse::Error(_))
            | (Parse::Incomplete, _)
            | (_, Parse::Incomplete) => return,
            _ => assert_eq!(got[i], expected[i], "request {i}"),
        }
    }
});
