//! Dates and times in the formats departments actually use.
//!
//! Dates without a zone are China Standard Time (UTC+8), the zone every department
//! records local events in; epoch milliseconds are converted to that zone too.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which date layout a field uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFormat {
    /// Any of the layouts below, recognised by shape.
    Auto,
    /// `2012-03-05`
    Iso,
    /// `2012/03/05` or `2012/3/5`
    Slash,
    /// `20120305`
    Compact,
    /// `2012年3月5日`
    Chinese,
    /// Milliseconds since 1970-01-01T00:00:00Z, as a number or a digit string.
    EpochMillis,
}

impl std::fmt::Display for DateFormat {
    /// The layout's name as the config writes it (`compact`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DateFormat::Auto => "auto",
            DateFormat::Iso => "iso",
            DateFormat::Slash => "slash",
            DateFormat::Compact => "compact",
            DateFormat::Chinese => "chinese",
            DateFormat::EpochMillis => "epoch_millis",
        })
    }
}

/// China Standard Time.
fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is within ±24 h")
}

/// Parses a date in `format`, returning `YYYY-MM-DD`. A value that carries a time as
/// well (`2012-03-05 14:00:00`) gives its date.
pub fn parse_date(value: &Value, format: DateFormat) -> Option<NaiveDate> {
    if let Some(millis) = epoch_millis(value, format) {
        return Some(cst().timestamp_millis_opt(millis).single()?.date_naive());
    }
    let text = value.as_str()?.trim();
    let try_format = |f: DateFormat| -> Option<NaiveDate> {
        match f {
            DateFormat::Iso => ymd(text, '-'),
            DateFormat::Slash => ymd(text, '/'),
            DateFormat::Compact => crate::formats::compact_date(text),
            DateFormat::Chinese => chinese(text),
            DateFormat::Auto | DateFormat::EpochMillis => None,
        }
    };
    match format {
        DateFormat::Auto => [
            DateFormat::Iso,
            DateFormat::Slash,
            DateFormat::Compact,
            DateFormat::Chinese,
        ]
        .into_iter()
        .find_map(try_format)
        .or_else(|| parse_datetime(value, DateFormat::Auto).map(|t| t.date_naive())),
        f => try_format(f),
    }
}

/// `YYYY-MM-DD` with plain integer formatting (chrono's `format` interprets a format
/// string on every call).
pub(crate) fn iso_date(date: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// Parses a date-time, returning it with its offset (UTC+8 when the input has none).
/// Accepts RFC 3339, `2012-03-05 14:03:00`, `2012/03/05 14:03`, `20120305140300`, and
/// epoch milliseconds.
pub fn parse_datetime(value: &Value, format: DateFormat) -> Option<DateTime<FixedOffset>> {
    if let Some(millis) = epoch_millis(value, format) {
        return cst().timestamp_millis_opt(millis).single();
    }
    let text = value.as_str()?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t);
    }
    const LAYOUTS: &[&str] = &[
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y%m%d%H%M%S",
        "%Y年%m月%d日 %H:%M:%S",
        "%Y年%m月%d日 %H:%M",
    ];
    LAYOUTS
        .iter()
        .find_map(|layout| NaiveDateTime::parse_from_str(text, layout).ok())
        .and_then(|naive| cst().from_local_datetime(&naive).single())
}

fn epoch_millis(value: &Value, format: DateFormat) -> Option<i64> {
    if !matches!(format, DateFormat::Auto | DateFormat::EpochMillis) {
        return None;
    }
    match value {
        Value::Number(n) => n.as_i64(),
        // 11+ digits: a compact date has 8, a compact date-time 14 starting with a year,
        // epoch millis since 2001 have 13.
        Value::String(s)
            if format == DateFormat::EpochMillis
                || (s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit())) =>
        {
            s.trim().parse().ok()
        }
        _ => None,
    }
}

/// `2012-03-05`, `2012-3-5` with the given separator.
fn ymd(text: &str, sep: char) -> Option<NaiveDate> {
    let mut parts = text.split(sep);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || m.is_empty()
        || m.len() > 2
        || d.is_empty()
        || d.len() > 2
    {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// `2012年3月5日`
fn chinese(text: &str) -> Option<NaiveDate> {
    let (y, rest) = text.split_once('年')?;
    let (m, rest) = rest.split_once('月')?;
    let d = rest.strip_suffix('日')?;
    ymd(&format!("{y}-{m}-{d}"), '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn every_department_layout_parses() {
        let cases = [
            (json!("2012-03-05"), DateFormat::Iso),
            (json!("2012/03/05"), DateFormat::Slash),
            (json!("2012/3/5"), DateFormat::Slash),
            (json!("20120305"), DateFormat::Compact),
            (json!("2012年3月5日"), DateFormat::Chinese),
            (json!("2012年03月05日"), DateFormat::Chinese),
            // 2012-03-05T00:00:00+08:00
            (json!(1_330_876_800_000_i64), DateFormat::EpochMillis),
            (json!("1330876800000"), DateFormat::EpochMillis),
        ];
        for (value, format) in cases {
            assert_eq!(
                parse_date(&value, format),
                date(2012, 3, 5),
                "{value} as {format:?}"
            );
            assert_eq!(
                parse_date(&value, DateFormat::Auto),
                date(2012, 3, 5),
                "{value} auto"
            );
        }
        assert_eq!(
            parse_date(&json!("2012-03-05 14:00:00"), DateFormat::Auto),
            date(2012, 3, 5)
        );
    }

    #[test]
    fn impossible_or_foreign_dates_are_refused() {
        for bad in [
            "2012-02-30",
            "2012/13/01",
            "20121301",
            "2012年2月30日",
            "05/03/2012",
            "",
            "yesterday",
        ] {
            assert_eq!(parse_date(&json!(bad), DateFormat::Auto), None, "{bad}");
        }
        // An explicit layout accepts only itself.
        assert_eq!(parse_date(&json!("2012/03/05"), DateFormat::Iso), None);
    }

    #[test]
    fn iso_dates_are_zero_padded() {
        assert_eq!(
            iso_date(NaiveDate::from_ymd_opt(912, 3, 5).unwrap()),
            "0912-03-05"
        );
        assert_eq!(
            iso_date(NaiveDate::from_ymd_opt(2012, 12, 25).unwrap()),
            "2012-12-25"
        );
    }

    #[test]
    fn date_times_keep_or_get_an_offset() {
        let t = parse_datetime(&json!("2026-03-05 14:03:00"), DateFormat::Auto).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-05T14:03:00+08:00");
        let t = parse_datetime(&json!("2026-03-05T06:03:00Z"), DateFormat::Auto).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-05T06:03:00+00:00");
        let t = parse_datetime(&json!(1_330_876_800_000_i64), DateFormat::Auto).unwrap();
        assert_eq!(t.to_rfc3339(), "2012-03-05T00:00:00+08:00");
        assert!(parse_datetime(&json!("2026-03-05 25:00:00"), DateFormat::Auto).is_none());
    }
}
