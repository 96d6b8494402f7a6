//! Chinese identifier formats, checked with their real algorithms.
//!
//! Each is registered as a JSON Schema `format` by [`crate::Standard`] and is usable on
//! its own by normalization.

pub mod resident_id;

/// A format check: whether a string is well-formed.
pub(crate) type Check = fn(&str) -> bool;

/// Every custom format: its `format` name and its check.
pub(crate) const ALL: &[(&str, Check)] = &[("cn-resident-id", resident_id::is_valid)];
