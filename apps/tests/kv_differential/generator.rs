//! The generator's seeded random numbers and value pools.

/// xorshift64*: the same sequences for the same seed.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(super) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub(super) fn pick(&mut self, v: &[&str]) -> Vec<u8> {
        v[self.below(v.len())].as_bytes().to_vec()
    }
}

pub(super) const VALUES: &[&str] = &[
    "1",
    "2",
    "10",
    "-3",
    "0",
    "abc",
    "1.5",
    "",
    "hello world",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1e3",
    " 1",
    "01",
    "x\r\ny",
];
pub(super) const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "10",
    "-3",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "x",
    "",
    "1.5",
    " 1",
    "01",
    "+1",
    "-0",
];
pub(super) const FLOATS: &[&str] = &[
    "0",
    "1",
    "1.5",
    "-2.5",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1e308",
    "1.7976931348623157e308",
    "x",
    "",
    "0x10",
    "1e400",
    "-0",
    "3.0",
    "0.1",
    "5e-324",
    "12345678901234567890",
];
pub(super) const EXPIRES: &[&str] = &[
    "0",
    "-1",
    "100000",
    "9223372036854775807",
    "9223372036854775",
    "9223372036854776",
    "-9223372036854775808",
    "x",
    "1.5",
    "4611686018427387904",
    "10000000000000000",
    "",
];
/// Absolute times for EXAT/PXAT: far ahead, at the edges, or invalid.
pub(super) const FUTURE: &[&str] = &[
    "0",
    "-1",
    "9223372036854775",
    "9223372036854775807",
    "4611686018427387904",
    "x",
    "",
    "99999999999999",
];
pub(super) const INDEXES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "-2",
    "5",
    "-100",
    "100",
    "x",
    "9223372036854775807",
    "-9223372036854775808",
];
pub(super) const COUNTS: &[&str] = &[
    "0",
    "1",
    "2",
    "5",
    "-1",
    "x",
    "9223372036854775807",
    "100000",
];
pub(super) const FIELDS: &[&str] = &["f", "g", "h", ""];
/// Ends of lexicographic ranges, valid and not.
pub(super) const LEX: &[&str] = &[
    "-", "+", "[a", "(a", "[b", "(c", "[", "(", "a", "x", "[1", "(2", "[\u{0}", "--",
];
pub(super) const MEMBERS: &[&str] = &["a", "b", "c", "1", "2", ""];
pub(super) const PATTERNS: &[&str] = &["*", "k*", "k[0-3]", "?1", "k\\*", "[", "k[^1]*", "nomatch"];

/// A value: mostly from the pool, sometimes binary or long.
pub(super) fn value(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => vec![0, 0xff, b'\r', b'\n', 0x80],
        1 => vec![b'z'; 300],
        _ => rng.pick(VALUES),
    }
}

/// One of a few keys, so commands collide on them and on their types.
pub(super) fn key(rng: &mut Rng) -> Vec<u8> {
    format!("k{}", rng.below(7)).into_bytes()
}

/// Sometimes (30 %) a LIMIT offset count, with edge values; whether it did.
pub(super) fn limit(rng: &mut Rng, c: &mut Vec<Vec<u8>>) -> bool {
    let given = rng.chance(30);
    if given {
        c.push(b"LIMIT".to_vec());
        c.push(rng.pick(INDEXES));
        c.push(rng.pick(COUNTS));
    }
    given
}
