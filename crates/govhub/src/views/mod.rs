//! Data-sharing views: what each downstream subscriber may read of each record kind,
//! field by field. A view publishes a transformed copy of every accepted record of a
//! kind it names to its own topic, `<prefix>view.<subscriber>.<kind>.v<N>`, in the same
//! batch as the source event.
//!
//! - [`config`]: the `[views.<subscriber>]` tables of the config file.
//! - [`fields`]: where a field pointer leads in a kind's schema (its format and title).
//! - [`check`]: validation of the views against the standard, with config paths.
//! - [`transform`]: the pure functions: mask, hash, and a record through a view.
//! - [`compiled`]: the views ready to run: keys resolved, mask rules chosen, events rendered.
//! - [`log`]: the sharing log, counts of what went to whom, committed with the cursors.

pub mod check;
pub mod compiled;
pub mod config;
pub mod fields;
pub mod log;
pub mod transform;

pub use compiled::Views;
pub use config::{Action, DefaultAction, KindView, ViewConfig};
pub use log::SharingLog;
