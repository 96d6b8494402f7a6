//! The sharing log: how many events each subscriber was sent of each kind per UTC day,
//! and what each field got. In memory, since start-up; field names and counts only,
//! never a value.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::NaiveDate;
use serde::Serialize;

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SharingDay {
    /// The subscriber.
    pub subscriber: String,
    /// The record kind.
    pub kind: String,
    /// The UTC day the events were written.
    pub day: String,
    /// What fields not listed in the view got.
    pub unlisted_fields: &'static str,
    /// Events written to the subscriber's topic.
    pub events: u64,
    /// Per listed field, how many events carried it shared, masked or hashed, and how
    /// many left it out (dropped, or masked but not a string).
    pub fields: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

/// The sharing log of a running hub.
#[derive(Debug, Default)]
pub struct SharingLog {
    days: Mutex<BTreeMap<(String, String, NaiveDate), SharingDay>>,
}

impl SharingLog {
    /// Counts `sent`, written on `day`.
    pub fn record(&self, sent: &[Sent], day: NaiveDate) {
        if sent.is_empty() {
            return;
        }
        let mut days = self
            .days
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for s in sent {
            let line = days
                .entry((s.subscriber.clone(), s.kind.clone(), day))
                .or_insert_with(|| SharingDay {
                    subscriber: s.subscriber.clone(),
                    kind: s.kind.clone(),
                    day: day.to_string(),
                    unlisted_fields: match s.default {
                        DefaultAction::Drop => Action::Drop.as_str(),
                        DefaultAction::Share => Action::Share.as_str(),
                    },
                    ..SharingDay::default()
                });
            line.events += 1;
            for field in &s.fields {
                *line
                    .fields
                    .entry(field.pointer.clone())
                    .or_default()
                    .entry(field.action.as_str())
                    .or_default() += 1;
            }
        }
    }

    /// Every line, by subscriber, kind and day.
    pub fn report(&self) -> Vec<SharingDay> {
        self.days
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
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

    #[test]
    fn counts_per_subscriber_kind_and_day() {
        let log = SharingLog::default();
        let d1 = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        log.record(&[sent("a", Action::Mask), sent("b", Action::Share)], d1);
        log.record(&[sent("a", Action::Mask), sent("a", Action::Drop)], d1);
        log.record(&[sent("a", Action::Mask)], d2);
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
}
