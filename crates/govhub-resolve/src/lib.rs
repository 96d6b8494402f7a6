//! Resolution stages: recognising records govhub has already published, and the
//! residents they are about.
//!
//! [`Fingerprints`] is exact dedup: the content fingerprint (the event id) last
//! published for each source record. A re-pull or replay of an unchanged record
//! publishes nothing; a changed record publishes a new version.
//!
//! [`identity`] resolves the person each record is about into one unified person id
//! across departments, with golden records.

mod fingerprints;
pub mod identity;

pub use fingerprints::{Fingerprints, FingerprintsError};
