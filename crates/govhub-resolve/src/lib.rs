//! Resolution stages: recognising records govhub has already published.
//!
//! [`Fingerprints`] is exact dedup: the content fingerprint (the event id) last
//! published for each source record. A re-pull or replay of an unchanged record
//! publishes nothing; a changed record publishes a new version.

mod fingerprints;

pub use fingerprints::{Fingerprints, FingerprintsError};
