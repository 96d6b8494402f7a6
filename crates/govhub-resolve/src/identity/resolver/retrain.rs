//! Re-estimating the model from the records resolved so far (`[identity]
//! retrain_after`): the same training as `govhub eval --train --data-dir`, done once by
//! the running hub.

use super::{Model, Resolver};
use crate::identity::observation::Observation;
use crate::identity::store::DEAD;
use crate::identity::train::{Labels, TrainReport, train};

/// The seed of the random pairs an automatic re-estimate draws (fixed: the same records
/// give the same model).
const SEED: u64 = 1;

/// What a re-estimate changed.
#[derive(Debug, Clone)]
pub struct Retrained {
    /// The model used until now.
    pub before: Model,
    /// The model used from now on.
    pub after: Model,
    /// What training did.
    pub report: TrainReport,
}

impl Resolver {
    /// The model in use.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Whether `retrain_after` records have been resolved and the model was not
    /// re-estimated yet.
    pub fn retrain_due(&self) -> bool {
        !self.retrained && self.retrain_after.is_some_and(|n| self.stats.records >= n)
    }

    /// Estimates a model from every live record (resident IDs as labels where they
    /// exist) and resolves with it from now on; decisions already made stay.
    pub fn retrain(&mut self) -> Result<Retrained, crate::identity::ModelError> {
        let observations: Vec<Observation> = (0..self.store.recs.len() as u32)
            .filter(|slot| self.store.recs[*slot as usize].person != DEAD)
            .map(|slot| self.observation_of(slot))
            .collect();
        let trained_on = format!(
            "re-estimated by the hub from the first {} records it resolved",
            observations.len()
        );
        let (after, report) = train(&observations, SEED, &trained_on, Labels::ResidentId);
        self.weights = after.compile()?;
        self.retrained = true;
        let before = std::mem::replace(&mut self.model, after.clone());
        Ok(Retrained {
            before,
            after,
            report,
        })
    }
}
