//! How a configuration key is declared once: its kind (a type below) says
//! what TOML type it takes, how it is validated — bounds included — and
//! how it is printed; [`section!`] turns one line per key (doc, name, kind,
//! default) into the section's public struct, its serde shape that rejects
//! unknown keys, its reading with errors that name the key and the line,
//! and its printing.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::{Spanned, Value};

use super::{absolute, show_size, ConfigError, Validator};

/// A kind of value a key takes.
pub(crate) trait Kind {
    /// What the file holds (serde checks its TOML type).
    type Raw: DeserializeOwned;
    /// The validated value.
    type Value;
    /// Validates what `key` holds.
    fn read(
        v: &Validator<'_>,
        key: &str,
        raw: &Spanned<Self::Raw>,
    ) -> Result<Self::Value, ConfigError>;
    /// The value as the file would write it; `None`: the key is left out.
    fn print(value: &Self::Value) -> Option<Value>;
}

/// A size in bytes, `65536` or `"64KiB"`, at most `MAX`.
pub(crate) struct Size<const MAX: usize>;

impl<const MAX: usize> Kind for Size<MAX> {
    type Raw = IntOrText;
    type Value = usize;
    fn read(v: &Validator<'_>, key: &str, raw: &Spanned<IntOrText>) -> Result<usize, ConfigError> {
        v.size(key, raw, MAX)
    }
    fn print(n: &usize) -> Option<Value> {
        Some(match show_size(*n) {
            t if t.bytes().all(|b| b.is_ascii_digit()) => Value::Integer(*n as i64),
            t => Value::String(t),
        })
    }
}

/// A duration, `"60s"` or `0`, at most [`MAX_DURATION`](super::MAX_DURATION).
pub(crate) struct Dur;

impl Kind for Dur {
    type Raw = IntOrText;
    type Value = Duration;
    fn read(
        v: &Validator<'_>,
        key: &str,
        raw: &Spanned<IntOrText>,
    ) -> Result<Duration, ConfigError> {
        v.duration(key, raw)
    }
    fn print(d: &Duration) -> Option<Value> {
        Some(print_duration(*d))
    }
}

/// A duration where `0` means "none".
pub(crate) struct OptDur;

impl Kind for OptDur {
    type Raw = IntOrText;
    type Value = Option<Duration>;
    fn read(
        v: &Validator<'_>,
        key: &str,
        raw: &Spanned<IntOrText>,
    ) -> Result<Option<Duration>, ConfigError> {
        Ok(Some(v.duration(key, raw)?).filter(|d| !d.is_zero()))
    }
    fn print(d: &Option<Duration>) -> Option<Value> {
        Some(print_duration(d.unwrap_or_default()))
    }
}

/// A duration as the configuration writes it.
pub(crate) fn print_duration(d: Duration) -> Value {
    if d.is_zero() {
        Value::Integer(0)
    } else {
        Value::String(humantime::format_duration(d).to_string())
    }
}

/// What an integer key's error says it allows, after "is not allowed: ".
pub(crate) trait Allowed {
    const TEXT: &'static str;
}

/// An integer from `MIN` to `MAX`; `A` words the error.
pub(crate) struct Int<const MIN: i64, const MAX: i64, A>(PhantomData<A>);

impl<const MIN: i64, const MAX: i64, A: Allowed> Kind for Int<MIN, MAX, A> {
    type Raw = i64;
    type Value = usize;
    fn read(v: &Validator<'_>, key: &str, raw: &Spanned<i64>) -> Result<usize, ConfigError> {
        let n = *raw.get_ref();
        if (MIN..=MAX).contains(&n) {
            Ok(n as usize)
        } else {
            Err(v.err(key, raw.span(), format!("{n} is not allowed: {}", A::TEXT)))
        }
    }
    fn print(n: &usize) -> Option<Value> {
        Some(Value::Integer(*n as i64))
    }
}

/// `true` or `false`.
pub(crate) struct Bool;

impl Kind for Bool {
    type Raw = bool;
    type Value = bool;
    fn read(_: &Validator<'_>, _: &str, raw: &Spanned<bool>) -> Result<bool, ConfigError> {
        Ok(*raw.get_ref())
    }
    fn print(b: &bool) -> Option<Value> {
        Some(Value::Boolean(*b))
    }
}

/// One of a fixed set of words, as the enum `Self::Value`.
pub(crate) trait Words: Sized + Clone + 'static {
    /// Every word, with its value.
    const ALL: &'static [(&'static str, Self)];
    /// How the error lists them, after "is not allowed: ".
    const TEXT: &'static str;
}

/// A key that takes one of `W`'s words.
pub(crate) struct Word<W>(PhantomData<W>);

impl<W: Words + PartialEq> Kind for Word<W> {
    type Raw = String;
    type Value = W;
    fn read(v: &Validator<'_>, key: &str, raw: &Spanned<String>) -> Result<W, ConfigError> {
        W::ALL
            .iter()
            .find(|(w, _)| w == raw.get_ref())
            .map(|(_, value)| value.clone())
            .ok_or_else(|| {
                v.err(
                    key,
                    raw.span(),
                    format!("\"{}\" is not allowed: {}", raw.get_ref(), W::TEXT),
                )
            })
    }
    fn print(value: &W) -> Option<Value> {
        W::ALL
            .iter()
            .find(|(_, w)| w == value)
            .map(|(word, _)| Value::String((*word).to_string()))
    }
}

/// An optional path, made absolute; an empty one is an error.
pub(crate) struct OptPath;

impl Kind for OptPath {
    type Raw = String;
    type Value = Option<PathBuf>;
    fn read(
        v: &Validator<'_>,
        key: &str,
        raw: &Spanned<String>,
    ) -> Result<Option<PathBuf>, ConfigError> {
        if raw.get_ref().trim().is_empty() {
            return Err(v.err(
                key,
                raw.span(),
                "must name a path, e.g. \"/run/shardloop/control.sock\"",
            ));
        }
        Ok(Some(absolute(std::path::Path::new(raw.get_ref()))))
    }
    fn print(p: &Option<PathBuf>) -> Option<Value> {
        p.as_ref().map(|p| Value::String(p.display().to_string()))
    }
}

/// An IP address with a port.
pub(crate) struct SockAddr;

impl Kind for SockAddr {
    type Raw = String;
    type Value = SocketAddr;
    fn read(
        v: &Validator<'_>,
        key: &str,
        raw: &Spanned<String>,
    ) -> Result<SocketAddr, ConfigError> {
        raw.get_ref().parse::<SocketAddr>().map_err(|_| {
            v.err(
                key,
                raw.span(),
                format!(
                    "{:?} is not an IP address with a port, e.g. \"127.0.0.1:9100\"",
                    raw.get_ref()
                ),
            )
        })
    }
    fn print(a: &SocketAddr) -> Option<Value> {
        Some(Value::String(a.to_string()))
    }
}

/// Declares a configuration section: one line per key — its doc, name,
/// type, kind and default — and an optional check across its keys.
/// Generates the public struct (`#[non_exhaustive]`, `Default` from the
/// defaults), the serde shape of the table as written (unknown keys
/// rejected, every value with its position), reading it (each key validated
/// by its kind, errors naming `table.key` and the line) and printing it
/// (`to_toml`, in declaration order).
///
/// Optional blocks after the keys: `extra { … }` public fields that are not
/// keys of the table (set by the caller from other tables), `raw { … }`
/// fields of the table as written that the caller validates itself (a
/// nested table), and `open rest;` to collect every other key in
/// `rest` instead of rejecting it (the caller decides).
macro_rules! section {
    (
        $(#[$meta:meta])*
        pub struct $Name:ident, raw $Raw:ident, table $table:literal $(, check $check:path)? {
            $( $(#[doc = $doc:literal])+ $field:ident: $ty:ty as $kind:ty = $default:expr, )*
        }
        $( extra { $( $(#[doc = $xdoc:literal])+ $xfield:ident: $xty:ty = $xdefault:expr, )* } )?
        $( raw { $( $(#[doc = $rdoc:literal])+ $rfield:ident: $rty:ty, )* } )?
        $( open $rest:ident; )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $Name {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
            $( $( $(#[doc = $xdoc])+ pub $xfield: $xty, )* )?
        }

        impl Default for $Name {
            fn default() -> Self {
                Self {
                    $( $field: $default, )*
                    $( $( $xfield: $xdefault, )* )?
                }
            }
        }

        section!(@raw $Raw, $table, [$( $rest )?] {
            $( $field: Option<toml::Spanned<<$kind as $crate::config::keys::Kind>::Raw>>, )*
            $( $( $(#[doc = $rdoc])+ $rfield: $rty, )* )?
        });

        impl $Name {
            /// Validates the table as written, its keys named
            /// `prefix.key` in errors; absent keys take their defaults.
            pub(crate) fn read_at(
                v: &$crate::config::Validator<'_>,
                prefix: &str,
                raw: &$Raw,
            ) -> Result<Self, $crate::config::ConfigError> {
                #[allow(unused_mut)]
                let mut section = Self::default();
                $(
                    if let Some(value) = &raw.$field {
                        section.$field = <$kind as $crate::config::keys::Kind>::read(
                            v,
                            &format!("{prefix}.{}", stringify!($field)),
                            value,
                        )?;
                    }
                )*
                $( $check(&mut section, raw, v, prefix)?; )?
                Ok(section)
            }

            /// Validates the table as written; absent keys take their
            /// defaults.
            #[allow(dead_code)]
            pub(crate) fn read(
                v: &$crate::config::Validator<'_>,
                raw: &$Raw,
            ) -> Result<Self, $crate::config::ConfigError> {
                Self::read_at(v, $table, raw)
            }

            /// The table's keys as TOML, every one with the value in use.
            pub(crate) fn to_toml(&self) -> toml::Table {
                let mut t = toml::Table::new();
                $(
                    if let Some(value) = <$kind as $crate::config::keys::Kind>::print(&self.$field) {
                        t.insert(stringify!($field).into(), value);
                    }
                )*
                t
            }
        }
    };
    (@raw $Raw:ident, $table:literal, [] { $( $(#[doc = $rdoc:literal])* $rfield:ident: $rty:ty, )* }) => {
        #[doc = concat!("`[", $table, "]` as written.")]
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $Raw {
            $( $(#[doc = $rdoc])* pub(crate) $rfield: $rty, )*
        }
    };
    (@raw $Raw:ident, $table:literal, [$rest:ident] { $( $(#[doc = $rdoc:literal])* $rfield:ident: $rty:ty, )* }) => {
        #[doc = concat!("`[", $table, "]` as written; keys it does not declare are in `", stringify!($rest), "`.")]
        #[derive(Debug, Default, serde::Deserialize)]
        pub(crate) struct $Raw {
            $( $(#[doc = $rdoc])* pub(crate) $rfield: $rty, )*
            /// Every other key of the table, for the caller to judge.
            #[serde(flatten)]
            pub(crate) $rest: std::collections::BTreeMap<String, toml::Value>,
        }
    };
}

pub(crate) use section;

/// A value that may be written as a number or a string with units
/// (`65536` or `"64KiB"`; `0` or `"60s"`; `2` or `"auto"`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum IntOrText {
    Int(i64),
    Text(String),
}

impl IntOrText {
    /// As written in the file: a number bare, text in quotes.
    pub(crate) fn quoted(&self) -> String {
        match self {
            IntOrText::Int(n) => n.to_string(),
            IntOrText::Text(s) => format!("\"{s}\""),
        }
    }
}

impl std::fmt::Display for IntOrText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrText::Int(n) => write!(f, "{n}"),
            IntOrText::Text(s) => f.write_str(s),
        }
    }
}
