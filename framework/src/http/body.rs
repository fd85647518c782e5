//! Framing a request body: `Content-Length` or chunked (RFC 9112 §6, §7.1),
//! consumed and discarded.

use super::{Framing, HttpError, BAD_REQUEST, TOO_LARGE};

/// The longest chunk-size line or trailer field accepted, bytes.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes of a `Content-Length` body left.
    Length(u64),
    /// At a chunk-size line.
    ChunkSize,
    /// This many bytes of chunk data left.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer fields, until an empty line.
    Trailers,
    Done,
}

/// The body of one request, being consumed: feed it what arrives after the
/// head until [`is_done`](Self::is_done).
#[derive(Debug, Clone)]
pub struct Body {
    state: State,
    /// Data bytes seen (chunked), against `limit`.
    received: u64,
    limit: u64,
}

impl Body {
    /// A body framed as `framing`, at most `limit` data bytes.
    pub fn new(framing: Framing, limit: u64) -> Self {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
        };
        Self {
            state,
            received: 0,
            limit,
        }
    }

    /// Whether the whole body has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes body bytes from the start of `input`; returns how many.
    /// Fewer than offered means the body ended there, or a line is
    /// incomplete: offer the rest again with more input.
    pub fn consume(&mut self, input: &[u8]) -> Result<usize, HttpError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Done => return Ok(used),
                State::Length(left) => {
                    let n = left.min(rest.len() as u64);
                    used += n as usize;
                    self.state = if n == left {
                        State::Done
                    } else {
                        State::Length(left - n)
                    };
                    return Ok(used);
                }
                State::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((len, size))) => {
                        used += len;
                        if size == 0 {
                            self.state = State::Trailers;
                        } else {
                            self.received = self.received.saturating_add(size);
                            if self.received > self.limit {
                                return Err(TOO_LARGE);
                            }
                            self.state = State::ChunkData(size);
                        }
                    }
                    Ok(httparse::Status::Partial) => {
                        if rest.len() > MAX_LINE {
                            return Err(BAD_REQUEST);
                        }
                        return Ok(used);
                    }
                    Err(_) => return Err(BAD_REQUEST),
                },
                State::ChunkData(left) => {
                    let n = left.min(rest.len() as u64);
                    used += n as usize;
                    if n < left {
                        self.state = State::ChunkData(left - n);
                        return Ok(used);
                    }
                    self.state = State::ChunkEnd;
                }
                State::ChunkEnd => {
                    if rest.len() < 2 {
                        if rest.first().is_some_and(|b| *b != b'\r') {
                            return Err(BAD_REQUEST);
                        }
                        return Ok(used);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(BAD_REQUEST);
                    }
                    used += 2;
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let Some(nl) = rest.iter().position(|b| *b == b'\n') else {
                        if rest.len() > MAX_LINE {
                            return Err(BAD_REQUEST);
                        }
                        return Ok(used);
                    };
                    if nl > MAX_LINE {
                        return Err(BAD_REQUEST);
                    }
                    let line = &rest[..nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    used += nl + 1;
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}
