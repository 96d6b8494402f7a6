//! govhub's shared vocabulary.
//!
//! A record travels `Source` → stages → `Sink`. This crate holds the types every stage
//! agrees on: the record as pulled ([`SourceRecord`]), the event as published
//! ([`CloudEvent`] rendered to an [`OutEvent`]), the two I/O contracts ([`Source`],
//! [`Sink`]) and the error class every library error carries ([`ErrorClass`]).

mod error;
mod event;
pub mod fs;
mod record;
mod sink;
mod source;
mod violation;

pub use error::{Classified, ErrorClass, error_chain};
pub use event::{CloudEvent, Header, OutEvent, content_digest, content_id};
pub use record::SourceRecord;
pub use sink::{Sink, Written};
pub use source::{Batch, Source};
pub use violation::Violation;
