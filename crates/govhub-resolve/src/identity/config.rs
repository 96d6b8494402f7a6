//! Identity resolution's settings: `[identity]` in the config.

use serde::{Deserialize, Serialize};

use super::golden::Survivorship;

/// The fewest records `retrain_after` may name.
pub const MIN_RETRAIN_RECORDS: u64 = 1_000;

/// Resolution settings (`[identity]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Match probability from which a record without a usable resident ID is linked to
    /// a resident (0.5–1; higher: fewer wrong merges, more missed links).
    pub link_threshold: f64,
    /// A model file (JSON, as `govhub eval --train` writes); default: the built-in one.
    pub model: Option<std::path::PathBuf>,
    /// Records compared per blocking key at most (the newest); bounds the work per
    /// record when a key is very common.
    pub max_block_size: usize,
    /// Re-estimate the model from the records resolved so far once this many have
    /// been, once (off by default). The new model replaces the one in use for every
    /// record after; decisions already made stay. It is kept in the state store, so a
    /// restart goes on with it, and its weights are logged beside the old ones.
    pub retrain_after: Option<u64>,
    /// Survivorship rule per golden-record field.
    pub survivorship: Survivorship,
}

impl Default for IdentityConfig {
    fn default() -> IdentityConfig {
        IdentityConfig {
            link_threshold: 0.99,
            model: None,
            max_block_size: 50,
            retrain_after: None,
            survivorship: Survivorship::default(),
        }
    }
}

impl IdentityConfig {
    /// What is wrong with these settings, as `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(self.link_threshold >= 0.5 && self.link_threshold < 1.0) {
            out.push(("link_threshold", "must be at least 0.5 and below 1".into()));
        }
        if self.max_block_size == 0 {
            out.push(("max_block_size", "must be > 0".into()));
        }
        if self.retrain_after.is_some_and(|n| n < MIN_RETRAIN_RECORDS) {
            out.push((
                "retrain_after",
                format!(
                    "must be at least {MIN_RETRAIN_RECORDS}: fewer records give too few pairs to estimate from"
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrain_after_needs_enough_records_to_estimate_from() {
        let config = |n| IdentityConfig {
            retrain_after: n,
            ..IdentityConfig::default()
        };
        assert!(config(None).problems().is_empty(), "off by default");
        assert!(config(Some(MIN_RETRAIN_RECORDS)).problems().is_empty());
        let problems = config(Some(10)).problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "retrain_after");
    }
}
