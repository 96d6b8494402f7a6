//! Simulated department APIs for demos and tests.
//!
//! Each department is an axum [`Router`](axum::Router) serving records of one synthetic
//! [`population`] generated deterministically from a seed, in that department's own
//! native style (field names, date formats, pagination, authentication), so a test knows
//! exactly which records exist, which resident each belongs to ([`Departments::ground_truth`]),
//! which carry noise ([`noise`]) and which are invalid. [`serve`] runs one on a loopback
//! port; [`Departments`] starts all four, and beside them the community resident
//! registry ([`registry`]), a fifth source over the same population. Every record is generated on demand from its
//! index, so populations of millions cost no memory and a page costs its own size.
//!
//! | department | module | pagination | auth |
//! |---|---|---|---|
//! | education | [`education`] | page number | none |
//! | health | [`health`] | opaque cursor | signed gateway (`X-Ca-*`) |
//! | civil affairs | [`civil`] | offset/limit + `Link` | HTTP basic |
//! | urban management | [`urban`] | `updated_since` + `after_id` feed | `X-API-Key` |
//! | community registry | [`registry`] | page number (`pageNo`, `pageSize`) | bearer token |

pub mod auth;
pub mod civil;
pub mod departments;
pub mod education;
pub mod faults;
pub mod health;
pub mod misbehaving;
pub mod noise;
mod perm;
pub mod population;
pub mod record;
pub mod registry;
mod rng;
mod server;
pub mod timeline;
pub mod urban;

pub use departments::{Departments, Ports, RunningDepartment, RunningDepartments, RunningRegistry};
pub use faults::Faults;
pub use noise::Noise;
pub use record::{Department, PersonRef, SimRecord};
pub use rng::SplitMix64;
pub use server::{RunningSim, serve};
pub use timeline::{Churn, Clock, Feed};
