use std::cmp::Ordering;
use std::num::NonZeroU64;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Advance, Page, PageError, PageRequest, is_inner_pointer, param_problems, scalar_text};

/// Incremental sync: `?<param>=<timestamp>` asks for records updated at or after it.
///
/// The API must return records with `timestamp_field >= since`, ordered by
/// `(timestamp_field, id_field)`. The cursor is `{"timestamp": T, "id": I}`, both copied
/// from the last delivered record (`null` before the first one): the next request sends
/// `since = T` (inclusive, so records sharing T are not lost) and the records whose
/// `(timestamp, id)` is at or before `(T, I)` are skipped. Records sharing a timestamp
/// across page boundaries and across runs are therefore neither skipped nor repeated, and
/// a record updated after delivery comes back with its new timestamp as a new version.
///
/// Timestamps are RFC 3339 or `YYYY-MM-DD HH:MM:SS[.fff]` in Beijing time (UTC+8) and are
/// compared as instants. Ids compare as integers when both are JSON integers, otherwise
/// as strings byte by byte; this has to match the API's order, and a page that is out of
/// that order is refused rather than half-skipped.
///
/// More than `page_size` records sharing one timestamp cannot be walked with `since`
/// alone: the page would be full of records already delivered, forever. With `id_param`
/// (an API that also takes `after_id = I` and then returns only records after `(T, I)`)
/// that cannot happen; without it such a page is reported as a config error instead of
/// looping. Like any timestamp sync this misses a record that is committed later with a
/// timestamp at or before the cursor's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatedSinceConfig {
    /// Query parameter carrying the timestamp, e.g. `updated_since`.
    pub param: String,
    /// JSON pointer to a record's update time, e.g. `/updated_at`.
    pub timestamp_field: String,
    /// JSON pointer to a record's id, the tie-breaker within one timestamp, e.g.
    /// `/case_id`.
    pub id_field: String,
    /// Query parameter carrying the cursor's id, e.g. `after_id`, for APIs that continue
    /// strictly after `(since, after_id)`; needed when more than `page_size` records can
    /// share one timestamp.
    #[serde(default)]
    pub id_param: Option<String>,
    /// Query parameter for the page size; none when the API has a fixed page size.
    #[serde(default)]
    pub size_param: Option<String>,
    /// Records per page: asked for with `size_param`, otherwise the API's own page size.
    /// A full page means more may follow, so it must not exceed what the API serves.
    #[serde(default = "super::default_page_size")]
    pub page_size: NonZeroU64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    timestamp: Option<String>,
    id: Option<Value>,
}

/// A record's position in the API's order.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    at: DateTime<FixedOffset>,
    id: Id,
}

#[derive(Debug, Clone, PartialEq)]
enum Id {
    Integer(i128),
    Text(String),
    /// Before every id: a cursor set by `backfill --since T` delivers all of `T`.
    Before,
}

impl Key {
    fn cmp(&self, other: &Key) -> Result<Ordering, String> {
        let by_id = match (&self.id, &other.id) {
            (Id::Integer(a), Id::Integer(b)) => a.cmp(b),
            (Id::Text(a), Id::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Id::Before, Id::Before) => Ordering::Equal,
            (Id::Before, _) => Ordering::Less,
            (_, Id::Before) => Ordering::Greater,
            _ => return Err("id_field mixes numbers and strings".to_owned()),
        };
        Ok(self.at.cmp(&other.at).then(by_id))
    }
}

/// Beijing time (UTC+8), the zone of timestamps written without an offset.
const BEIJING_SECS: i32 = 8 * 3600;

/// An RFC 3339 timestamp, or `YYYY-MM-DD HH:MM:SS[.fff]` in Beijing time.
fn parse_instant(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
        FixedOffset::east_opt(BEIJING_SECS)?
            .from_local_datetime(&naive)
            .single()
    })
}

fn parse_id(value: &Value) -> Option<Id> {
    match value {
        Value::String(s) => Some(Id::Text(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .map(Id::Integer),
        _ => None,
    }
}

impl UpdatedSinceConfig {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut problems = param_problems(&[
            ("param", Some(&self.param)),
            ("id_param", self.id_param.as_deref()),
            ("size_param", self.size_param.as_deref()),
        ]);
        for (field, pointer) in [
            ("timestamp_field", &self.timestamp_field),
            ("id_field", &self.id_field),
        ] {
            if !is_inner_pointer(pointer) {
                problems.push((
                    field.to_owned(),
                    "must be a JSON pointer starting with \"/\"".to_owned(),
                ));
            }
        }
        problems
    }

    pub(crate) fn start(&self) -> Value {
        json!({"timestamp": null, "id": null})
    }

    /// The cursor that re-reads everything updated at or after `timestamp`.
    pub(crate) fn since(&self, timestamp: &str) -> Result<Value, String> {
        parse_instant(timestamp)
            .map(|_| json!({"timestamp": timestamp, "id": null}))
            .ok_or_else(|| format!("{timestamp:?} is neither RFC 3339 nor YYYY-MM-DD HH:MM:SS"))
    }

    /// The cursor's raw values and its key; `None` before the first delivered record.
    fn cursor(cursor: &Value) -> Result<Option<(String, Value, Key)>, PageError> {
        let bad = |m: &str| PageError::Cursor(m.to_owned());
        let parsed: Cursor = serde_json::from_value(cursor.clone())
            .map_err(|e| PageError::Cursor(format!("expected {{\"timestamp\", \"id\"}}: {e}")))?;
        match (parsed.timestamp, parsed.id) {
            (None, None) => Ok(None),
            (Some(timestamp), Some(id)) => {
                let at =
                    parse_instant(&timestamp).ok_or_else(|| bad("timestamp is not a timestamp"))?;
                let key_id = parse_id(&id).ok_or_else(|| bad("id is not a string or integer"))?;
                Ok(Some((timestamp, id, Key { at, id: key_id })))
            }
            (Some(timestamp), None) => {
                let at =
                    parse_instant(&timestamp).ok_or_else(|| bad("timestamp is not a timestamp"))?;
                Ok(Some((timestamp, Value::Null, Key { at, id: Id::Before })))
            }
            (None, Some(_)) => Err(bad("an id needs a timestamp")),
        }
    }

    pub(crate) fn request(&self, cursor: &Value) -> Result<PageRequest, PageError> {
        let mut query = Vec::new();
        if let Some((timestamp, id, _)) = Self::cursor(cursor)? {
            query.push((self.param.clone(), timestamp));
            if let (Some(id_param), false) = (&self.id_param, id.is_null()) {
                let id = scalar_text(&id)
                    .ok_or_else(|| PageError::Cursor("id is not a scalar".to_owned()))?;
                query.push((id_param.clone(), id));
            }
        }
        if let Some(size_param) = &self.size_param {
            query.push((size_param.clone(), self.page_size.to_string()));
        }
        Ok(PageRequest { query, url: None })
    }

    /// A record's key; the message names the record by position only (never contents).
    fn key(&self, index: usize, record: &Value) -> Result<Key, PageError> {
        let bad = |m: String| PageError::Response(format!("record #{index}: {m}"));
        let at = match record.pointer(&self.timestamp_field) {
            Some(Value::String(s)) => parse_instant(s).ok_or_else(|| {
                bad(format!(
                    "{:?} is neither RFC 3339 nor YYYY-MM-DD HH:MM:SS",
                    self.timestamp_field
                ))
            })?,
            _ => {
                return Err(bad(format!(
                    "no timestamp string at {:?}",
                    self.timestamp_field
                )));
            }
        };
        let id = record
            .pointer(&self.id_field)
            .and_then(parse_id)
            .ok_or_else(|| bad(format!("no string or integer id at {:?}", self.id_field)))?;
        Ok(Key { at, id })
    }

    pub(crate) fn advance(&self, cursor: &Value, page: &Page<'_>) -> Result<Advance, PageError> {
        let cursor = Self::cursor(cursor)?;
        let size = self.page_size.get();
        let records = page.records;
        if records.len() as u64 > size {
            return Err(PageError::Response(format!(
                "the API returned {} records for a page of {size}",
                records.len()
            )));
        }
        let keys = records
            .iter()
            .enumerate()
            .map(|(i, r)| self.key(i, r))
            .collect::<Result<Vec<Key>, PageError>>()?;
        for (i, pair) in keys.windows(2).enumerate() {
            if pair[0].cmp(&pair[1]).map_err(PageError::Response)? == Ordering::Greater {
                return Err(PageError::Response(format!(
                    "records #{i} and #{} are not ordered by ({:?}, {:?})",
                    i + 1,
                    self.timestamp_field,
                    self.id_field
                )));
            }
        }
        // Sorted, so the records already delivered are a prefix.
        let mut skip = 0;
        if let Some((_, _, at)) = &cursor {
            for key in &keys {
                if key.cmp(at).map_err(PageError::Response)? == Ordering::Greater {
                    break;
                }
                skip += 1;
            }
        }
        let full = records.len() as u64 == size;
        let Some(last) = records.get(skip..).and_then(<[Value]>::last) else {
            if full {
                return Err(self.stuck());
            }
            let next = match cursor {
                Some((timestamp, id, _)) => json!({"timestamp": timestamp, "id": id}),
                None => self.start(),
            };
            return Ok(Advance {
                skip,
                next,
                more: false,
            });
        };
        let timestamp = last
            .pointer(&self.timestamp_field)
            .cloned()
            .unwrap_or(Value::Null);
        let id = last.pointer(&self.id_field).cloned().unwrap_or(Value::Null);
        Ok(Advance {
            skip,
            next: json!({"timestamp": timestamp, "id": id}),
            more: full,
        })
    }

    /// The error for a full page of records that were all delivered already.
    fn stuck(&self) -> PageError {
        match self.id_param {
            None => PageError::Config(format!(
                "pagination: a full page of {} records was all delivered already, so more \
                 than pagination.page_size records share one {:?}; set pagination.id_param \
                 if the API can continue after an id, or raise pagination.page_size",
                self.page_size, self.timestamp_field
            )),
            Some(ref id_param) => PageError::Response(format!(
                "the API answered a request with {id_param} with a full page of records \
                 already delivered; it does not seem to honour {id_param}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagination::fixture::Response;

    fn pager(size: u64, id_param: Option<&str>) -> UpdatedSinceConfig {
        UpdatedSinceConfig {
            param: "updated_since".into(),
            timestamp_field: "/updated_at".into(),
            id_field: "/case_id".into(),
            id_param: id_param.map(str::to_owned),
            size_param: Some("size".into()),
            page_size: NonZeroU64::new(size).unwrap(),
        }
    }

    fn page(records: &[(&str, Value)]) -> Response {
        Response {
            records: records
                .iter()
                .map(|(at, id)| json!({"updated_at": at, "case_id": id}))
                .collect(),
            ..Response::records(0)
        }
    }

    #[test]
    fn timestamps_compare_as_instants_in_beijing_time() {
        let a = parse_instant("2024-05-01 10:00:00").unwrap();
        assert_eq!(a, parse_instant("2024-05-01T10:00:00+08:00").unwrap());
        assert_eq!(a, parse_instant("2024-05-01T02:00:00Z").unwrap());
        assert!(parse_instant("2024-05-01 10:00:00.5").unwrap() > a);
        assert!(parse_instant("2024-05-01").is_none());
        assert!(parse_instant("yesterday").is_none());
    }

    #[test]
    fn a_since_cursor_delivers_everything_from_its_timestamp_on() {
        let p = pager(4, Some("after_id"));
        let since = p.since("2024-05-01 10:00:01").unwrap();
        // No after_id yet: the API returns all of that second.
        assert_eq!(
            p.request(&since).unwrap().query,
            vec![
                ("updated_since".into(), "2024-05-01 10:00:01".into()),
                ("size".into(), "4".into())
            ]
        );
        let r = page(&[
            ("2024-05-01 10:00:01", json!("C2")),
            ("2024-05-01 10:00:01", json!("C3")),
        ]);
        let a = p.advance(&since, &r.page()).unwrap();
        assert_eq!((a.skip, a.more), (0, false));
        assert_eq!(
            a.next,
            json!({"timestamp": "2024-05-01 10:00:01", "id": "C3"})
        );
        assert!(p.since("last week").is_err());
    }

    #[test]
    fn skips_what_was_delivered_and_moves_to_the_last_record() {
        let p = pager(4, None);
        assert_eq!(
            p.request(&p.start()).unwrap().query,
            vec![("size".into(), "4".into())]
        );
        let r = page(&[
            ("2024-05-01 10:00:00", json!("C1")),
            ("2024-05-01 10:00:01", json!("C2")),
            ("2024-05-01 10:00:01", json!("C3")),
            ("2024-05-01 10:00:01", json!("C4")),
        ]);
        let a = p.advance(&p.start(), &r.page()).unwrap();
        assert_eq!((a.skip, a.more), (0, true));
        assert_eq!(
            a.next,
            json!({"timestamp": "2024-05-01 10:00:01", "id": "C4"})
        );
        assert_eq!(
            p.request(&a.next).unwrap().query,
            vec![
                ("updated_since".into(), "2024-05-01 10:00:01".into()),
                ("size".into(), "4".into())
            ]
        );
        // Same timestamp in another notation: still the same instant.
        let r = page(&[
            ("2024-05-01T10:00:01+08:00", json!("C2")),
            ("2024-05-01T10:00:01+08:00", json!("C3")),
            ("2024-05-01T10:00:01+08:00", json!("C4")),
            ("2024-05-01T10:00:01+08:00", json!("C5")),
        ]);
        let b = p.advance(&a.next, &r.page()).unwrap();
        assert_eq!((b.skip, b.more), (3, true));
        assert_eq!(b.next["id"], "C5");
        // Caught up: nothing new, the cursor stays.
        let c = p
            .advance(
                &b.next,
                &page(&[("2024-05-01 10:00:01", json!("C5"))]).page(),
            )
            .unwrap();
        assert_eq!((c.skip, c.more, &c.next), (1, false, &b.next));
    }

    #[test]
    fn a_full_page_of_delivered_records_is_an_error_not_a_loop() {
        let r = page(&[
            ("2024-05-01 10:00:00", json!(1)),
            ("2024-05-01 10:00:00", json!(2)),
        ]);
        let cursor = json!({"timestamp": "2024-05-01 10:00:00", "id": 2});
        let err = pager(2, None).advance(&cursor, &r.page()).unwrap_err();
        assert!(
            matches!(&err, PageError::Config(m) if m.contains("id_param")),
            "{err:?}"
        );
        let p = pager(2, Some("after_id"));
        assert_eq!(
            p.request(&cursor).unwrap().query,
            vec![
                ("updated_since".into(), "2024-05-01 10:00:00".into()),
                ("after_id".into(), "2".into()),
                ("size".into(), "2".into())
            ]
        );
        assert!(matches!(
            p.advance(&cursor, &r.page()),
            Err(PageError::Response(_))
        ));
    }

    #[test]
    fn unordered_or_unreadable_records_are_errors() {
        let p = pager(10, None);
        for r in [
            page(&[
                ("2024-05-01 10:00:01", json!(1)),
                ("2024-05-01 10:00:00", json!(2)),
            ]),
            page(&[
                ("2024-05-01 10:00:00", json!(2)),
                ("2024-05-01 10:00:00", json!(1)),
            ]),
            page(&[
                ("2024-05-01 10:00:00", json!(1)),
                ("2024-05-01 10:00:00", json!("2")),
            ]),
            page(&[("01/05/2024", json!(1))]),
            page(&[("2024-05-01 10:00:00", json!(null))]),
        ] {
            assert!(matches!(
                p.advance(&p.start(), &r.page()),
                Err(PageError::Response(_))
            ));
        }
        let secret = page(&[("身份证 110101199003071234", json!(1))]);
        let err = p.advance(&p.start(), &secret.page()).unwrap_err();
        assert!(!format!("{err:?}").contains("1101"), "{err:?}");
        for bad in [
            json!({"timestamp": "x", "id": 1}),
            json!({"timestamp": null, "id": 1}),
        ] {
            assert!(
                matches!(p.request(&bad), Err(PageError::Cursor(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn config_problems_are_reported() {
        let p = UpdatedSinceConfig {
            id_param: Some("updated_since".into()),
            timestamp_field: "updated_at".into(),
            ..pager(10, None)
        };
        assert_eq!(
            p.problems(),
            vec![
                ("id_param".to_owned(), "must differ from param".to_owned()),
                (
                    "timestamp_field".to_owned(),
                    "must be a JSON pointer starting with \"/\"".to_owned()
                ),
            ]
        );
        assert!(pager(10, Some("after_id")).problems().is_empty());
    }
}
