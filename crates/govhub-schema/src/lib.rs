//! The unified standard.
//!
//! Every record kind govhub accepts has a JSON Schema (2020-12) under `schemas/`, one file
//! per kind and version. [`Standard`] compiles them once at start-up — a schema that does
//! not compile stops start-up — and validates records against them, reporting every
//! [`Violation`] without quoting the record's values (they may be personal data).

pub mod compat;
pub mod docs;
pub mod fit;
pub mod formats;
pub mod mapping;
pub mod normalize;
mod person;
mod sex;
mod standard;
pub mod text;
pub mod uri;
mod violation;

pub use govhub_core::Violation;
pub use person::{KEYWORD as PERSON_KEYWORD, PersonLocation};
pub use sex::Sex;
pub use standard::{ID_BASE, KindSchema, SchemaError, Standard};
