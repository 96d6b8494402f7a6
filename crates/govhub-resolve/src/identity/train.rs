//! Estimating the model from the records being resolved, as Splink does: u from random
//! pairs, m by expectation–maximisation over the candidate pairs of each blocking rule,
//! each comparison's m only from the rules that do not involve it.
//!
//! - **u** (how often a level occurs between two different people) is counted over
//!   random pairs of records: almost all of them are different people. Pairs with the
//!   same valid resident ID are left out.
//! - **m** (how often a level occurs between two records of one person) comes from the
//!   pairs a blocking rule brings together: records sharing a phone, a name's pinyin
//!   and birth year, a birth date and surname character, or a given name's pinyin and
//!   birth date ([`BLOCK_RULES`]).
//!   Within one rule's pairs, expectation–maximisation splits the pairs into matches
//!   and non-matches with u held fixed: each pair's probability of being a match
//!   follows from the current m, u and share of matches (E), and m is then the level
//!   frequency weighted by those probabilities (M). A rule says nothing about the
//!   comparisons it is built on (every pair sharing a phone agrees on the phone), so a
//!   comparison's m is the average over the rules that do not involve it: the name and
//!   birth date are learned from records that share a phone, the phone from records
//!   that share a name and birth date.
//! - **Labels where they exist**: a pair with the same valid resident ID is a match and
//!   one with two different valid IDs is not; with labels on, those pairs keep that
//!   probability instead of an estimated one, and the prior is the share of matching
//!   pairs among records with an ID. Without labels (`govhub eval --train --no-labels`,
//!   or data with no IDs), every pair is estimated and so is the prior: the expected
//!   number of matching pairs among all candidate pairs, over all pairs.
//!
//! Why fixed u and one rule at a time: household members share a phone, a surname and
//! an address, so comparisons are not independent given match status. An earlier EM over
//! all candidate pairs with m and u both free converged to "every candidate pair is a
//! match". Fixing u from random pairs anchors what a non-match looks like, and leaving
//! out the rule's own comparisons keeps the selection from pretending to be evidence.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::compare::{Comparison, Levels, NAME_AGREES, compare};
use super::features::Owned;
use super::model::{LevelModel, Model};
use super::observation::Observation;
use super::store::{BLOCK_RULES, block_keys};

/// Names seen fewer times than this are "rare": their frequency is not stored.
const COMMON_NAME_COUNT: usize = 3;
/// Random pairs drawn to estimate u. Agreement on a phone or an exact birth date is rare
/// among non-matches (a few in a hundred thousand pairs): fewer draws leave its u, and so
/// the weight of agreeing, to a handful of counts.
const RANDOM_PAIRS: usize = 4_000_000;
/// Comparisons that weigh nothing in the E-step, though their m is estimated (M) like
/// the others': household members share them and no blocking rule is built on them, so
/// among a rule's pairs (the phone rule's above all, where households are) agreeing on
/// one marks a household rather than a person. As evidence, the address made parents,
/// children and spouses sharing a phone look like matches, and every other comparison's
/// "different" level looked common among matches (sex different −6.4 bits instead of
/// −15.5, birth date −4.3 instead of −12.4).
const NOT_EVIDENCE_IN_EM: [Comparison; 1] = [Comparison::Address];
/// Blocks larger than this are skipped when collecting candidate pairs (resolution
/// compares at most about this many per key too).
const MAX_BLOCK: usize = 50;
/// EM rounds per blocking rule at most; it stops earlier once no m moves by more than
/// [`CONVERGED`].
const MAX_ROUNDS: usize = 50;
const CONVERGED: f64 = 1e-5;
/// A comparison's m is taken from a rule only when the rule's matches (in expectation)
/// have it on both sides at least this many times.
const MIN_EXPECTED: f64 = 20.0;

/// Whether resident IDs label pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// Same valid ID: a match; two different valid IDs: not one.
    ResidentId,
    /// Every pair estimated, as for data without IDs.
    None,
}

/// What training did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Records trained on.
    pub records: usize,
    /// Candidate pairs from blocking (each once).
    pub candidate_pairs: usize,
    /// Of those, pairs labelled matches by resident IDs (0 without labels).
    pub matches: usize,
    /// Random pairs drawn (u is estimated from them).
    pub random_pairs: usize,
    /// Each blocking rule's estimation.
    pub rules: Vec<RuleReport>,
}

/// One blocking rule's part of training.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    /// The rule.
    pub rule: &'static str,
    /// Its candidate pairs.
    pub pairs: usize,
    /// Of those, pairs whose match status resident IDs tell.
    pub labelled: usize,
    /// The estimated share of matches among its pairs.
    pub match_share: f64,
    /// EM rounds until m stopped moving.
    pub rounds: usize,
    /// The comparisons whose m this rule gave.
    pub estimated: Vec<&'static str>,
}

/// Estimates a model from `observations`; `seed` drives the random pairs.
pub fn train(
    observations: &[Observation],
    seed: u64,
    trained_on: &str,
    labels: Labels,
) -> (Model, TrainReport) {
    train_with(observations, seed, trained_on, labels, RANDOM_PAIRS)
}

/// [`train`] drawing `random_pairs` pairs for u.
fn train_with(
    observations: &[Observation],
    seed: u64,
    trained_on: &str,
    labels: Labels,
    random_pairs: usize,
) -> (Model, TrainReport) {
    let owned: Vec<Owned> = observations.iter().map(Owned::of).collect();
    let label = |a: &Owned, b: &Owned| match labels {
        Labels::ResidentId if a.id != 0 && b.id != 0 => Some(a.id == b.id),
        _ => None,
    };

    let (u, name_agreement_u, random_pairs) = estimate_u(&owned, seed, random_pairs);

    // Each rule's candidate pairs.
    let mut per_rule: Vec<Vec<(u32, u32)>> = vec![Vec::new(); BLOCK_RULES.len()];
    let mut blocks: FxHashMap<(usize, u32), Vec<u32>> = FxHashMap::default();
    for (i, o) in owned.iter().enumerate() {
        for (b, key) in block_keys(o).iter().enumerate() {
            if *key != 0 {
                blocks.entry((b, *key)).or_default().push(i as u32);
            }
        }
    }
    for ((rule, _), members) in &blocks {
        if members.len() > MAX_BLOCK {
            continue;
        }
        for (x, a) in members.iter().enumerate() {
            for b in &members[x + 1..] {
                per_rule[*rule].push((*a.min(b), *a.max(b)));
            }
        }
    }
    drop(blocks);
    let mut all: FxHashSet<(u32, u32)> = FxHashSet::default();
    for pairs in &mut per_rule {
        // Two records sharing a key twice over (the same phone in two blocks) are one
        // pair; sorted so that training does not depend on hash order.
        pairs.sort_unstable();
        pairs.dedup();
        all.extend(pairs.iter().copied());
    }

    // m: EM per rule, then each comparison averaged over the rules that estimated it.
    let sizes: Vec<usize> = Comparison::ALL.iter().map(|c| c.levels().len()).collect();
    let mut m_sum: Vec<Vec<f64>> = sizes.iter().map(|s| vec![0.0; *s]).collect();
    let mut m_rules = vec![0usize; sizes.len()];
    let mut rules = Vec::new();
    for (rule, pairs) in per_rule.iter().enumerate() {
        let (name, involved) = BLOCK_RULES[rule];
        let sample: Vec<(Levels, Option<bool>)> = pairs
            .iter()
            .map(|(a, b)| {
                let (a, b) = (&owned[*a as usize], &owned[*b as usize]);
                (compare(&a.features(), &b.features()), label(a, b))
            })
            .collect();
        let free: Vec<bool> = Comparison::ALL
            .iter()
            .map(|c| !involved.contains(c))
            .collect();
        let fit = expectation_maximisation(&sample, &u, &free);
        let mut estimated = Vec::new();
        for (c, comparison) in Comparison::ALL.iter().enumerate() {
            if free[c] && fit.support[c] >= MIN_EXPECTED {
                for (sum, m) in m_sum[c].iter_mut().zip(&fit.m[c]) {
                    *sum += m;
                }
                m_rules[c] += 1;
                estimated.push(comparison.as_str());
            }
        }
        rules.push(RuleReport {
            rule: name,
            pairs: pairs.len(),
            labelled: sample.iter().filter(|(_, l)| l.is_some()).count(),
            match_share: fit.match_share,
            rounds: fit.rounds,
            estimated,
        });
    }
    // A comparison no rule could estimate (say, only one department records the
    // division code) says nothing: m = u, weight 0.
    let m: Vec<Vec<f64>> = m_sum
        .iter()
        .zip(&m_rules)
        .zip(&u)
        .map(|((sum, n), u)| {
            if *n == 0 {
                u.clone()
            } else {
                sum.iter().map(|s| s / *n as f64).collect()
            }
        })
        .collect();

    let matches = all
        .iter()
        .filter(|(a, b)| label(&owned[*a as usize], &owned[*b as usize]) == Some(true))
        .count();
    let prior = match labels {
        Labels::ResidentId if owned.iter().any(|o| o.id != 0) => labelled_prior(&owned),
        _ => estimated_prior(&owned, &all, &m, &u),
    };

    let comparisons = Comparison::ALL
        .iter()
        .enumerate()
        .map(|(c, comparison)| {
            let levels = comparison
                .levels()
                .iter()
                .enumerate()
                .map(|(l, level)| LevelModel {
                    level: (*level).to_owned(),
                    m: m[c][l],
                    u: u[c][l],
                })
                .collect();
            (comparison.as_str().to_owned(), levels)
        })
        .collect();
    let (name_frequencies, rare_name_frequency) = name_frequencies(&owned);
    let model = Model {
        trained_on: trained_on.to_owned(),
        prior,
        comparisons,
        name_frequencies,
        rare_name_frequency,
        name_agreement_u,
    };
    let report = TrainReport {
        records: owned.len(),
        candidate_pairs: all.len(),
        matches,
        random_pairs,
        rules,
    };
    (model, report)
}

/// u per comparison level from random pairs that are not the same valid ID, and the
/// chance that two random records' names agree; and how many pairs were drawn.
fn estimate_u(owned: &[Owned], seed: u64, pairs: usize) -> (Vec<Vec<f64>>, f64, usize) {
    // Add-one smoothing: no level has probability 0.
    let mut counts: Vec<Vec<f64>> = Comparison::ALL
        .iter()
        .map(|c| vec![1.0; c.levels().len()])
        .collect();
    let mut rng = seed ^ 0x5DEE_CE66_D1CE_4E5B;
    let mut next = move || {
        rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (mut agree, mut drawn) = (1.0, 2.0);
    let n = owned.len() as u64;
    let random_pairs = if n < 2 { 0 } else { pairs };
    for _ in 0..random_pairs {
        let (a, b) = (&owned[(next() % n) as usize], &owned[(next() % n) as usize]);
        // At the prior's rate, pairs known to be one person are as common among random
        // pairs as a shared phone between two strangers: they are left out.
        if std::ptr::eq(a, b) || (a.id != 0 && a.id == b.id) {
            continue;
        }
        let levels = compare(&a.features(), &b.features());
        for (c, level) in levels.iter().enumerate() {
            if let Some(l) = level {
                counts[c][usize::from(*l)] += 1.0;
            }
        }
        if let Some(level) = levels[0] {
            drawn += 1.0;
            if level <= NAME_AGREES {
                agree += 1.0;
            }
        }
    }
    let u = counts.iter().map(|c| normalize(c)).collect();
    (u, agree / drawn, random_pairs)
}

/// What EM found for one rule's pairs.
struct Fit {
    m: Vec<Vec<f64>>,
    /// Per comparison, the expected number of matches with it on both sides.
    support: Vec<f64>,
    match_share: f64,
    rounds: usize,
}

/// EM over one rule's pairs: the share of matches and m of the `free` comparisons, with
/// u fixed; a labelled pair's match probability is its label.
fn expectation_maximisation(
    pairs: &[(Levels, Option<bool>)],
    u: &[Vec<f64>],
    free: &[bool],
) -> Fit {
    // Start: the most alike level likely among matches, the rest sharing what is left.
    let mut m: Vec<Vec<f64>> = u
        .iter()
        .map(|levels| {
            let rest = 0.2 / (levels.len() - 1) as f64;
            (0..levels.len())
                .map(|l| if l == 0 { 0.8 } else { rest })
                .collect()
        })
        .collect();
    let evidence: Vec<bool> = Comparison::ALL
        .iter()
        .zip(free)
        .map(|(c, free)| *free && !NOT_EVIDENCE_IN_EM.contains(c))
        .collect();
    let mut share: f64 = 0.5;
    let mut support = vec![0.0; m.len()];
    let mut rounds = 0;
    while rounds < MAX_ROUNDS && !pairs.is_empty() {
        rounds += 1;
        // Smoothing: half a count per level, so a level never seen among matches keeps
        // a small m rather than none.
        let mut counts: Vec<Vec<f64>> = m.iter().map(|l| vec![0.5; l.len()]).collect();
        let mut matched = 0.0;
        let prior_log_odds = (share / (1.0 - share)).log2();
        for (levels, label) in pairs {
            let p = match label {
                Some(true) => 1.0,
                Some(false) => 0.0,
                None => {
                    let mut log_odds = prior_log_odds;
                    for (c, level) in levels.iter().enumerate() {
                        if let (true, Some(l)) = (evidence[c], level) {
                            let l = usize::from(*l);
                            log_odds += (m[c][l] / u[c][l]).log2();
                        }
                    }
                    let odds = log_odds.clamp(-60.0, 60.0).exp2();
                    odds / (1.0 + odds)
                }
            };
            matched += p;
            for (c, level) in levels.iter().enumerate() {
                if let Some(l) = level {
                    counts[c][usize::from(*l)] += p;
                }
            }
        }
        share = (matched / pairs.len() as f64).clamp(1e-6, 1.0 - 1e-6);
        let next: Vec<Vec<f64>> = counts.iter().map(|c| normalize(c)).collect();
        support = counts
            .iter()
            .map(|c| c.iter().sum::<f64>() - 0.5 * c.len() as f64)
            .collect();
        let moved = next
            .iter()
            .zip(&m)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
            .fold(0.0, f64::max);
        m = next;
        if moved < CONVERGED {
            break;
        }
    }
    Fit {
        m,
        support,
        match_share: share,
        rounds,
    }
}

/// The share of matching pairs among all pairs of records with a valid ID.
fn labelled_prior(owned: &[Owned]) -> f64 {
    let mut per_id: FxHashMap<u64, u64> = FxHashMap::default();
    for o in owned.iter().filter(|o| o.id != 0) {
        *per_id.entry(o.id).or_default() += 1;
    }
    let with_id: u64 = per_id.values().sum();
    let matching: u64 = per_id.values().map(|n| n * n.saturating_sub(1) / 2).sum();
    (matching as f64 + 1.0) / ((with_id * with_id.saturating_sub(1) / 2) as f64 + 2.0)
}

/// Without labels: the prior p at which the expected number of matching candidate
/// pairs, each scored with m, u and p, is p times all pairs (pairs no rule brings
/// together are taken as non-matches). Found by iterating from one match per record.
fn estimated_prior(
    owned: &[Owned],
    candidates: &FxHashSet<(u32, u32)>,
    m: &[Vec<f64>],
    u: &[Vec<f64>],
) -> f64 {
    let n = owned.len() as f64;
    let all_pairs = (n * (n - 1.0) / 2.0).max(1.0);
    let bayes: Vec<f64> = candidates
        .iter()
        .map(|(a, b)| {
            let levels = compare(
                &owned[*a as usize].features(),
                &owned[*b as usize].features(),
            );
            levels
                .iter()
                .enumerate()
                .filter_map(|(c, l)| {
                    l.map(|l| (m[c][usize::from(l)] / u[c][usize::from(l)]).log2())
                })
                .sum()
        })
        .collect();
    let mut prior = (1.0 / n).min(0.5);
    for _ in 0..50 {
        let prior_log_odds = (prior / (1.0 - prior)).log2();
        let expected: f64 = bayes
            .iter()
            .map(|w| {
                let odds = (prior_log_odds + w).clamp(-60.0, 60.0).exp2();
                odds / (1.0 + odds)
            })
            .sum();
        let next = ((expected + 1.0) / (all_pairs + 2.0)).min(0.5);
        if (next / prior - 1.0).abs() < 1e-6 {
            return next;
        }
        prior = next;
    }
    prior
}

/// Each common name's frequency among named records, and the frequency assumed for a
/// rare one.
fn name_frequencies(owned: &[Owned]) -> (BTreeMap<String, f64>, f64) {
    let mut counts: FxHashMap<&str, usize> = FxHashMap::default();
    let mut named = 0usize;
    for o in owned {
        if !o.pinyin.is_empty() {
            *counts.entry(o.pinyin.as_str()).or_default() += 1;
            named += 1;
        }
    }
    let named = named.max(1) as f64;
    let frequencies = counts
        .iter()
        .filter(|(_, c)| **c >= COMMON_NAME_COUNT)
        .map(|(name, c)| ((*name).to_owned(), *c as f64 / named))
        .collect();
    (frequencies, COMMON_NAME_COUNT as f64 / named)
}

fn normalize(counts: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    counts.iter().map(|c| c / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::observation::RecordRef;

    /// A small deterministic generator (SplitMix64).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn chance(&mut self, p: f64) -> bool {
            ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
        }
    }

    const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];
    const GIVEN: &[&str] = &[
        "伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超",
        "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "红",
    ];

    /// Records of `persons` synthetic people, two to four each, with a few per cent of
    /// each kind of noise; households of three share a phone. Returns the records and
    /// the number of true matching pairs.
    fn records(persons: u64, with_ids: bool) -> (Vec<Observation>, u64) {
        let mut rng = Rng(7);
        let mut out = Vec::new();
        let mut matching = 0;
        for p in 0..persons {
            let name = format!(
                "{}{}{}",
                SURNAMES[rng.below(SURNAMES.len() as u64) as usize],
                GIVEN[rng.below(GIVEN.len() as u64) as usize],
                GIVEN[rng.below(GIVEN.len() as u64) as usize]
            );
            let (year, month, day) = (1950 + rng.below(60), 1 + rng.below(12), 1 + rng.below(28));
            let household_phone = 13_800_000_000 + p / 3;
            let id = format!("110105{year}{month:02}{day:02}{:03}", p % 1000);
            let id = format!(
                "{id}{}",
                govhub_schema::formats::resident_id::check_char(&id).unwrap()
            );
            let copies = 2 + rng.below(3);
            matching += copies * (copies - 1) / 2;
            for c in 0..copies {
                let mut day = day;
                if rng.chance(0.05) {
                    day = 1 + (day + rng.below(27)) % 28;
                }
                let phone = if rng.chance(0.1) {
                    None
                } else if rng.chance(0.08) {
                    Some(13_900_000_000 + rng.below(100_000_000))
                } else {
                    Some(household_phone)
                };
                out.push(Observation {
                    record: RecordRef {
                        department: format!("d{c}"),
                        connector: format!("d{c}"),
                        source_record_id: format!("{p}-{c}"),
                    },
                    at_ms: 0,
                    name: Some(name.clone()),
                    resident_id: (with_ids && rng.chance(0.7)).then(|| id.clone()),
                    resident_id_unverified: None,
                    sex: None,
                    birth_date: Some(format!("{year}-{month:02}-{day:02}")),
                    phone: phone.map(|p| p.to_string()),
                    division_code: None,
                    address: None,
                    address_key: None,
                });
            }
        }
        (out, matching)
    }

    /// Random pairs for u in these tests: enough for 9,000 records' phones and birth
    /// dates to agree by chance a few times.
    const TEST_PAIRS: usize = 500_000;

    fn weight(model: &Model, comparison: &str, level: &str) -> f64 {
        let (_, _, w) = model
            .weights()
            .into_iter()
            .find(|(c, l, _)| c == comparison && l == level)
            .unwrap();
        w
    }

    /// Without a single label, EM over the phone rule's pairs learns that names and
    /// birth dates agree among matches, and the other rules that phones do; the prior
    /// comes out near the true share of matching pairs.
    #[test]
    fn without_labels_training_learns_weights_of_the_right_sign_and_the_prior() {
        let (observations, matching) = records(3_000, false);
        let (model, report) = train_with(&observations, 1, "test", Labels::None, TEST_PAIRS);
        assert_eq!(report.matches, 0);
        for (comparison, level, sign) in [
            ("name", "exact", 1.0),
            ("name", "different", -1.0),
            ("birth_date", "exact", 1.0),
            ("birth_date", "different", -1.0),
            ("phone", "same", 1.0),
        ] {
            let w = weight(&model, comparison, level);
            assert!(w * sign > 3.0, "{comparison} {level}: {w:.2} bits");
        }
        let n = observations.len() as f64;
        let truth = matching as f64 / (n * (n - 1.0) / 2.0);
        let ratio = model.prior / truth;
        assert!(
            (0.5..2.0).contains(&ratio),
            "prior {:.3e} against {truth:.3e}",
            model.prior
        );
        // The phone rule estimated the name and the birth date, not the phone.
        let phone_rule = &report.rules[0];
        assert!(phone_rule.estimated.contains(&"name"));
        assert!(!phone_rule.estimated.contains(&"phone"));
    }

    /// Households share an address as they share a phone: without labels, the phone
    /// rule's pairs are full of household members at one address, and training learns
    /// the same "different" weights with the address as without it.
    #[test]
    fn an_address_a_household_shares_does_not_make_its_members_matches() {
        let (without, _) = records(3_000, false);
        let with: Vec<Observation> = without
            .iter()
            .map(|o| {
                let person: u64 = o
                    .record
                    .source_record_id
                    .split('-')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                Observation {
                    address: Some(format!("幸福路{}号", person / 3)),
                    ..o.clone()
                }
            })
            .collect();
        let (plain, _) = train_with(&without, 1, "test", Labels::None, TEST_PAIRS);
        let (addressed, _) = train_with(&with, 1, "test", Labels::None, TEST_PAIRS);
        for (comparison, level) in [("name", "different"), ("birth_date", "different")] {
            let (a, b) = (
                weight(&plain, comparison, level),
                weight(&addressed, comparison, level),
            );
            assert!(
                a < -3.0,
                "{comparison} {level}: {a:.2} bits without addresses"
            );
            assert!(
                (a - b).abs() < 1.0,
                "{comparison} {level}: {a:.2} bits without addresses, {b:.2} with"
            );
        }
        assert!(weight(&addressed, "address", "same") > 3.0);
    }

    /// With resident IDs on most records, labels and estimates agree on the weights
    /// within a bit or two.
    #[test]
    fn labels_and_estimates_agree() {
        let (observations, _) = records(3_000, true);
        let (labelled, report) =
            train_with(&observations, 1, "test", Labels::ResidentId, TEST_PAIRS);
        let (estimated, _) = train_with(&observations, 1, "test", Labels::None, TEST_PAIRS);
        assert!(report.matches > 0);
        for (comparison, level) in [
            ("name", "exact"),
            ("birth_date", "exact"),
            ("birth_date", "different"),
            ("phone", "same"),
        ] {
            let (a, b) = (
                weight(&labelled, comparison, level),
                weight(&estimated, comparison, level),
            );
            assert!(
                (a - b).abs() < 2.0,
                "{comparison} {level}: {a:.2} vs {b:.2}"
            );
        }
    }
}
