//! Data-sharing views: what each downstream subscriber may read of each record kind,
//! field by field.
//!
//! - [`config`]: the `[views.<subscriber>]` tables of the config file.
//! - [`fields`]: where a field pointer leads in a kind's schema (its format and title).
//! - [`check`]: validation of the views against the standard, with config paths.
//! - [`transform`]: the pure functions: mask, hash, and a record through a view.

pub mod check;
pub mod config;
pub mod fields;
pub mod transform;

pub use config::{Action, DefaultAction, KindView, ViewConfig};
