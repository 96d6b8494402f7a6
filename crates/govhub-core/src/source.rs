use std::future::Future;

use serde_json::Value;

use crate::{Classified, SourceRecord};

/// Records handed out by one [`Source::poll`], with the cursor that reading them leads to.
///
/// The cursor is *staged*: it becomes the source's committed position only when the batch
/// is acked, after the sink has durably written everything the batch produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The records, in source order.
    pub records: Vec<SourceRecord>,
    /// The position after this batch, opaque to everyone but the source.
    pub cursor: Value,
}

/// A pull-based source of records.
///
/// `poll` stages a cursor, `ack` commits it, `nack` forgets it so the next `poll` reads
/// the same records again. A crash between `poll` and `ack` therefore replays, never
/// skips.
pub trait Source {
    /// What can go wrong while reading or committing.
    type Error: Classified + Send + Sync + 'static;

    /// The next batch, or `None` when the source has nothing more right now.
    fn poll(&mut self) -> impl Future<Output = Result<Option<Batch>, Self::Error>> + Send;

    /// Makes the batch's cursor the committed position, durably.
    fn ack(&mut self, batch: &Batch) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Drops the staged cursor: the next poll starts again from the committed position.
    fn nack(&mut self, batch: &Batch);
}
