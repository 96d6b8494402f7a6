//! Address text reduced to what identity resolution compares: two hashes in one 64-bit
//! key.
//!
//! A Chinese address runs from the largest division to the door: 北京市朝阳区 (province,
//! city, district), then the street, village or compound (幸福路, 张庄村, 阳光小区),
//! then numbers (12号 3栋 2单元 1203室). Departments write the same address differently:
//! with or without the province and city, in full-width digits, in traditional
//! characters, with spaces, punctuation or a trailing postal code. The text is cut into
//! parts after each place suffix (省 市 区 县 路 街 村 号 栋 室 …); the leading parts that
//! name divisions are dropped (the division code is compared on its own). What remains
//! is the *local part*, whose first part is the *street*:
//!
//! - the low 32 bits hash the whole local part (equal: the same address, written alike
//!   or not);
//! - the high 32 bits hash the street alone (equal: the same street, village or
//!   compound, another number; or one record leaves the numbers out).
//!
//! A hash shared by chance is rare (2^-31) and the model's u for each level absorbs it.

use govhub_schema::text::{fold_char, simplified};

use super::features::hash32;

/// Characters after which an address part ends.
const PART_ENDS: &[char] = &[
    '省', '市', '区', '县', '旗', '州', '盟', '镇', '乡', '道', '村', '组', '路', '街', '巷', '弄',
    '里', '号', '座', '栋', '幢', '楼', '元', '室', '层', '户',
];

/// Part endings of divisions (dropped while they lead the address): province, city,
/// district, county, banner, prefecture, league, town, township, sub-district (街道).
const DIVISION_ENDS: &[char] = &['省', '市', '区', '县', '旗', '州', '盟', '镇', '乡'];

/// Parts ending in a division's character that are places, not divisions (a residential
/// compound, a community, a park, a campus).
const NOT_DIVISIONS: &[&str] = &["小区", "社区", "园区", "校区", "街区"];

/// The 64-bit key of an address text (high: street, low: local part); 0 when the text
/// has nothing below its divisions.
pub fn address_key(text: &str) -> u64 {
    let folded = fold(text);
    let parts = parts(&folded);
    let Some(at) = parts.iter().position(|p| !is_division(p)) else {
        return 0;
    };
    // The parts cut the text end to end, so the local part is the text after the
    // divisions. The lowest bit of each half is set so a present key is never 0 in
    // either half.
    let divisions: usize = parts[..at].iter().map(|p| p.len()).sum();
    let whole = hash32(&folded[divisions..]);
    let street = hash32(parts[at]);
    u64::from(street) << 32 | u64::from(whole)
}

/// Whether two address keys name the same address (0), the same street (1) or neither
/// (2); `None` when either is absent.
pub fn compare(a: u64, b: u64) -> Option<u8> {
    if a == 0 || b == 0 {
        return None;
    }
    Some(if a == b {
        0
    } else if a >> 32 == b >> 32 {
        1
    } else {
        2
    })
}

/// Full-width forms to ASCII, Latin letters upper-cased, traditional characters to
/// simplified; whitespace, punctuation and a trailing postal code (six digits after a
/// space) dropped.
fn fold(text: &str) -> String {
    let text = text.trim();
    let text = match text.rsplit_once(|c: char| c.is_whitespace()) {
        Some((head, tail)) if tail.len() == 6 && tail.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => text,
    };
    text.chars()
        .map(fold_char)
        .filter(|c| !(c.is_whitespace() || is_punctuation(*c)))
        .map(|c| simplified(c.to_ascii_uppercase()))
        .collect()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '，' | '、' | '。' | '（' | '）' | '—' | '－' | '·' | '：' | '；' | '“' | '”'
        )
}

/// The text cut after each part ending; what follows the last ending is a part too.
fn parts(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        // 街道 (a sub-district) ends at its 道, not at its 街.
        let sub_district = c == '街' && chars.peek().is_some_and(|(_, next)| *next == '道');
        if PART_ENDS.contains(&c) && !sub_district {
            let end = at + c.len_utf8();
            out.push(&text[start..end]);
            start = end;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn is_division(part: &str) -> bool {
    let ends_as_division = part
        .chars()
        .last()
        .is_some_and(|c| DIVISION_ENDS.contains(&c))
        || part.ends_with("街道");
    ends_as_division && !NOT_DIVISIONS.iter().any(|p| part.ends_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "北京市朝阳区幸福路12号3栋2单元1203室";

    #[test]
    fn the_same_address_written_differently_is_the_same() {
        let home = address_key(HOME);
        assert_ne!(home, 0);
        for written in [
            "朝阳区幸福路12号3栋2单元1203室",
            "幸福路12号3栋2单元1203室",
            "北京市 朝阳区 幸福路１２号３栋２单元１２０３室",
            "北京市朝阳区幸福路12号3栋2单元1203室 100020",
            "北京市朝陽區幸福路12號3棟2單元1203室",
            "北京市朝阳区建国门街道幸福路12号3栋2单元1203室",
        ] {
            assert_eq!(compare(home, address_key(written)), Some(0), "{written}");
        }
    }

    #[test]
    fn another_number_on_the_same_street_is_the_same_street() {
        let home = address_key(HOME);
        for other in [
            "北京市朝阳区幸福路12号3栋2单元1204室",
            "北京市朝阳区幸福路90号",
            "幸福路",
        ] {
            assert_eq!(compare(home, address_key(other)), Some(1), "{other}");
        }
        assert_eq!(
            compare(home, address_key("北京市朝阳区人民路12号3栋2单元1203室")),
            Some(2)
        );
    }

    #[test]
    fn a_compound_or_a_village_is_a_place_not_a_division() {
        let compound = address_key("上海市浦东新区阳光小区5号楼301室");
        assert_eq!(
            compare(compound, address_key("阳光小区5号楼301室")),
            Some(0)
        );
        assert_eq!(
            compare(compound, address_key("阳光小区7号楼101室")),
            Some(1)
        );
        let village = address_key("河北省保定市清苑县张庄镇李家村3组");
        assert_eq!(compare(village, address_key("李家村3组")), Some(0));
    }

    #[test]
    fn an_address_with_no_place_below_its_divisions_or_none_compares_nothing() {
        assert_eq!(address_key("北京市朝阳区"), 0);
        assert_eq!(address_key(""), 0);
        assert_eq!(compare(address_key(HOME), 0), None);
    }
}
