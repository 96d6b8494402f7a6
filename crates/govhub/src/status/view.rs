//! The status as the admin API shows it: the JSON contract the dashboard and
//! `govhub status` read. Field names are part of that contract.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::pipeline::Tally;

/// Identity resolution's numbers, set by the hub as it resolves.
pub use govhub_resolve::identity::IdentityStats;

/// A connector as the admin API shows it (`GET /api/connectors/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorView {
    /// The connector's name in the config.
    pub name: String,
    /// Department owning the source system.
    pub department: String,
    /// Canonical record kind.
    pub kind: String,
    /// What it is doing.
    pub state: ConnectorState,
    /// The last committed cursor (`null` before the first commit of a fresh connector).
    pub cursor: Value,
    /// When a poll or sync last succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure, kept after later successes.
    pub last_error: Option<LastError>,
    /// Totals since start-up.
    pub counts: CountsView,
    /// The most frequent rejection reasons, most frequent first: `[reason, count]`.
    pub top_reasons: Vec<(String, u64)>,
    /// The data-quality report: published records with a value set aside as invalid,
    /// by the canonical field holding it, with a count and the first record ids.
    pub data_quality: BTreeMap<String, Tally>,
    /// Seconds since the newest committed record was fetched (see [`Status`]).
    pub lag_seconds: Option<f64>,
    /// Records written per 10-second bucket over the last ten minutes, oldest first.
    pub throughput: Vec<Bucket>,
}

/// Every connector and identity resolution (`GET /api/connectors`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// By name.
    pub connectors: Vec<ConnectorView>,
    /// Identity resolution's numbers.
    pub identity: IdentityStats,
}

/// What a connector is doing, most pressing first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorState {
    /// Paused by an operator: skipped until resumed.
    Paused,
    /// Has records in flight that the sink refuses for now (the broker is down, say):
    /// they are retried, and the connector waits.
    WaitingForSink,
    /// Its circuit breaker refuses polls for now.
    CircuitOpen,
    /// Syncing now.
    Running,
    /// Its last sync failed.
    Failing,
    /// Caught up, waiting for the next round.
    Idle,
}

impl ConnectorState {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorState::Paused => "paused",
            ConnectorState::WaitingForSink => "waiting_for_sink",
            ConnectorState::CircuitOpen => "circuit_open",
            ConnectorState::Running => "running",
            ConnectorState::Failing => "failing",
            ConnectorState::Idle => "idle",
        }
    }
}

/// A failure and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// When.
    pub at: DateTime<Utc>,
    /// The stage and the error's message (never record values).
    pub message: String,
}

/// Record counts of a connector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountsView {
    /// Pulled from the source.
    pub pulled: u64,
    /// Published to the kind's topic.
    pub published: u64,
    /// Sent to the dead-letter topic.
    pub rejected: u64,
    /// Dropped as exact duplicates.
    pub duplicates: u64,
    /// Batches written and acked.
    pub batches: u64,
}

/// Records written in one 10-second interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start of the interval.
    pub at: DateTime<Utc>,
    /// Events written (published and dead letters).
    pub records: u64,
}
