//! The govhub hub: configuration, the pipeline that carries records from sources through
//! the stages to a sink, and the demo.
//!
//! The binary (`main.rs`) is a thin CLI over this library, so end-to-end tests drive the
//! same code paths the operators run.

pub mod acl;
pub mod admin;
pub mod asyncapi;
pub mod chaos;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod dlq;
pub mod eval;
pub mod hub;
pub mod lock;
pub mod persons;
pub mod pipeline;
pub mod runtime;
pub mod sample;
pub mod sink;
pub mod state_topic;
pub mod status;
#[cfg(test)]
mod testing;
pub mod views;
