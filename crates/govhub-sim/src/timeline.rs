//! How a department's records change over generations, and when.
//!
//! Generation 0 holds `base` records. Each later generation appends `growth` new
//! records and updates a share of the existing ones; which ones is a keyed permutation
//! of the records that existed before, so "the j-th update of generation g" and "was
//! record k updated in generation g" are both O(1). Every change has a time: a
//! generation's changes are its *segment*, stamped in groups of varying size that share
//! one timestamp (batch imports do that), one minute apart, segments a day apart. A
//! record's `updated_at` is the time of its last change, so listing segments in order,
//! skipping records changed again later, is the feed ordered by `updated_at`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, FixedOffset, TimeZone};

use crate::SimRecord;
use crate::perm::Permutation;
use crate::rng::hash;

/// The simulators' shared generation counter: advancing it makes every department
/// sharing the clock add and update records.
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    /// A clock at generation 0.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves `n` generations on; returns the new generation.
    pub fn advance(&self, n: u64) -> u64 {
        self.0.fetch_add(n, Ordering::SeqCst) + n
    }

    /// Sets the generation (tests going back in time).
    pub fn set(&self, generation: u64) {
        self.0.store(generation, Ordering::SeqCst);
    }
}

/// How much a department changes per generation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Churn {
    /// New records per generation, as a share of the generation-0 count (at least one
    /// when positive).
    pub new_per_generation: f64,
    /// Share of existing records updated per generation.
    pub updated_per_generation: f64,
}

impl Default for Churn {
    fn default() -> Churn {
        Churn {
            new_per_generation: 0.02,
            updated_per_generation: 0.02,
        }
    }
}

/// Sizes of the groups of changes sharing a timestamp, repeated; they sum to
/// [`CYCLE`]. Mixed sizes (up to 20 at once) exercise `after_id` tie-breaking.
const GROUP_SIZES: [u64; 8] = [1, 3, 12, 2, 7, 20, 5, 14];
const CYCLE: u64 = 64;
/// Seconds between consecutive groups.
const STEP_SECS: i64 = 60;
/// Seconds between the last group of a generation and the first of the next: a
/// generation is one day's changes, as a nightly sync would see them.
const GAP_SECS: i64 = 86_400;
/// 2024-06-01T08:00:00+08:00, the first change of generation 0.
const ORIGIN: i64 = 1_717_200_000;

/// China Standard Time, the zone every department records local time in. Evaluated at
/// compile time, so the offset's validity is checked by the compiler.
pub(crate) const CST: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// Unix seconds as China Standard Time.
pub(crate) fn local(secs: i64) -> DateTime<FixedOffset> {
    // Only seconds within chrono's range (±262,000 years) exist; the simulator's are
    // all near 2024, so the fallback is never used.
    CST.timestamp_opt(secs, 0).single().unwrap_or_default()
}

fn group_of(pos: u64) -> u64 {
    let offset = pos % CYCLE;
    let mut start = 0;
    let mut index = 0;
    for (i, size) in GROUP_SIZES.iter().enumerate() {
        if offset < start + size {
            index = i as u64;
            break;
        }
        start += size;
    }
    pos / CYCLE * GROUP_SIZES.len() as u64 + index
}

/// Positions `start..end` of group `group`.
pub(crate) fn group_positions(group: u64) -> std::ops::Range<u64> {
    let cycle = group / GROUP_SIZES.len() as u64;
    let i = (group % GROUP_SIZES.len() as u64) as usize;
    let start = cycle * CYCLE + GROUP_SIZES[..i].iter().sum::<u64>();
    start..start + GROUP_SIZES[i]
}

fn groups_in(len: u64) -> u64 {
    if len == 0 { 0 } else { group_of(len - 1) + 1 }
}

/// The change schedule of one department's records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    /// Seed and department mixed.
    pub key: u64,
    /// Records in generation 0.
    pub base: u64,
    /// Records appended per generation.
    pub growth: u64,
    /// No more records than this, ever.
    pub cap: u64,
    /// Share of existing records updated per generation.
    pub update_rate: f64,
}

impl Timeline {
    /// The schedule of `base` records changing by `churn`, at most `cap`.
    pub(crate) fn new(key: u64, base: u64, churn: Churn, cap: u64) -> Timeline {
        let growth = if churn.new_per_generation > 0.0 {
            ((base as f64 * churn.new_per_generation) as u64).max(1)
        } else {
            0
        };
        Timeline {
            key,
            base: base.min(cap),
            growth,
            cap,
            update_rate: churn.updated_per_generation.clamp(0.0, 1.0),
        }
    }

    /// Records existing at generation `g`.
    pub(crate) fn count(&self, g: u64) -> u64 {
        self.base
            .saturating_add(self.growth.saturating_mul(g))
            .min(self.cap)
    }

    /// The generation record `k` was created in.
    pub(crate) fn created(&self, k: u64) -> u64 {
        if k < self.base || self.growth == 0 {
            0
        } else {
            (k - self.base) / self.growth + 1
        }
    }

    fn updates(&self, g: u64) -> u64 {
        if g == 0 {
            0
        } else {
            (self.update_rate * self.count(g - 1) as f64) as u64
        }
    }

    fn segment_len(&self, g: u64) -> u64 {
        if g == 0 {
            self.count(0)
        } else {
            self.updates(g) + self.count(g) - self.count(g - 1)
        }
    }

    /// The schedule as of generation `g`, with what per-record lookups need computed
    /// once (O(g)).
    pub(crate) fn view(&self, g: u64) -> TimelineView {
        let mut starts = Vec::with_capacity(g as usize + 1);
        let mut start = ORIGIN;
        for gen_ in 0..=g {
            starts.push(start);
            start += groups_in(self.segment_len(gen_)) as i64 * STEP_SECS + GAP_SECS;
        }
        let perms = (1..=g)
            .map(|gen_| Permutation::new(self.count(gen_ - 1), hash(&[self.key, gen_])))
            .collect();
        TimelineView {
            timeline: *self,
            generation: g,
            starts,
            perms,
        }
    }
}

/// A record's history up to a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct History {
    /// Generation it was created in.
    pub created: u64,
    /// Generations it was updated in, ascending.
    pub updated: Vec<u64>,
}

impl History {
    /// Generation of its last change.
    pub(crate) fn last(&self) -> u64 {
        self.updated.last().copied().unwrap_or(self.created)
    }

    /// Number of updates.
    pub(crate) fn version(&self) -> u32 {
        self.updated.len() as u32
    }
}

/// [`Timeline`] as of one generation.
#[derive(Debug, Clone)]
pub struct TimelineView {
    timeline: Timeline,
    generation: u64,
    /// Start time of each generation's segment.
    starts: Vec<i64>,
    /// The update permutation of generations 1..=g.
    perms: Vec<Permutation>,
}

impl TimelineView {
    /// Records existing.
    pub(crate) fn len(&self) -> u64 {
        self.timeline.count(self.generation)
    }

    /// The generation this view is of.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    fn updated_in(&self, k: u64, g: u64) -> bool {
        let Some(perm) = self.perms.get(g as usize - 1) else {
            return false;
        };
        k < perm.len() && perm.invert(k) < self.timeline.updates(g)
    }

    /// Record `k`'s id as registers write it: `prefix`, the creation date and the
    /// 9-digit record number (`JZ20240601000000007`).
    pub(crate) fn dated_id(&self, prefix: &str, k: u64) -> String {
        let created = self.history(k).created;
        let date = local(self.time(k, created)).date_naive();
        format!("{prefix}{}{k:09}", crate::record::compact_date(date))
    }

    /// The history of record `k` (`k < len`).
    pub(crate) fn history(&self, k: u64) -> History {
        let created = self.timeline.created(k);
        let updated = (created + 1..=self.generation)
            .filter(|&g| self.updated_in(k, g))
            .collect();
        History { created, updated }
    }

    /// Position of record `k`'s change of generation `g` in that generation's segment.
    fn position(&self, k: u64, g: u64, created: u64) -> u64 {
        if g == created {
            if g == 0 {
                k
            } else {
                self.timeline.updates(g) + k - self.timeline.count(g - 1)
            }
        } else {
            self.perms
                .get(g as usize - 1)
                .map_or(0, |perm| perm.invert(k))
        }
    }

    /// Unix time of record `k`'s change in generation `g` (its creation or an update).
    pub(crate) fn time(&self, k: u64, g: u64) -> i64 {
        let created = self.timeline.created(k);
        let group = group_of(self.position(k, g, created));
        self.group_time(g, group)
    }

    /// Unix time of group `group` of generation `g`'s segment.
    pub(crate) fn group_time(&self, g: u64, group: u64) -> i64 {
        self.starts.get(g as usize).copied().unwrap_or(ORIGIN) + group as i64 * STEP_SECS
    }

    /// Number of timestamp groups in generation `g`'s segment.
    pub(crate) fn groups(&self, g: u64) -> u64 {
        groups_in(self.timeline.segment_len(g))
    }

    /// The record changed at position `pos` of generation `g`'s segment, if any.
    pub(crate) fn record_at(&self, g: u64, pos: u64) -> Option<u64> {
        if pos >= self.timeline.segment_len(g) {
            return None;
        }
        if g == 0 {
            return Some(pos);
        }
        let updates = self.timeline.updates(g);
        if pos < updates {
            self.perms.get(g as usize - 1).map(|perm| perm.apply(pos))
        } else {
            Some(self.timeline.count(g - 1) + pos - updates)
        }
    }

    /// The first (generation, group) stamped at or after `since`, if any.
    pub(crate) fn first_group_since(&self, since: i64) -> Option<(u64, u64)> {
        (0..=self.generation).find_map(|g| {
            let groups = self.groups(g);
            if groups == 0 || self.group_time(g, groups - 1) < since {
                return None;
            }
            let start = self.group_time(g, 0);
            let group = if since <= start {
                0
            } else {
                (since - start + STEP_SECS - 1) / STEP_SECS
            };
            Some((g, group as u64))
        })
    }
}

/// A department whose records live on a [`Timeline`]: record `k` as it is served at a
/// generation. The listing methods are the same for every department.
pub trait Feed {
    /// The department's timeline.
    fn timeline(&self) -> Timeline;

    /// Record `k` as served in `view`.
    fn build(&self, k: u64, view: &TimelineView) -> SimRecord;

    /// Number of records at `generation`.
    fn len(&self, generation: u64) -> u64 {
        self.timeline().count(generation)
    }

    /// Whether there are no records at `generation`.
    fn is_empty(&self, generation: u64) -> bool {
        self.len(generation) == 0
    }

    /// Record `k` as served at `generation`, if it exists by then.
    fn record(&self, k: u64, generation: u64) -> Option<SimRecord> {
        let view = self.timeline().view(generation);
        (k < view.len()).then(|| self.build(k, &view))
    }

    /// Every record at `generation`, in the order the API lists them.
    fn records(&self, generation: u64) -> impl Iterator<Item = SimRecord> + '_ {
        let view = self.timeline().view(generation);
        (0..view.len()).map(move |k| self.build(k, &view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline() -> Timeline {
        Timeline::new(
            5,
            1000,
            Churn {
                new_per_generation: 0.05,
                updated_per_generation: 0.1,
            },
            u64::MAX,
        )
    }

    #[test]
    fn origin_is_june_2024_in_china() {
        assert_eq!(local(ORIGIN).to_rfc3339(), "2024-06-01T08:00:00+08:00");
    }

    #[test]
    fn groups_tile_positions() {
        let mut next = 0;
        for group in 0..100 {
            let range = group_positions(group);
            assert_eq!(range.start, next);
            for pos in range.clone() {
                assert_eq!(group_of(pos), group);
            }
            next = range.end;
        }
    }

    #[test]
    fn every_change_appears_once_in_its_segment() {
        let view = timeline().view(4);
        assert_eq!(view.len(), 1200);
        let mut changes = 0;
        for g in 0..=4 {
            let mut pos = 0;
            while let Some(k) = view.record_at(g, pos) {
                let history = view.history(k);
                assert!(
                    history.created == g || history.updated.contains(&g),
                    "{k} {g}"
                );
                if g > 0 && history.created != g {
                    assert_eq!(view.position(k, g, history.created), pos);
                }
                pos += 1;
                changes += 1;
            }
        }
        let updates: usize = (0..1200).map(|k| view.history(k).updated.len()).sum();
        assert_eq!(changes, 1200 + updates);
        // 10% of 1000, 1050, 1100, 1150.
        assert_eq!(updates, 100 + 105 + 110 + 115);
    }

    #[test]
    fn times_increase_across_groups_and_generations() {
        let view = timeline().view(3);
        let mut last = i64::MIN;
        for g in 0..=3 {
            for group in 0..view.groups(g) {
                let t = view.group_time(g, group);
                assert!(t > last);
                last = t;
            }
        }
        let t = view.group_time(2, 3);
        assert_eq!(view.first_group_since(t), Some((2, 3)));
        assert_eq!(view.first_group_since(t - 1), Some((2, 3)));
        assert_eq!(view.first_group_since(i64::MIN), Some((0, 0)));
        assert_eq!(view.first_group_since(last + 1), None);
    }

    #[test]
    fn clock_is_shared_by_clones() {
        let clock = Clock::new();
        let other = clock.clone();
        assert_eq!(other.advance(2), 2);
        assert_eq!(clock.generation(), 2);
    }
}
