//! CONFIG, as a command: GET, SET and RESETSTAT over `kv::config`'s
//! parameters.

use super::super::config;
use super::*;

/// CONFIG GET, SET and RESETSTAT: the reply in `out`, or the error.
pub fn command(a: &Args<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    let sub = a.get(1).to_ascii_lowercase();
    match sub.as_slice() {
        b"get" if a.len() >= 3 => {
            let patterns: Vec<&[u8]> = a.iter_from(2).collect();
            let hits = config::get(&patterns);
            reply::map(out, hits.len());
            for (k, v) in hits {
                reply::bulk(out, k.as_bytes());
                reply::bulk(out, v.as_bytes());
            }
            Ok(())
        }
        b"set" if a.len() >= 4 && a.len() % 2 == 0 => {
            let pairs: Vec<(&[u8], &[u8])> = (2..a.len())
                .step_by(2)
                .map(|i| (a.get(i), a.get(i + 1)))
                .collect();
            config::set(&pairs)?;
            reply::ok(out);
            Ok(())
        }
        b"resetstat" if a.len() == 2 => {
            reply::ok(out);
            Ok(())
        }
        _ => Err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(a.get(1))
        )),
    }
}
