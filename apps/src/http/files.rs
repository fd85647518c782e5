//! Static files under `/static/`: the path's checks, conditional requests,
//! single ranges.

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shardloop::fs::Root;
use shardloop::http::Request;

use super::response::{head, text, Persist};

/// A file range to send after the header block already in `out`.
pub(crate) struct Send {
    pub(crate) file: File,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// The path under the root that the encoded request path names, or
/// `None` if it may not be served: percent-decoded once; no NUL, no `.`
/// or `..` segment. (Empty segments are skipped.)
pub(crate) fn relative_path(encoded: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
    if decoded.contains(&0) {
        return None;
    }
    let mut path = PathBuf::new();
    for seg in decoded.split(|b| *b == b'/') {
        match seg {
            b"" => continue,
            b"." | b".." => return None,
            s => path.push(std::ffi::OsStr::from_bytes(s)),
        }
    }
    if path.as_os_str().is_empty() {
        return None;
    }
    Some(path)
}

/// Answers a GET/HEAD for `encoded` (the path after `/static/`): the header
/// block (or a whole error or 304 response) goes into `out`; the file
/// range to send after it, if any, is returned.
pub(crate) fn serve(
    out: &mut Vec<u8>,
    root: &Root,
    encoded: &str,
    req: &Request<'_>,
    persist: Persist,
    head_only: bool,
) -> Option<Send> {
    let not_found = |out: &mut Vec<u8>| {
        text(out, 404, persist, b"", head_only, "no such file");
        None
    };
    let Some(rel) = relative_path(encoded) else {
        return not_found(out);
    };
    let Ok(file) = root.open(&rel) else {
        return not_found(out);
    };
    let Ok(meta) = file.metadata() else {
        return not_found(out);
    };
    if !meta.is_file() {
        return not_found(out); // no directory listings
    }
    let size = meta.len();
    // Whole seconds: what Last-Modified can say.
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs()));
    let mut extra = Vec::with_capacity(96);
    extra.extend_from_slice(b"Accept-Ranges: bytes\r\n");
    if let Some(m) = modified {
        extra.extend_from_slice(b"Last-Modified: ");
        extra.extend_from_slice(httpdate::fmt_http_date(m).as_bytes());
        extra.extend_from_slice(b"\r\n");
    }
    if let (Some(m), Some(since)) = (modified, header_date(req, "if-modified-since")) {
        if m <= since {
            head(out, 304, persist, None, None, &extra);
            return None;
        }
    }
    let content_type = mime_guess::from_path(&rel)
        .first_raw()
        .unwrap_or("application/octet-stream");
    let range = if req.header("if-range").is_some() {
        None // we keep no validators to compare: send it whole
    } else {
        req.header("range").map(|r| parse_range(r, size))
    };
    let (status, offset, len) = match range {
        None | Some(Range::Ignore) => (200, 0, size),
        Some(Range::Unsatisfiable) => {
            extra.extend_from_slice(format!("Content-Range: bytes */{size}\r\n").as_bytes());
            text(
                out,
                416,
                persist,
                &extra,
                head_only,
                "range not satisfiable",
            );
            return None;
        }
        Some(Range::Bytes(start, end)) => {
            extra.extend_from_slice(
                format!("Content-Range: bytes {start}-{end}/{size}\r\n").as_bytes(),
            );
            (206, start, end - start + 1)
        }
    };
    head(out, status, persist, Some(content_type), Some(len), &extra);
    if head_only || len == 0 {
        return None;
    }
    Some(Send { file, offset, len })
}

/// A date header's value.
fn header_date(req: &Request<'_>, name: &str) -> Option<SystemTime> {
    let v = std::str::from_utf8(req.header(name)?).ok()?;
    httpdate::parse_http_date(v.trim()).ok()
}

/// What a `Range` header asks for, against a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Range {
    /// First and last byte, inclusive.
    Bytes(u64, u64),
    /// A well-formed range that no byte of the file satisfies.
    Unsatisfiable,
    /// Not one plain byte range (several, another unit, malformed):
    /// answered with the whole file, as RFC 9110 allows.
    Ignore,
}

/// Parses a single `bytes=` range (RFC 9110 §14.1.2).
pub(crate) fn parse_range(value: &[u8], size: u64) -> Range {
    let Ok(v) = std::str::from_utf8(value) else {
        return Range::Ignore;
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Range::Ignore;
    };
    if spec.contains(',') {
        return Range::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Ignore;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (a.trim().is_empty(), b.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(b) {
            Some(0) => Range::Unsatisfiable,
            Some(n) if size == 0 => {
                let _ = n;
                Range::Unsatisfiable
            }
            Some(n) => Range::Bytes(size.saturating_sub(n), size - 1),
            None => Range::Ignore,
        },
        // bytes=A-: from A to the end.
        (false, true) => match num(a) {
            Some(start) if start < size => Range::Bytes(start, size - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Ignore,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    Range::Unsatisfiable
                } else {
                    Range::Bytes(start, end.min(size - 1))
                }
            }
            _ => Range::Ignore,
        },
        (true, true) => Range::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_root_are_refused() {
        for bad in [
            "../etc/passwd",
            "a/../../etc/passwd",
            "%2e%2e/etc/passwd",
            "%2E%2E%2Fetc%2Fpasswd",
            "a%2f..%2f..%2fetc",
            "./a",
            "a/%00b",
            "..",
            "",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
        assert_eq!(relative_path("a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(relative_path("a//b%20c"), Some(PathBuf::from("a/b c")));
        // A double encoding is decoded once: a literal "%2e%2e" name.
        assert_eq!(relative_path("%252e%252e"), Some(PathBuf::from("%2e%2e")));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(b"bytes=0-9", 100), Range::Bytes(0, 9));
        assert_eq!(parse_range(b"bytes=90-", 100), Range::Bytes(90, 99));
        assert_eq!(parse_range(b"bytes=-10", 100), Range::Bytes(90, 99));
        assert_eq!(parse_range(b"bytes=-200", 100), Range::Bytes(0, 99));
        assert_eq!(parse_range(b"bytes=50-500", 100), Range::Bytes(50, 99));
        assert_eq!(parse_range(b"bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), Range::Ignore);
        assert_eq!(parse_range(b"bytes=9-1", 100), Range::Ignore);
        assert_eq!(parse_range(b"items=0-1", 100), Range::Ignore);
        assert_eq!(parse_range(b"bytes=x-1", 100), Range::Ignore);
    }
}
