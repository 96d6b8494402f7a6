//! The way a record travels: poll a source, run the stages, write to the sink, and only
//! then ack the source.

use std::collections::BTreeMap;

use govhub_core::{Batch, Classified, ErrorClass, OutEvent, Sink, Source};
use govhub_schema::KindSchema;
use govhub_stream::Publisher;

/// The CPU-only stages one connector's records pass through.
#[derive(Debug, Clone, Copy)]
pub struct Stages<'a> {
    /// Schema of the connector's record kind (its newest version).
    pub schema: &'a KindSchema,
    /// Turns records into events and dead letters.
    pub publisher: &'a Publisher,
}

/// What a connector has done, for summaries and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records pulled from the source.
    pub pulled: u64,
    /// Valid records published to their kind's topic.
    pub published: u64,
    /// Records sent to the dead-letter topic.
    pub rejected: u64,
    /// Batches written and acked.
    pub batches: u64,
    /// Rejections by reason (`keyword at instance path`); never contains values.
    pub reasons: BTreeMap<String, u64>,
}

/// Why a sync stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage}: {message}")]
pub struct PipelineError {
    /// `source` or `sink`.
    pub stage: &'static str,
    /// The underlying error's message.
    pub message: String,
    /// Who has to act.
    pub class: ErrorClass,
    /// Whether trying again later may succeed.
    pub retryable: bool,
}

impl PipelineError {
    fn from<E: Classified>(stage: &'static str, error: &E) -> Self {
        PipelineError {
            stage,
            message: error.to_string(),
            class: error.class(),
            retryable: error.retryable(),
        }
    }
}

impl Counts {
    /// Adds `other`'s numbers to these.
    pub fn add(&mut self, other: &Counts) {
        self.pulled += other.pulled;
        self.published += other.published;
        self.rejected += other.rejected;
        self.batches += other.batches;
        for (reason, n) in &other.reasons {
            *self.reasons.entry(reason.clone()).or_default() += n;
        }
    }
}

impl Stages<'_> {
    /// Validates every record of `batch` and renders it as an event: an accepted record
    /// onto its kind's topic, a rejected one onto the dead-letter topic. Counts are
    /// updated; nothing is dropped.
    pub fn process(&self, batch: &Batch, counts: &mut Counts) -> Vec<OutEvent> {
        let kind_version = self.schema.topic_suffix();
        let mut events = Vec::with_capacity(batch.records.len());
        for record in &batch.records {
            counts.pulled += 1;
            let violations = self.schema.validate(&record.payload);
            if violations.is_empty() {
                counts.published += 1;
                events.push(self.publisher.accepted(
                    record,
                    record.payload.clone(),
                    &kind_version,
                    &self.schema.id,
                ));
            } else {
                counts.rejected += 1;
                for v in &violations {
                    let reason = format!("{} at {}", v.keyword, v.instance_path);
                    *counts.reasons.entry(reason).or_default() += 1;
                }
                events.push(self.publisher.dead_letter(
                    record,
                    "validate",
                    Some(&self.schema.id),
                    violations,
                ));
            }
        }
        events
    }
}

/// Moves records from `source` to `sink` until the source has nothing more, or
/// `stop()` says to stop (checked between batches, so a batch is never cut in half).
///
/// Each batch is written in full and acked only after the sink confirmed it; on a sink
/// error the batch is nacked, so the next sync reads it again.
pub async fn sync<S: Source, K: Sink>(
    connector: &str,
    source: &mut S,
    sink: &mut K,
    stages: Stages<'_>,
    counts: &mut Counts,
    stop: impl Fn() -> bool,
) -> Result<(), PipelineError> {
    while !stop() {
        let Some(batch) = source
            .poll()
            .await
            .map_err(|e| PipelineError::from("source", &e))?
        else {
            return Ok(());
        };
        let mut batch_counts = Counts::default();
        let events = stages.process(&batch, &mut batch_counts);
        if let Err(e) = sink.write(events).await {
            source.nack(&batch);
            return Err(PipelineError::from("sink", &e));
        }
        source
            .ack(&batch)
            .await
            .map_err(|e| PipelineError::from("source", &e))?;
        batch_counts.batches = 1;
        if batch_counts.rejected > 0 {
            tracing::warn!(
                connector,
                rejected = batch_counts.rejected,
                reasons = ?batch_counts.reasons,
                "records rejected to the dead-letter topic"
            );
        }
        counts.add(&batch_counts);
        tracing::debug!(
            connector,
            records = batch.records.len(),
            "batch written and acked"
        );
    }
    Ok(())
}
