//! Simulated department APIs for demos and tests.
//!
//! Each department is an axum [`Router`](axum::Router) serving records of a synthetic
//! population generated deterministically from a seed, so a test knows exactly which
//! records exist and which of them are invalid. [`serve`] runs one on a loopback port.

pub mod education;
pub mod population;
mod rng;
mod server;

pub use rng::SplitMix64;
pub use server::{RunningSim, serve};
