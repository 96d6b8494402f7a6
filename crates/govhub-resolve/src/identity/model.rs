//! The Fellegi–Sunter model: per comparison level, the probability of that level among
//! true matches (m) and among non-matches (u). A level's match weight is log2(m/u); a pair's weight is the prior's
//! plus the weights of its levels. Agreeing names are weighed by how common the name is
//! (term-frequency adjustment, as Splink does): log2(U / f), where f is the name's
//! frequency and U the chance that two random records' names agree, so two records
//! both saying 王伟 prove much less than two saying 欧阳娜娜.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::compare::{Comparison, Levels, NAME_AGREES};
use super::features::{Features, hash32};

/// A trained model, as stored in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// What the model was estimated from.
    pub trained_on: String,
    /// Probability that two records are of one person, before comparing them.
    pub prior: f64,
    /// m and u per level, per comparison (by [`Comparison::as_str`]).
    pub comparisons: BTreeMap<String, Vec<LevelModel>>,
    /// Frequency of each common name's pinyin among records.
    pub name_frequencies: BTreeMap<String, f64>,
    /// Frequency assumed for a name not in `name_frequencies`.
    pub rare_name_frequency: f64,
    /// Probability that the names of two random records agree (same pinyin): the
    /// average the term-frequency adjustment is relative to.
    pub name_agreement_u: f64,
}

/// The term-frequency adjustment is kept within this many bits either way, so that one
/// name's frequency (maybe estimated from few records) cannot decide a match alone.
const MAX_TF_ADJUSTMENT: f64 = 6.0;

/// One comparison level's probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelModel {
    /// The level's name.
    pub level: String,
    /// P(level | match).
    pub m: f64,
    /// P(level | non-match).
    pub u: f64,
}

/// Why a model is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not JSON of the model's shape.
    #[error("identity model: {0}")]
    Parse(#[from] serde_json::Error),
    /// A comparison is missing or has the wrong levels.
    #[error("identity model: {0}")]
    Shape(String),
}

/// The model shipped with govhub: estimated by `govhub eval --train` on the simulated
/// population (see README, "Identity resolution").
const DEFAULT_MODEL: &str = include_str!("default_model.json");

impl Model {
    /// The built-in model.
    pub fn builtin() -> Result<Model, ModelError> {
        Model::from_json(DEFAULT_MODEL)
    }

    /// Parses and checks a model.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        let model: Model = serde_json::from_str(text)?;
        model.compile()?;
        Ok(model)
    }

    /// The prior's weight and each level's, `log2(m/u)` in bits, as
    /// `(comparison, level, weight)` with the prior as `("prior", "", weight)` first:
    /// for showing what training changed.
    pub fn weights(&self) -> Vec<(String, String, f64)> {
        let prior = (self.prior / (1.0 - self.prior)).log2();
        let mut out = vec![("prior".to_owned(), String::new(), prior)];
        for (comparison, levels) in &self.comparisons {
            for l in levels {
                out.push((comparison.clone(), l.level.clone(), (l.m / l.u).log2()));
            }
        }
        out
    }

    /// Each weight of `other` beside this model's, as `(comparison, level, this
    /// model's weight if it has the level, other's weight)`, in the order of
    /// [`Model::weights`]: what re-estimating a model changed.
    pub fn weight_changes(&self, other: &Model) -> Vec<(String, String, Option<f64>, f64)> {
        let before: BTreeMap<(String, String), f64> = self
            .weights()
            .into_iter()
            .map(|(c, l, w)| ((c, l), w))
            .collect();
        other
            .weights()
            .into_iter()
            .map(|(c, l, after)| {
                let was = before.get(&(c.clone(), l.clone())).copied();
                (c, l, was, after)
            })
            .collect()
    }

    /// Weights ready for scoring.
    pub fn compile(&self) -> Result<Weights, ModelError> {
        let mut levels = Vec::new();
        for c in Comparison::ALL {
            // A model trained before a comparison existed says nothing about it: the
            // comparison weighs 0 bits at every level until the model is retrained.
            let Some(stored) = self.comparisons.get(c.as_str()) else {
                levels.push(vec![0.0; c.levels().len()]);
                continue;
            };
            let names: Vec<&str> = stored.iter().map(|l| l.level.as_str()).collect();
            if names != c.levels() {
                return Err(ModelError::Shape(format!(
                    "comparison {}: levels {names:?}, expected {:?}",
                    c.as_str(),
                    c.levels()
                )));
            }
            for l in stored {
                let probability = |p: f64| p > 0.0 && p <= 1.0;
                if !(probability(l.m) && probability(l.u)) {
                    return Err(ModelError::Shape(format!(
                        "comparison {} level {}: m and u must be in (0, 1]",
                        c.as_str(),
                        l.level
                    )));
                }
            }
            levels.push(
                stored
                    .iter()
                    .map(|l| (l.m / l.u).log2())
                    .collect::<Vec<_>>(),
            );
        }
        let positive = |x: f64| x > 0.0;
        let valid = positive(self.prior)
            && self.prior < 1.0
            && positive(self.rare_name_frequency)
            && positive(self.name_agreement_u);
        if !valid {
            return Err(ModelError::Shape(
                "prior must be in (0, 1); rare_name_frequency and name_agreement_u > 0".into(),
            ));
        }
        Ok(Weights {
            prior: (self.prior / (1.0 - self.prior)).log2(),
            levels,
            agreement: self.name_agreement_u,
            frequencies: self
                .name_frequencies
                .iter()
                .map(|(name, f)| (hash32(name), *f))
                .collect(),
            rare: self.rare_name_frequency,
        })
    }
}

/// A compiled model.
#[derive(Debug, Clone)]
pub struct Weights {
    prior: f64,
    levels: Vec<Vec<f64>>,
    agreement: f64,
    frequencies: FxHashMap<u32, f64>,
    rare: f64,
}

/// One comparison's part in a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The comparison.
    pub comparison: String,
    /// The level the pair fell into.
    pub level: String,
    /// Its match weight in bits (after term-frequency adjustment).
    pub weight: f64,
}

impl Weights {
    /// The match weight (bits) of a pair in these levels; `a` is the side whose name
    /// frequency adjusts an agreeing name.
    pub fn score(&self, a: &Features<'_>, levels: &Levels) -> f64 {
        let mut total = self.prior;
        for (i, level) in levels.iter().enumerate() {
            if let Some(level) = level {
                total += self.weight(i, *level, a);
            }
        }
        total
    }

    fn weight(&self, comparison: usize, level: u8, a: &Features<'_>) -> f64 {
        let level = usize::from(level);
        let base = self.levels[comparison][level];
        if comparison == 0 && level <= usize::from(NAME_AGREES) {
            let frequency = self
                .frequencies
                .get(&a.pinyin_key)
                .copied()
                .unwrap_or(self.rare);
            // A one-character name (a surname alone, a name cut short) is as common as
            // a surname: weighed as the most common names are, never as a rare one.
            if a.name.chars().nth(1).is_none() {
                return base - MAX_TF_ADJUSTMENT;
            }
            let adjustment = (self.agreement / frequency).log2();
            return base + adjustment.clamp(-MAX_TF_ADJUSTMENT, MAX_TF_ADJUSTMENT);
        }
        base
    }

    /// The weight of each comparison, for the identity topic.
    pub fn evidence(&self, a: &Features<'_>, levels: &Levels) -> Vec<Evidence> {
        Comparison::ALL
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let level = levels[i]?;
                Some(Evidence {
                    comparison: c.as_str().to_owned(),
                    level: c.levels()[usize::from(level)].to_owned(),
                    weight: (self.weight(i, level, a) * 100.0).round() / 100.0,
                })
            })
            .collect()
    }
}

/// Match weight (bits) → probability.
pub fn probability(weight: f64) -> f64 {
    let odds = weight.exp2();
    odds / (1.0 + odds)
}

/// Probability → match weight (bits).
pub fn weight_of(probability: f64) -> f64 {
    (probability / (1.0 - probability)).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model file written before the `address` comparison (the newest, last) existed
    /// still loads, and that comparison weighs nothing until the model is retrained.
    #[test]
    fn a_model_without_a_newer_comparison_loads_and_weighs_it_zero() {
        let mut model = Model::builtin().unwrap();
        model.comparisons.remove("address");
        let model = Model::from_json(&serde_json::to_string(&model).unwrap()).unwrap();
        let weights = model.compile().unwrap();
        let f = Features::default();
        let mut levels: Levels = [None; Comparison::ALL.len()];
        let without = weights.score(&f, &levels);
        for level in 0..3 {
            levels[Comparison::ALL.len() - 1] = Some(level);
            assert_eq!(weights.score(&f, &levels), without);
        }
        // A comparison with the wrong levels is still refused.
        let mut broken = Model::builtin().unwrap();
        broken.comparisons.get_mut("sex").unwrap().pop();
        assert!(broken.compile().is_err());
    }
}
