//! The sharing log: how many events each subscriber was sent of each kind per UTC day,
//! and what each field got. Field names and counts only, never a value.
//!
//! Durable: the lines a write changes are committed to the state store with that
//! write's cursors ([`SharingLog::count`] before the commit, [`SharingLog::apply`]
//! after it), and a hub starts from the lines committed before ([`SharingLog::load`]).
//! So the log counts exactly the events the sink confirmed, once each, across restarts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::config::{Action, DefaultAction};
use super::transform::Applied;

/// What one view did with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The subscriber.
    pub subscriber: String,
    /// The record kind.
    pub kind: String,
    /// What fields not listed got.
    pub default: DefaultAction,
    /// What each listed field the record has got.
    pub fields: Vec<Applied>,
}

/// One line of the sharing log: a subscriber, a kind, a UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharingDay {
    /// The subscriber.
    pub subscriber: String,
    /// The record kind.
    pub kind: String,
    /// The UTC day the events were written (`YYYY-MM-DD`).
    pub day: String,
    /// What fields not listed in the view got.
    pub unlisted_fields: String,
    /// Events written to the subscriber's topic.
    pub events: u64,
    /// Per listed field, how many events carried it shared, masked or hashed, and how
    /// many left it out (dropped, or masked but not a string).
    pub fields: BTreeMap<String, BTreeMap<String, u64>>,
}

impl SharingDay {
    /// The line's key in the state store: subscriber, kind and day, NUL-separated
    /// (none of them can hold a NUL), so keys sort as the report does.
    fn key(&self) -> String {
        line_key(&self.subscriber, &self.kind, &self.day)
    }
}

/// The key of a line: subscriber, kind and day, NUL-separated.
fn line_key(subscriber: &str, kind: &str, day: &str) -> String {
    format!("{subscriber}\0{kind}\0{day}")
}

/// The lines a write changes, counted but not yet in the log.
#[derive(Debug, Default)]
pub struct Counted {
    lines: Vec<SharingDay>,
}

impl Counted {
    /// The changed lines as state-store rows: key and JSON.
    pub fn rows(&self) -> Vec<(String, String)> {
        self.lines
            .iter()
            // Serializing plain data into a string cannot fail.
            .map(|line| (line.key(), serde_json::to_string(line).unwrap_or_default()))
            .collect()
    }
}

/// A line of the state store that is not a sharing-log line.
#[derive(Debug, thiserror::Error)]
#[error("sharing log: a stored line does not parse (column {column})")]
pub struct LoadError {
    column: usize,
}

/// The sharing log of a running hub.
#[derive(Debug, Default)]
pub struct SharingLog {
    /// By key ([`SharingDay::key`]).
    days: Mutex<BTreeMap<String, SharingDay>>,
}

impl SharingLog {
    fn days(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SharingDay>> {
        self.days
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the log by the lines committed earlier (JSON, as [`Counted::rows`] wrote
    /// them).
    pub fn load<'a>(&self, rows: impl IntoIterator<Item = &'a str>) -> Result<(), LoadError> {
        let mut days = BTreeMap::new();
        for row in rows {
            let line: SharingDay =
                serde_json::from_str(row).map_err(|e| LoadError { column: e.column() })?;
            days.insert(line.key(), line);
        }
        *self.days() = days;
        Ok(())
    }

    /// The lines as they will be once `sent`, written on `day`, is counted; the log
    /// itself changes only with [`SharingLog::apply`], once they are committed.
    pub fn count<'a>(&self, sent: impl IntoIterator<Item = &'a Sent>, day: NaiveDate) -> Counted {
        let days = self.days();
        let day = day.to_string();
        let mut changed: BTreeMap<String, SharingDay> = BTreeMap::new();
        for s in sent {
            let key = line_key(&s.subscriber, &s.kind, &day);
            let line = changed.entry(key).or_insert_with_key(|key| {
                days.get(key).cloned().unwrap_or_else(|| SharingDay {
                    subscriber: s.subscriber.clone(),
                    kind: s.kind.clone(),
                    day: day.clone(),
                    unlisted_fields: match s.default {
                        DefaultAction::Drop => Action::Drop.as_str(),
                        DefaultAction::Share => Action::Share.as_str(),
                    }
                    .to_owned(),
                    ..SharingDay::default()
                })
            });
            line.events += 1;
            for field in &s.fields {
                *line
                    .fields
                    .entry(field.pointer.clone())
                    .or_default()
                    .entry(field.action.as_str().to_owned())
                    .or_default() += 1;
            }
        }
        Counted {
            lines: changed.into_values().collect(),
        }
    }

    /// Takes `counted` into the log, once committed.
    pub fn apply(&self, counted: Counted) {
        let mut days = self.days();
        for line in counted.lines {
            days.insert(line.key(), line);
        }
    }

    /// Every line, by subscriber, kind and day.
    pub fn report(&self) -> Vec<SharingDay> {
        self.days().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sent(subscriber: &str, action: Action) -> Sent {
        Sent {
            subscriber: subscriber.into(),
            kind: "health.encounter".into(),
            default: DefaultAction::Drop,
            fields: vec![Applied {
                pointer: "/patient/name".into(),
                action,
            }],
        }
    }

    fn record(log: &SharingLog, sent: &[Sent], day: NaiveDate) {
        log.apply(log.count(sent, day));
    }

    #[test]
    fn counts_per_subscriber_kind_and_day() {
        let log = SharingLog::default();
        let d1 = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        record(
            &log,
            &[sent("a", Action::Mask), sent("b", Action::Share)],
            d1,
        );
        record(
            &log,
            &[sent("a", Action::Mask), sent("a", Action::Drop)],
            d1,
        );
        record(&log, &[sent("a", Action::Mask)], d2);
        let report = log.report();
        assert_eq!(report.len(), 3);
        assert_eq!(
            (
                report[0].subscriber.as_str(),
                report[0].day.as_str(),
                report[0].events
            ),
            ("a", "2026-12-01", 3)
        );
        assert_eq!(report[0].fields["/patient/name"]["mask"], 2);
        assert_eq!(report[0].fields["/patient/name"]["drop"], 1);
        assert_eq!(report[0].unlisted_fields, "drop");
        assert_eq!(
            (report[1].day.as_str(), report[1].events),
            ("2026-12-02", 1)
        );
        assert_eq!((report[2].subscriber.as_str(), report[2].events), ("b", 1));
    }

    #[test]
    fn nothing_counts_until_applied_and_committed_rows_load_back() {
        let log = SharingLog::default();
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let first = log.count(&[sent("a", Action::Hash)], day);
        assert!(log.report().is_empty(), "counted, not applied");
        let rows = first.rows();
        assert_eq!(rows.len(), 1);
        log.apply(first);
        // A second write's row carries the line's new total, not the increment.
        let second = log.count(&[sent("a", Action::Hash)], day);
        let rows = second.rows();
        log.apply(second);

        let restarted = SharingLog::default();
        restarted
            .load(rows.iter().map(|(_, json)| json.as_str()))
            .unwrap();
        assert_eq!(restarted.report(), log.report());
        assert_eq!(restarted.report()[0].events, 2);
        assert_eq!(restarted.report()[0].fields["/patient/name"]["hash"], 2);
        assert!(restarted.load(["{not json"]).is_err());
    }
}
