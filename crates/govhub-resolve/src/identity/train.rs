//! Estimating the model from records, with the resident ID as the label: m is the
//! level frequency among candidate pairs (sharing a blocking key) whose records carry
//! the same resident ID; u the level frequency among random pairs that are not (known
//! to be) one person; the prior the share of matching pairs among all pairs of
//! records with an ID. Names' frequencies are counted over all records.
//!
//! Why not unsupervised EM for m (as Splink does without labels): on these records
//! household members share phone, surname and address, which breaks EM's assumption
//! that comparisons are independent given match status, and EM converged to "every
//! candidate pair is a match". Resident IDs are on most government records, so labels
//! come free.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::compare::{Comparison, Levels, NAME_AGREES, compare};
use super::features::Owned;
use super::model::{LevelModel, Model};
use super::observation::Observation;
use super::store::block_keys;

/// Names seen fewer times than this are "rare": their frequency is not stored.
const COMMON_NAME_COUNT: usize = 3;
/// Random pairs drawn to estimate u. Agreement on a phone or an exact birth date is rare
/// among non-matches (a few in a hundred thousand pairs): fewer draws leave its u, and so
/// the weight of agreeing, to a handful of counts.
const RANDOM_PAIRS: usize = 4_000_000;
/// Blocks larger than this are skipped when collecting candidate pairs (resolution
/// compares at most about this many per key too).
const MAX_BLOCK: usize = 50;

/// What training did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Records trained on.
    pub records: usize,
    /// Candidate pairs from blocking.
    pub candidate_pairs: usize,
    /// Of those, pairs labelled by resident IDs as matches (m is estimated from them).
    pub matches: usize,
    /// Random pairs drawn (u is estimated from them).
    pub random_pairs: usize,
}

/// Estimates a model from `observations`; `seed` drives the random pairs.
pub fn train(observations: &[Observation], seed: u64, trained_on: &str) -> (Model, TrainReport) {
    let owned: Vec<Owned> = observations.iter().map(Owned::of).collect();
    let sizes: Vec<usize> = Comparison::ALL.iter().map(|c| c.levels().len()).collect();

    // Candidate pairs from blocking.
    let mut blocks: FxHashMap<(usize, u32), Vec<u32>> = FxHashMap::default();
    for (i, o) in owned.iter().enumerate() {
        for (b, key) in block_keys(&o.features(), o.initial).iter().enumerate() {
            if *key != 0 {
                blocks.entry((b, *key)).or_default().push(i as u32);
            }
        }
    }
    let mut pairs: FxHashSet<(u32, u32)> = FxHashSet::default();
    for members in blocks.values().filter(|m| m.len() <= MAX_BLOCK) {
        for (x, a) in members.iter().enumerate() {
            for b in &members[x + 1..] {
                pairs.insert((*a.min(b), *a.max(b)));
            }
        }
    }

    // m: level counts among labelled matches (add-one smoothing: no level has
    // probability 0).
    let mut m_counts: Vec<Vec<f64>> = sizes.iter().map(|s| vec![1.0; *s]).collect();
    let mut u_counts = m_counts.clone();
    let mut matches = 0usize;
    for (a, b) in &pairs {
        let (a, b) = (&owned[*a as usize], &owned[*b as usize]);
        if a.id != 0 && a.id == b.id {
            matches += 1;
            add(&mut m_counts, &compare(&a.features(), &b.features()));
        }
    }
    // The prior: matching pairs among all pairs of records with an ID.
    let mut per_id: FxHashMap<u64, u64> = FxHashMap::default();
    for o in owned.iter().filter(|o| o.id != 0) {
        *per_id.entry(o.id).or_default() += 1;
    }
    let with_id: u64 = per_id.values().sum();
    let matching: u64 = per_id.values().map(|n| n * n.saturating_sub(1) / 2).sum();
    let prior = (matching as f64 + 1.0) / ((with_id * with_id.saturating_sub(1) / 2) as f64 + 2.0);

    // Name frequencies among records, and chance agreement over random pairs.
    let mut counts: FxHashMap<&str, usize> = FxHashMap::default();
    let mut named = 0usize;
    for o in &owned {
        if !o.pinyin.is_empty() {
            *counts.entry(o.pinyin.as_str()).or_default() += 1;
            named += 1;
        }
    }
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
    let random_pairs = if n < 2 { 0 } else { RANDOM_PAIRS };
    for _ in 0..random_pairs {
        let (a, b) = (&owned[(next() % n) as usize], &owned[(next() % n) as usize]);
        // u is the level frequency among non-matches: a pair known to be one person
        // (same resident ID) is left out. At the prior's rate, such pairs are as common
        // among random pairs as a shared phone between two strangers.
        if std::ptr::eq(a, b) || (a.id != 0 && a.id == b.id) {
            continue;
        }
        let levels = compare(&a.features(), &b.features());
        add(&mut u_counts, &levels);
        if let Some(level) = levels[0] {
            drawn += 1.0;
            if level <= NAME_AGREES {
                agree += 1.0;
            }
        }
    }
    let named = named.max(1) as f64;
    let name_frequencies: BTreeMap<String, f64> = counts
        .iter()
        .filter(|(_, c)| **c >= COMMON_NAME_COUNT)
        .map(|(name, c)| ((*name).to_owned(), *c as f64 / named))
        .collect();

    let u: Vec<Vec<f64>> = u_counts.iter().map(|c| normalize(c)).collect();
    // A comparison no labelled match has on both sides (say, only one department
    // records the division code) says nothing: m = u, weight 0.
    let m: Vec<Vec<f64>> = m_counts
        .iter()
        .zip(&u)
        .map(|(c, u)| {
            if c.iter().sum::<f64>() <= c.len() as f64 {
                u.clone()
            } else {
                normalize(c)
            }
        })
        .collect();
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
    let model = Model {
        trained_on: trained_on.to_owned(),
        prior,
        comparisons,
        name_frequencies,
        rare_name_frequency: COMMON_NAME_COUNT as f64 / named,
        name_agreement_u: agree / drawn,
    };
    let report = TrainReport {
        records: owned.len(),
        candidate_pairs: pairs.len(),
        matches,
        random_pairs,
    };
    (model, report)
}

fn add(counts: &mut [Vec<f64>], levels: &Levels) {
    for (c, level) in levels.iter().enumerate() {
        if let Some(l) = level {
            counts[c][usize::from(*l)] += 1.0;
        }
    }
}

fn normalize(counts: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    counts.iter().map(|c| c / total).collect()
}
