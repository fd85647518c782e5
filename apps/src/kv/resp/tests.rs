//! The RESP parser's and the inline splitter's unit tests.

use super::*;

fn args_of(buf: &[u8]) -> (Parse, Vec<Vec<u8>>) {
    let (mut args, mut scratch) = (Vec::new(), Vec::new());
    let p = parse(buf, &mut args, &mut scratch);
    let from: &[u8] = if matches!(p, Parse::Inline { .. }) {
        &scratch
    } else {
        buf
    };
    (p, args.into_iter().map(|r| from[r].to_vec()).collect())
}

fn error_of(buf: &[u8]) -> String {
    match args_of(buf).0 {
        Parse::Error(e) => String::from_utf8_lossy(&e.message()).into_owned(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn multibulk_requests_parse_whole_or_not_at_all() {
    let req = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    assert_eq!(
        args_of(req),
        (
            Parse::Request {
                consumed: req.len()
            },
            vec![b"GET".to_vec(), b"k".to_vec()]
        )
    );
    for cut in 0..req.len() {
        assert_eq!(args_of(&req[..cut]).0, Parse::Incomplete, "cut at {cut}");
    }
    // Binary data, pipelined requests.
    let two = b"*1\r\n$4\r\na\r\nb\r\n*1\r\n$0\r\n\r\n";
    let (p, a) = args_of(two);
    assert_eq!(p, Parse::Request { consumed: 14 });
    assert_eq!(a, vec![b"a\r\nb".to_vec()]);
    assert_eq!(args_of(&two[14..]).1, vec![Vec::<u8>::new()]);
}

#[test]
fn a_request_arriving_in_pieces_is_parsed_once_from_where_it_stopped() {
    let mut req = b"*1000\r\n".to_vec();
    for i in 0..1000 {
        let a = format!("key:{i}");
        req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    let (mut args, mut scratch, mut cursor) = (Vec::new(), Vec::new(), Cursor::default());
    let mut end = 0;
    let mut calls = 0;
    let consumed = loop {
        end = (end + 7).min(req.len());
        calls += 1;
        match parse_from(&req[..end], &mut args, &mut scratch, &mut cursor) {
            Parse::Incomplete => assert!(cursor.in_progress() || end < 7),
            Parse::Request { consumed } => break consumed,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(consumed, req.len());
    assert!(calls > 100);
    assert_eq!(args.len(), 1000);
    assert_eq!(&req[args[999].clone()], b"key:999");
    assert!(!cursor.in_progress());
}

#[test]
fn limits_and_garbage_get_redis_errors_before_allocating() {
    assert_eq!(
        error_of(b"*2147483648\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        error_of(b"*1\r\n$536870913\r\n"),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        error_of(b"*1\r\n$-2\r\n"),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        error_of(b"*x\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        error_of(b"*01\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        error_of(b"*1\r\n:1\r\n"),
        "ERR Protocol error: expected '$', got ':'"
    );
    // Redis looks at the line only once it is whole.
    assert_eq!(args_of(b"*1\r\nfoo").0, Parse::Incomplete);
    let mut endless = b"*".to_vec();
    endless.extend_from_slice(&[b'7'; MAX_INLINE + 1]);
    assert_eq!(
        error_of(&endless),
        "ERR Protocol error: too big mbulk count string"
    );
    let mut endless = b"*1\r\n$".to_vec();
    endless.extend_from_slice(&[b'7'; MAX_INLINE + 1]);
    assert_eq!(
        error_of(&endless),
        "ERR Protocol error: too big bulk count string"
    );
    assert_eq!(
        error_of(&[b'a'; MAX_INLINE + 1]),
        "ERR Protocol error: too big inline request"
    );
    assert_eq!(args_of(b"*0\r\n").0, Parse::Empty { consumed: 4 });
    assert_eq!(args_of(b"*-5\r\n").0, Parse::Empty { consumed: 5 });
}

#[test]
fn fuzz_finds_stay_fixed() {
    // cargo fuzz (resp): an argument line that is only "\r\r"
    // sliced its number out of bounds.
    let crash = b"\r\r\r\r\r\r\r\r\r\x87\n*1\r\r\r\r\r\r\r\r\r\xf2?";
    assert_eq!(args_of(crash).0, Parse::Inline { consumed: 11 });
    assert_eq!(
        error_of(&crash[11..]),
        "ERR Protocol error: expected '$', got '\r'"
    );
}

#[test]
fn inline_requests_split_as_sdssplitargs_does() {
    let (p, a) = args_of(b"SET k \"hello world\"\r\n");
    assert_eq!(p, Parse::Inline { consumed: 21 });
    assert_eq!(
        a,
        vec![b"SET".to_vec(), b"k".to_vec(), b"hello world".to_vec()]
    );
    assert_eq!(args_of(b"PING\n").1, vec![b"PING".to_vec()]);
    assert_eq!(args_of(b"\r\n").0, Parse::Empty { consumed: 2 });
    assert_eq!(args_of(b"PING").0, Parse::Incomplete);
    assert_eq!(
        error_of(b"SET k \"open\r\n"),
        "ERR Protocol error: unbalanced quotes in request"
    );
    assert_eq!(
        args_of(b"SET k \"x\\x41\\ny\"\r\n").1,
        vec![b"SET".to_vec(), b"k".to_vec(), b"xA\ny".to_vec()]
    );
    assert_eq!(
        args_of(b"a'b\\'c' \"\\q\\\"\" ''\n").1,
        vec![b"ab'c".to_vec(), b"q\"".to_vec(), b"".to_vec()]
    );
    assert_eq!(
        error_of(b"SET \"k\"x v\n"),
        "ERR Protocol error: unbalanced quotes in request"
    );
    // Redis looks for the newline with `strchr`: a NUL hides it.
    assert_eq!(args_of(b"PING\0 x\n").0, Parse::Incomplete);
}

#[test]
fn the_one_pass_header_agrees_with_redis_s_rules_wherever_it_answers() {
    // Every line of up to 4 bytes from a small alphabet, after `$`.
    let alphabet = b"0159-+x\r\n\0";
    let mut lines: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..5 {
        let longer: Vec<Vec<u8>> = lines
            .iter()
            .flat_map(|l| alphabet.iter().map(move |&b| [l.as_slice(), &[b]].concat()))
            .collect();
        lines.extend(longer);
    }
    lines.push(b"123456789012345678\r\n".to_vec());
    lines.push(b"1234567890123456789\r\n".to_vec());
    for l in &lines {
        let buf = [b"$".as_slice(), l].concat();
        if let Some((n, next)) = simple_header(&buf, 0) {
            let (num, next2) = header_line(&buf, 0).expect("whole").expect("a line");
            assert_eq!((string2ll(num), next2), (Some(n), next), "{buf:?}");
        }
    }
}

#[test]
fn numbers_are_read_as_string2ll_reads_them() {
    assert_eq!(string2ll(b"0"), Some(0));
    assert_eq!(string2ll(b"-1"), Some(-1));
    assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"-0",
        b"01",
        b"+1",
        b"1x",
        b"9223372036854775808",
    ] {
        assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn replies_are_resp2() {
    let mut out = Vec::new();
    reply::ok(&mut out);
    reply::int(&mut out, -3);
    reply::bulk(&mut out, b"hi");
    reply::nil(&mut out);
    reply::array(&mut out, 2);
    reply::error(&mut out, "ERR x");
    assert_eq!(out, b"+OK\r\n:-3\r\n$2\r\nhi\r\n$-1\r\n*2\r\n-ERR x\r\n");
}
