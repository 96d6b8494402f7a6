//! Chinese identifier formats, checked with their real algorithms.
//!
//! Each is registered as a JSON Schema `format` by [`crate::Standard`] and is usable on
//! its own by normalization.

pub mod division_code;
pub mod mobile;
pub mod resident_id;
pub mod uscc;

/// `YYYYMMDD` as a real calendar date. Parsed by hand: this runs for every resident ID
/// and compact date of every record, and chrono's format-string parser costs several
/// times more.
pub(crate) fn compact_date(digits: &str) -> Option<chrono::NaiveDate> {
    let b = digits.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    chrono::NaiveDate::from_ymd_opt(i32::try_from(n(0..4)).ok()?, n(4..6), n(6..8))
}

/// A format check: whether a string is well-formed.
pub(crate) type Check = fn(&str) -> bool;

/// Every custom format: its `format` name and its check.
pub(crate) const ALL: &[(&str, Check)] = &[
    ("cn-division-code", division_code::is_valid),
    ("cn-mobile", mobile::is_valid),
    ("cn-resident-id", resident_id::is_valid),
    ("cn-uscc", uscc::is_valid),
];

/// What each custom format checks, in words, for the standard's documentation.
pub(crate) const ABOUT: &[(&str, &str)] = &[
    (
        "cn-division-code",
        "6-digit administrative division code (行政区划代码, GB/T 2260): a province-level prefix that exists; prefecture part `00` only in the province's own code (`110000`); county part `00` for a prefecture (`110100`).",
    ),
    (
        "cn-mobile",
        "Mainland mobile number (手机号码): exactly 11 ASCII digits, `1` then `3`–`9`; no country code, spaces or dashes.",
    ),
    (
        "cn-resident-id",
        "18-digit resident identity number (公民身份号码, GB 11643-1999): province prefix, real birth date from 1900 on, ISO 7064 MOD 11-2 check character (`X` = 10, either case).",
    ),
    (
        "cn-uscc",
        "Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters of `0-9 A-H J-N P-R T U W-Y` (no I, O, Z, S, V), digits in positions 3–8, MOD 31 check character with weights 3^(i-1) mod 31.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_is_described() {
        let described: Vec<_> = ABOUT.iter().map(|(name, _)| *name).collect();
        let registered: Vec<_> = ALL.iter().map(|(name, _)| *name).collect();
        assert_eq!(described, registered);
    }
}
