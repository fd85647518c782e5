//! The blocking commands as the table declares them ([`BlockCmd`]): their
//! arguments and timeouts as Redis reads them, and what each does when it
//! need not wait.

use super::*;

/// A blocking command's timeout argument in milliseconds (0: none), as
/// Redis 7.0's getTimeoutFromObjectOrReply reads it: a float of seconds,
/// truncated to milliseconds (so below 1 ms is 0, no timeout); what does
/// not fit an i64 (inf) becomes i64::MIN, as C's conversion does on x86,
/// and so is negative.
pub fn timeout_ms(arg: &[u8], now: u64) -> Result<u64, String> {
    let t = super::super::float::parse(arg)
        .filter(|t| !t.is_nan())
        .ok_or("ERR timeout is not a float or out of range")?;
    let ms = t * 1000.0;
    let ms = if ms.is_finite() && ms.abs() < 9.223_372_036_854_775e18 {
        ms as i64
    } else {
        i64::MIN
    };
    if ms < 0 {
        return Err("ERR timeout is negative".into());
    }
    if ms > i64::MAX - now as i64 {
        return Err("ERR timeout is out of range".into());
    }
    Ok(ms as u64)
}

/// A blocking command read: what it pops, its keys, a move's
/// destination.
pub type Parsed = (Pop, Vec<Vec<u8>>, Option<Vec<u8>>);

/// The blocking commands, by what they pop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockCmd {
    Blpop,
    Brpop,
    Bzpopmin,
    Bzpopmax,
    Blmove,
    Brpoplpush,
    Blmpop,
    Bzmpop,
}

impl BlockCmd {
    /// Reads the arguments in Redis 7.0's order (the timeout first, but
    /// BLMOVE's ends and BLMPOP's and BZMPOP's arguments before it): what
    /// it pops, its keys, a move's
    /// destination, and the timeout in milliseconds (0: none).
    pub fn read(self, a: &Args<'_>, now: u64) -> Result<(Parsed, u64), cmd::Msg> {
        let side = |i: usize| match a.get(i).to_ascii_lowercase().as_slice() {
            b"left" => Ok(true),
            b"right" => Ok(false),
            _ => Err(cmd::Msg(b"ERR syntax error".to_vec())),
        };
        let last = a.len() - 1;
        let keys = |from: usize, to: usize| (from..to).map(|i| a.get(i).to_vec()).collect();
        Ok(match self {
            Self::Blmove => {
                let pop = Pop::Move {
                    from_left: side(3)?,
                    to_left: side(4)?,
                };
                let t = timeout_ms(a.get(last), now)?;
                ((pop, vec![a.get(1).to_vec()], Some(a.get(2).to_vec())), t)
            }
            Self::Brpoplpush => {
                let t = timeout_ms(a.get(last), now)?;
                let pop = Pop::Move {
                    from_left: false,
                    to_left: true,
                };
                ((pop, vec![a.get(1).to_vec()], Some(a.get(2).to_vec())), t)
            }
            Self::Blmpop | Self::Bzmpop => {
                let list = self == Self::Blmpop;
                let ends: [&[u8]; 2] = if list {
                    [b"left", b"right"]
                } else {
                    [b"min", b"max"]
                };
                let m = cmd::mpop_args(a, 2, ends)?;
                let t = timeout_ms(a.get(1), now)?;
                let pop = if list {
                    Pop::ListMany {
                        left: m.first_end,
                        count: m.count,
                    }
                } else {
                    Pop::ZsetMany {
                        min: m.first_end,
                        count: m.count,
                    }
                };
                let keys = m.keys.iter().map(|k| k.to_vec()).collect();
                ((pop, keys, None), t)
            }
            _ => {
                let t = timeout_ms(a.get(last), now)?;
                let pop = match self {
                    Self::Blpop => Pop::List { left: true },
                    Self::Brpop => Pop::List { left: false },
                    Self::Bzpopmin => Pop::Zset { min: true },
                    _ => Pop::Zset { min: false },
                };
                ((pop, keys(1, last), None), t)
            }
        })
    }
}

/// The handlers of the table: the non-blocking run (inside MULTI, and on
/// a transaction's copies).
macro_rules! handlers {
    ($($name:ident: $cmd:ident),+) => {
        $(
            pub fn $name(db: &mut Db, a: &Args<'_>, now: u64, out: &mut Vec<u8>) -> cmd::R {
                pop_now(BlockCmd::$cmd, db, a, now, out)
            }
        )+
    };
}

handlers!(
    blpop: Blpop,
    brpop: Brpop,
    bzpopmin: Bzpopmin,
    bzpopmax: Bzpopmax,
    blmove: Blmove,
    brpoplpush: Brpoplpush,
    blmpop: Blmpop,
    bzmpop: Bzmpop
);

/// Pops what is there, else answers nil (Redis's blocking commands inside
/// MULTI).
pub(super) fn pop_now(
    c: BlockCmd,
    db: &mut Db,
    a: &Args<'_>,
    now: u64,
    out: &mut Vec<u8>,
) -> cmd::R {
    let ((pop, keys, dst), _) = c.read(a, now)?;
    match pop {
        Pop::ListMany { left, count } | Pop::ZsetMany { min: left, count } => {
            let m = cmd::Mpop {
                keys: keys.iter().map(Vec::as_slice).collect(),
                first_end: left,
                count,
            };
            return if matches!(pop, Pop::ListMany { .. }) {
                cmd::lmpop_keys(db, &m, now, out)
            } else {
                cmd::zmpop_keys(db, &m, now, out)
            };
        }
        _ => {}
    }
    for k in &keys {
        match state(db, k, pop, now) {
            State::Empty => continue,
            State::WrongType => return Err(cmd::Msg(cmd::WRONGTYPE.as_bytes().to_vec())),
            State::Ready => {}
        }
        let mut inner = Vec::new();
        match pop {
            Pop::List { left } => {
                let args = owned(&[if left { b"LPOP" } else { b"RPOP" }, k]);
                cmd::exec(db, lookup(&args), &args.args(), now, &mut inner);
                reply::array(out, 2);
                reply::bulk(out, k);
                out.extend_from_slice(&inner);
            }
            Pop::Zset { min } => {
                let args = owned(&[if min { b"ZPOPMIN" } else { b"ZPOPMAX" }, k]);
                cmd::exec(db, lookup(&args), &args.args(), now, &mut inner);
                reply::array(out, 3);
                reply::bulk(out, k);
                out.extend_from_slice(inner.splitn(2, |&c| c == b'\n').nth(1).unwrap_or_default());
            }
            Pop::Move { from_left, to_left } => {
                let side = |l: bool| -> &[u8] {
                    if l {
                        b"LEFT"
                    } else {
                        b"RIGHT"
                    }
                };
                let dst = dst.as_deref().expect("a move's destination");
                let args = owned(&[b"LMOVE", k, dst, side(from_left), side(to_left)]);
                cmd::exec(db, lookup(&args), &args.args(), now, out);
            }
            Pop::ListMany { .. } | Pop::ZsetMany { .. } => unreachable!("answered above"),
        }
        return Ok(());
    }
    match pop {
        Pop::Move { .. } => reply::nil(out),
        _ => reply::nil_array(out),
    }
    Ok(())
}

pub(super) fn lookup(args: &OwnedArgs) -> &'static cmd::Spec {
    cmd::lookup(args.args().get(0)).expect("a command of the table")
}
