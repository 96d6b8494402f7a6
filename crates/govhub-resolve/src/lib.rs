//! Resolution stages and the hub's state: recognising records govhub has already
//! published, the residents they are about, and the store all of it commits to.
//!
//! Exact dedup compares a record's content id with the one last published for it
//! (kept in the [`state`] store): a re-pull or replay of an unchanged record publishes
//! nothing; a changed record publishes a new version.
//!
//! [`identity`] resolves the person each record is about into one unified person id
//! across departments, with golden records.
//!
//! With Kafka, the [`changelog`] carries every commit of the state store to a compacted
//! topic in the same transaction as the events, from which a store is rebuilt.

pub mod changelog;
pub mod identity;
pub mod state;

pub use changelog::ChangeRecord;
pub use state::{Commit, StateError, StateStore};
