//! govhub's HTTP pull framework.
//!
//! A connector is configuration ([`HttpSourceConfig`]), not code: the URL, where the
//! records sit in the response, which field is the record id, how pages are walked
//! ([`pagination`]) and how the API signals business errors. [`HttpSource`] implements
//! the [`govhub_core::Source`] contract: each poll stages a cursor, which the
//! [`CursorStore`] persists only when the batch is acked.

mod config;
mod cursor_store;
mod error;
mod http;
pub mod pagination;
mod source;

pub use config::{BusinessStatus, HttpSourceConfig};
pub use cursor_store::CursorStore;
pub use error::ConnectError;
pub use pagination::PaginationConfig;
pub use source::HttpSource;
