//! The values a key holds: strings, lists, hashes, sets and sorted sets
//! ([`ZSet`], with its scores and order).

use super::*;

/// A sorted set: scores by member, and members ordered by (score, member).
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    pub scores: HashMap<Vec<u8>, f64, Fx>,
    pub order: BTreeSet<(Score, Vec<u8>)>,
}

/// An `f64` with a total order (scores are never NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl ZSet {
    /// Sets `member`'s score; returns whether it is new. A score of -0 is
    /// kept as 0, as Redis's listpack (every sorted set of up to 128
    /// members) keeps it; this also keeps the order of `total_cmp` the
    /// order of `<`, as Redis sorts.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        let score = if score == 0.0 { 0.0 } else { score };
        match self.scores.insert(member.to_vec(), score) {
            Some(old) => {
                self.order.remove(&(Score(old), member.to_vec()));
                self.order.insert((Score(score), member.to_vec()));
                false
            }
            None => {
                self.order.insert((Score(score), member.to_vec()));
                true
            }
        }
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(score) => {
                self.order.remove(&(Score(score), member.to_vec()));
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

/// A value of any type.
#[derive(Debug, Clone)]
pub enum Value {
    Str(Vec<u8>),
    List(VecDeque<Vec<u8>>),
    Hash(HashMap<Vec<u8>, Vec<u8>, Fx>),
    Set(HashSet<Vec<u8>, Fx>),
    ZSet(ZSet),
}

impl Value {
    /// The name `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The value as text, the same for equal values whatever their
    /// tables' order (sets and hashes sorted): for comparing keyspaces.
    pub fn canonical(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            Value::List(l) => format!("{l:?}"),
            Value::Hash(h) => {
                let mut v: Vec<_> = h.iter().collect();
                v.sort();
                format!("{v:?}")
            }
            Value::Set(s) => {
                let mut v: Vec<_> = s.iter().collect();
                v.sort();
                format!("{v:?}")
            }
            Value::ZSet(z) => format!("{:?}", z.order),
        }
    }

    /// An aggregate with no element left is deleted, as in Redis.
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
}
