//! `echo-async`: the `echo` app written with streams — one `async`
//! function per connection instead of a [`Protocol`](shardloop::Protocol).
//! The model for users who prefer async/await, and what the benchmarks
//! measure against the protocol echo.
//!
//! Same behaviour as `echo`, backpressure included: the task awaits
//! `drain()` after each write, so a client that does not read holds it at
//! the transport's high-water mark; meanwhile the reader's buffer fills to
//! twice its limit and the transport stops reading. No allocation per
//! message: one buffer per connection.

use shardloop::streams::{StreamReader, StreamReaderProtocol, StreamWriter};

/// Bytes read per step (a quarter of the shard's read buffer: a bigger
/// one costs more to allocate per connection than it saves per read).
const CHUNK: usize = 16 * 1024;

/// One connection's echo loop.
pub async fn echo(mut reader: StreamReader, mut writer: StreamWriter) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read_into(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if writer.write(&buf[..n]).is_err() || writer.drain().await.is_err() {
                    return; // lost: dropping the writer finishes it
                }
            }
        }
    }
    // The client's EOF: close once everything is flushed (as `echo`
    // does on EOF).
    writer.close();
}

/// The protocol that runs [`echo`] for a new connection.
pub fn protocol() -> StreamReaderProtocol {
    StreamReaderProtocol::with_callback(echo)
}
