use std::future::Future;

use crate::{Classified, OutEvent};

/// What a sink reports after a successful write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// Events durably written (Kafka: acknowledged by the broker with acks=all).
    pub events: usize,
}

/// A destination for events.
///
/// `write` returns only when every event is durable, or fails as a whole: the caller acks
/// its source after `Ok` and nacks after `Err`, so a failed write is read again.
pub trait Sink {
    /// What can go wrong while writing.
    type Error: Classified + Send + Sync + 'static;

    /// Writes all events durably, in order per topic and key.
    fn write(
        &mut self,
        events: Vec<OutEvent>,
    ) -> impl Future<Output = Result<Written, Self::Error>> + Send;
}
