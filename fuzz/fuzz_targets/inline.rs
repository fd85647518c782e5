//! The inline splitter (Redis's `sdssplitargs`): any line splits without a
//! panic, and arguments quoted the way redis-cli quotes them come back
//! byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardloop_apps::kv::resp::{parse, Parse};

/// `args` as one inline line, each argument in double quotes with `\xHH`
/// for every byte that needs it.
fn quote(args: &[&[u8]]) -> Vec<u8> {
    let mut line = Vec::new();
    for a in args {
        line.extend_from_slice(b" \"");
        for &b in *a {
            if b.is_ascii_alphanumeric() {
                line.push(b);
            } else {
                line.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            }
        }
        line.push(b'"');
    }
    line.extend_from_slice(b"\r\n");
    line
}

fuzz_target!(|data: &[u8]| {
    let (mut args, mut scratch) = (Vec::new(), Vec::new());
    // Any line: no panic, arguments inside the scratch buffer.
    let mut line = data.to_vec();
    line.push(b'\n');
    if line[0] != b'*' {
        if let Parse::Inline { consumed } = parse(&line, &mut args, &mut scratch) {
            assert!(consumed <= line.len());
            assert!(args.iter().all(|r| r.end <= scratch.len()));
        }
    }
    // Arguments split at 0xff, quoted, split back.
    let parts: Vec<&[u8]> = data
        .split(|&b| b == 0xff)
        .filter(|p| !p.is_empty())
        .take(16)
        .collect();
    if parts.is_empty() {
        return;
    }
    let line = quote(&parts);
    match parse(&line, &mut args, &mut scratch) {
        Parse::Inline { consumed } => {
            assert_eq!(consumed, line.len());
            let back: Vec<&[u8]> = args.iter().map(|r| &scratch[r.clone()]).collect();
            assert_eq!(back, parts);
        }
        other => panic!("{other:?} for {line:?}"),
    }
});
