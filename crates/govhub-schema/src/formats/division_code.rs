//! Administrative division code (行政区划代码), GB/T 2260.
//!
//! Six digits in three pairs: province (省级), prefecture (地级, `00` only for the
//! province itself) and county (县级, `00` for the prefecture itself). The check is
//! structural: whether a code is currently assigned changes every year and would need the
//! Ministry of Civil Affairs' list, which the standard does not ship.

/// Whether `code` is a structurally valid 6-digit division code: a province that exists,
/// and a county part of `00` whenever the prefecture part is `00`.
pub fn is_valid(code: &str) -> bool {
    let bytes = code.as_bytes();
    if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (province, prefecture, county) = (&code[..2], &code[2..4], &code[4..]);
    has_province_prefix(province) && (prefecture != "00" || county == "00")
}

/// The level a valid code names, or `None` if the code is not valid.
pub fn level(code: &str) -> Option<Level> {
    if !is_valid(code) {
        return None;
    }
    Some(match (&code[2..4], &code[4..]) {
        ("00", _) => Level::Province,
        (_, "00") => Level::Prefecture,
        _ => Level::County,
    })
}

/// Level of an administrative division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// 省级: province, autonomous region, municipality, SAR (`110000`).
    Province,
    /// 地级: prefecture-level city, prefecture, league (`110100`).
    Prefecture,
    /// 县级: county, district, county-level city, banner (`110105`).
    County,
}

/// Whether the first two digits name a province-level division (GB/T 2260), including
/// Hong Kong, Macao and Taiwan (81, 82, 71) which appear on residence permits.
pub fn has_province_prefix(two: &str) -> bool {
    matches!(
        two,
        "11" | "12"
            | "13"
            | "14"
            | "15"
            | "21"
            | "22"
            | "23"
            | "31"
            | "32"
            | "33"
            | "34"
            | "35"
            | "36"
            | "37"
            | "41"
            | "42"
            | "43"
            | "44"
            | "45"
            | "46"
            | "50"
            | "51"
            | "52"
            | "53"
            | "54"
            | "61"
            | "62"
            | "63"
            | "64"
            | "65"
            | "71"
            | "81"
            | "82"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_level() {
        assert_eq!(level("110000"), Some(Level::Province));
        assert_eq!(level("110100"), Some(Level::Prefecture));
        assert_eq!(level("110105"), Some(Level::County));
        // Province-administered county-level cities use prefecture part 90.
        assert_eq!(level("429004"), Some(Level::County));
        assert!(is_valid("650102"));
    }

    #[test]
    fn rejects_bad_shapes_provinces_and_structure() {
        for bad in [
            "",
            "11010",
            "1101050",
            "11010A",
            "11 105",
            "１１０１０５",
            "000000",
            "990101",
            "100000",
            "110001",
            "110099",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
            assert_eq!(level(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn province_prefixes() {
        assert!(has_province_prefix("11"));
        assert!(has_province_prefix("82"));
        assert!(!has_province_prefix("10"));
        assert!(!has_province_prefix("99"));
        assert!(!has_province_prefix("1"));
    }
}
