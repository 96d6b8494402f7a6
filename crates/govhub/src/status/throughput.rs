//! Records written per 10-second interval over the last ten minutes, in memory.

use std::collections::VecDeque;

use chrono::{DateTime, TimeZone, Utc};

use super::Bucket;

/// Width of one throughput bucket.
pub const BUCKET_SECS: i64 = 10;
/// Buckets kept: ten minutes.
pub const BUCKETS: usize = 60;

/// Records written per [`BUCKET_SECS`] interval, the last [`BUCKETS`] of them.
#[derive(Debug, Default)]
pub(super) struct Throughput {
    /// `(interval number since the epoch, records)`, oldest first, without gaps filled.
    buckets: VecDeque<(i64, u64)>,
}

impl Throughput {
    pub(super) fn add(&mut self, at: DateTime<Utc>, records: u64) {
        let bucket = at.timestamp().div_euclid(BUCKET_SECS);
        match self.buckets.back_mut() {
            Some((b, n)) if *b == bucket => *n += records,
            // A clock stepped back: count it in the newest bucket rather than reorder.
            Some((b, n)) if *b > bucket => *n += records,
            _ => self.buckets.push_back((bucket, records)),
        }
        while self.buckets.len() > BUCKETS {
            self.buckets.pop_front();
        }
    }

    /// Every bucket of the last ten minutes up to the one holding `now`, zeros included.
    pub(super) fn series(&self, now: DateTime<Utc>) -> Vec<Bucket> {
        let last = now.timestamp().div_euclid(BUCKET_SECS);
        let first = last - BUCKETS as i64 + 1;
        (first..=last)
            .map(|bucket| Bucket {
                at: Utc
                    .timestamp_opt(bucket * BUCKET_SECS, 0)
                    .single()
                    .unwrap_or(now),
                records: self
                    .buckets
                    .iter()
                    .find(|(b, _)| *b == bucket)
                    .map_or(0, |(_, n)| *n),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().unwrap()
    }

    #[test]
    fn throughput_keeps_ten_minutes_in_ten_second_buckets() {
        let mut t = Throughput::default();
        t.add(at(1_000_000), 5);
        t.add(at(1_000_009), 7);
        t.add(at(1_000_010), 1);
        let series = t.series(at(1_000_015));
        assert_eq!(series.len(), BUCKETS);
        assert_eq!(series[BUCKETS - 1].at, at(1_000_010));
        assert_eq!(series[BUCKETS - 1].records, 1);
        assert_eq!(series[BUCKETS - 2].records, 12);
        assert_eq!(
            series[..BUCKETS - 2].iter().map(|b| b.records).sum::<u64>(),
            0
        );
        // Ten minutes later the old buckets have scrolled out of the series.
        let later = t.series(at(1_000_015 + 600));
        assert!(later.iter().all(|b| b.records == 0));
        for i in 0..100 {
            t.add(at(2_000_000 + i * BUCKET_SECS), 1);
        }
        assert_eq!(t.buckets.len(), BUCKETS);
    }
}
