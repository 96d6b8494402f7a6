//! Identity resolution: one resident across departments, in the stream.
//!
//! Each record's person ([`Observation`]) is resolved as it arrives:
//! deterministically by resident ID (the same ID is the same person; two different IDs
//! are never one person), otherwise by a Fellegi–Sunter match weight over name, birth
//! date, sex, phone, division code and address against the records sharing a blocking key. The
//! persons are clusters with stable ids: a merge keeps the older id, a record that turns
//! out to belong elsewhere is split out. Each person has a golden record chosen field by
//! field by survivorship rules, with provenance.

mod address;
mod compare;
mod config;
mod features;
mod golden;
mod journal;
mod model;
mod name;
mod observation;
mod reach;
mod resolver;
mod store;
mod train;

pub use compare::Comparison;
pub use config::IdentityConfig;
pub(crate) use features::hash_parts;
pub use golden::{Provenance, Rule, Survivorship};
pub use journal::{Entry, recorded_observations};
pub use model::{Evidence, LevelModel, Model, ModelError};
pub use observation::{Observation, RecordRef, Sex};
pub use reach::{Reach, reach};
pub use resolver::{
    IdentityEvent, IdentityStats, Outcome, PersonView, ResolveError, Resolver, Retrained,
    is_person_id,
};
pub use train::{Labels, RuleReport, TrainReport, train};
