//! Blocking recall: of the pairs of records that truly are one person, how many
//! resolution can bring together at all — by a shared resident ID, an unverified ID one
//! keystroke from the other's, or a shared blocking key (which makes two records
//! candidates for comparison), directly or through other
//! records of the same person (A shares a phone with B, B a name and birth year with C).
//! A pair not reachable so is missed whatever the model says: this bounds recall from
//! above.

use std::collections::HashMap;

use serde::Serialize;

use super::compare::one_keystroke;
use super::features::Owned;
use super::observation::Observation;
use super::store::{BLOCKS, block_keys};

/// How the true pairs of a labelled set of records can be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reach {
    /// Pairs of records of one person.
    pub true_pairs: u64,
    /// Of those, pairs with the same (valid) resident ID: linked without comparing.
    pub same_id: u64,
    /// Of the others, pairs where one ID failed its check and is one keystroke from the
    /// other's valid ID: compared.
    pub keystroke: u64,
    /// Of the others, pairs sharing a blocking key: compared (unless a key's block is
    /// over `max_block_size`, which this does not model).
    pub shared_key: u64,
    /// True pairs connected by such links, directly or through other records of the
    /// person.
    pub reachable: u64,
}

impl Reach {
    /// Reachable / true pairs; 1 when there are no true pairs.
    pub fn recall(&self) -> f64 {
        if self.true_pairs == 0 {
            1.0
        } else {
            self.reachable as f64 / self.true_pairs as f64
        }
    }
}

/// Counts how the true pairs of `observations` are reached; `truth[i]` is the person
/// observation `i` really is.
pub fn reach(observations: &[Observation], truth: &[u64]) -> Reach {
    let mut by_person: HashMap<u64, Vec<(u64, u64, [u32; BLOCKS])>> = HashMap::new();
    for (o, t) in observations.iter().zip(truth) {
        let owned = Owned::of(o);
        let keys = block_keys(&owned);
        by_person
            .entry(*t)
            .or_default()
            .push((owned.id, owned.unverified, keys));
    }
    let mut out = Reach::default();
    for records in by_person.values() {
        // Union–find over the person's records: each link joins two groups.
        let mut group: Vec<usize> = (0..records.len()).collect();
        for (i, (id_a, unverified_a, keys_a)) in records.iter().enumerate() {
            for (j, (id_b, unverified_b, keys_b)) in records.iter().enumerate().skip(i + 1) {
                out.true_pairs += 1;
                let near = |unverified: u64, id: u64| {
                    unverified != 0 && id != 0 && one_keystroke(unverified, id)
                };
                let linked = if *id_a != 0 && id_a == id_b {
                    out.same_id += 1;
                    true
                } else if near(*unverified_a, *id_b) || near(*unverified_b, *id_a) {
                    out.keystroke += 1;
                    true
                } else if keys_a.iter().zip(keys_b).any(|(a, b)| *a != 0 && a == b) {
                    out.shared_key += 1;
                    true
                } else {
                    false
                };
                if linked {
                    let (a, b) = (root(&mut group, i), root(&mut group, j));
                    group[a] = b;
                }
            }
        }
        let mut sizes: HashMap<usize, u64> = HashMap::new();
        for i in 0..records.len() {
            *sizes.entry(root(&mut group, i)).or_default() += 1;
        }
        out.reachable += sizes.values().map(|n| n * (n - 1) / 2).sum::<u64>();
    }
    out
}

/// The representative of `x`'s group, halving the path on the way.
fn root(group: &mut [usize], mut x: usize) -> usize {
    while group[x] != x {
        group[x] = group[group[x]];
        x = group[x];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::RecordRef;

    fn o(name: &str, birth: &str, phone: Option<&str>) -> Observation {
        Observation {
            record: RecordRef {
                department: "d".into(),
                connector: "c".into(),
                source_record_id: name.into(),
            },
            at_ms: 0,
            name: Some(name.into()),
            resident_id: None,
            resident_id_unverified: None,
            sex: None,
            birth_date: Some(birth.into()),
            phone: phone.map(str::to_owned),
            division_code: None,
            address: None,
            address_key: None,
        }
    }

    #[test]
    fn pairs_are_reached_by_a_shared_key_and_missed_without_one() {
        let records = [
            o("张伟", "1985-03-12", None),
            // Same pinyin name and birth year: a shared key.
            o("章伟", "1985-07-01", None),
            // Another name, another birth date, no phone: nothing shared.
            o("王芳", "1990-01-01", None),
        ];
        let r = reach(&records, &[1, 1, 1]);
        assert_eq!(
            (
                r.true_pairs,
                r.same_id,
                r.keystroke,
                r.shared_key,
                r.reachable
            ),
            (3, 0, 0, 1, 1)
        );
        assert!((r.recall() - 1.0 / 3.0).abs() < 1e-12);
        // A phone the second and third share makes the first reach the third too.
        let chained = [
            o("张伟", "1985-03-12", None),
            o("章伟", "1985-07-01", Some("13800138000")),
            o("王芳", "1990-01-01", Some("13800138000")),
        ];
        let r = reach(&chained, &[1, 1, 1]);
        assert_eq!(
            (
                r.true_pairs,
                r.same_id,
                r.keystroke,
                r.shared_key,
                r.reachable
            ),
            (3, 0, 0, 2, 3)
        );
        assert_eq!(r.recall(), 1.0);
    }

    #[test]
    fn a_look_alike_surname_is_reached_by_given_name_and_birth_date() {
        // 扬 / 杨 (yáng) and 汤 (tāng): another surname character, another pinyin, and no
        // phone: only the given name's pinyin with the birth date is shared.
        let records = [
            o("汤建军", "1985-03-12", None),
            o("杨建军", "1985-03-12", None),
        ];
        let r = reach(&records, &[1, 1]);
        assert_eq!((r.shared_key, r.reachable), (1, 1));
    }
}
