//! 18-digit resident identity number (公民身份号码), GB 11643-1999.
//!
//! Layout: 6-digit administrative division code, 8-digit birth date `YYYYMMDD`, 3-digit
//! sequence (odd for men, even for women), and a check character computed with
//! ISO 7064 MOD 11-2 (`X` stands for 10).

use chrono::NaiveDate;

use super::division_code::has_province_prefix;
use crate::Sex;

/// Weights of the first 17 digits: 2^(17-i) mod 11.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check value (`X` = 10) for each value of the weighted sum mod 11.
const CHECK_VALUE: [u8; 11] = [1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2];

/// The check character for the first 17 digits, or `None` if they are not 17 ASCII digits.
pub fn check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let values: Vec<u8> = bytes.iter().map(|b| b - b'0').collect();
    let value = check_value(&values)?;
    Some(if value == 10 {
        'X'
    } else {
        char::from(b'0' + value)
    })
}

/// The check character's value (0–9, 10 for `X`) for the values of the first 17 digits
/// (each 0–9), or `None` if they are not 17 such values.
pub fn check_value(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || first17.iter().any(|d| *d > 9) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    Some(CHECK_VALUE[(sum % 11) as usize])
}

/// Whether `id` is a well-formed 18-digit resident ID: a province prefix that exists,
/// a real calendar birth date not before 1900, and a correct check character
/// (upper- or lowercase `x` accepted).
pub fn is_valid(id: &str) -> bool {
    if id.len() != 18 || !id.is_ascii() {
        return false;
    }
    let (first17, last) = id.split_at(17);
    let Some(expected) = check_char(first17) else {
        return false;
    };
    let Some(given) = last.chars().next() else {
        return false;
    };
    given.to_ascii_uppercase() == expected
        && has_province_prefix(&id[..2])
        && birth_date(id).is_some()
}

/// The 18-digit form of a 15-digit ID issued before 1999 (6-digit division, `YYMMDD`,
/// 3-digit sequence): the century `19` goes before the year and the check character is
/// appended. `None` if `id15` is not 15 ASCII digits, its province does not exist or its
/// date is impossible.
pub fn from_legacy(id15: &str) -> Option<String> {
    let bytes = id15.as_bytes();
    if bytes.len() != 15 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !has_province_prefix(&id15[..2]) {
        return None;
    }
    let first17 = format!("{}19{}", &id15[..6], &id15[6..]);
    birth_date(&first17)?;
    let check = check_char(&first17)?;
    Some(format!("{first17}{check}"))
}

/// The canonical form of a resident ID as typed into department systems: surrounding
/// whitespace trimmed, full-width digits and `Ｘ` folded to ASCII, a trailing `x`
/// uppercased, and a 15-digit legacy ID converted to 18 digits. `Some` only if the result
/// [`is_valid`].
pub fn normalize(input: &str) -> Option<String> {
    let mut folded: String = input.trim().chars().map(crate::text::fold_char).collect();
    if folded.ends_with('x') {
        folded.pop();
        folded.push('X');
    }
    let id = if folded.len() == 15 {
        from_legacy(&folded)?
    } else {
        folded
    };
    is_valid(&id).then_some(id)
}

/// The birth date encoded in an 18-digit ID (digits 7–14), if it is a real date from
/// 1900 on.
pub fn birth_date(id: &str) -> Option<NaiveDate> {
    let date = super::compact_date(id.get(6..14)?)?;
    (date >= NaiveDate::from_ymd_opt(1900, 1, 1)?).then_some(date)
}

/// The sex an 18-digit ID encodes: its 17th digit, odd for men.
pub fn sex(id: &str) -> Option<Sex> {
    let digit = id.as_bytes().get(16)?.checked_sub(b'0')?;
    (digit <= 9).then_some(if digit % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Synthetic IDs built for these tests (division 110105, check digits computed by hand
    // from the MOD 11-2 weights).
    const VALID: &str = "11010519491231002X";

    #[test]
    fn accepts_a_correct_id_in_either_case() {
        assert_eq!(check_char(&VALID[..17]), Some('X'));
        assert!(is_valid(VALID));
        assert!(is_valid(&VALID.to_ascii_lowercase()));
    }

    #[test]
    fn rejects_every_single_digit_change() {
        for pos in 0..17 {
            for d in b'0'..=b'9' {
                let mut bytes = VALID.as_bytes().to_vec();
                if bytes[pos] == d {
                    continue;
                }
                bytes[pos] = d;
                let changed = String::from_utf8(bytes).unwrap();
                assert!(!is_valid(&changed), "position {pos} digit {}", d - b'0');
            }
        }
    }

    #[test]
    fn rejects_bad_shapes_dates_and_provinces() {
        assert!(!is_valid(""));
        assert!(!is_valid(&VALID[..17]));
        assert!(!is_valid("11010519491231002Ｘ"));
        // 1949-02-30 does not exist; the check digit is right for the digits.
        let bad_date = format!(
            "11010519490230002{}",
            check_char("11010519490230002").unwrap()
        );
        assert!(!is_valid(&bad_date));
        // 99 is no province.
        let bad_prov = format!(
            "99010519491231002{}",
            check_char("99010519491231002").unwrap()
        );
        assert!(!is_valid(&bad_prov));
    }

    #[test]
    fn converts_legacy_ids() {
        // 110105 491231 002: the 18-digit VALID without its century and check character.
        assert_eq!(from_legacy("110105491231002").as_deref(), Some(VALID));
        assert_eq!(from_legacy("11010549123100"), None);
        assert_eq!(from_legacy("1101054912310020"), None);
        assert_eq!(from_legacy("11010549123100A"), None);
        assert_eq!(from_legacy("990105491231002"), None);
        assert_eq!(from_legacy("110105490230002"), None);
        // 1900 was not a leap year.
        assert_eq!(from_legacy("110105000229002"), None);
        assert!(from_legacy("110105960229002").is_some());
    }

    #[test]
    fn normalizes_what_people_type() {
        assert_eq!(normalize(VALID).as_deref(), Some(VALID));
        assert_eq!(normalize("  11010519491231002x\t").as_deref(), Some(VALID));
        assert_eq!(
            normalize("１１０１０５１９４９１２３１００２Ｘ").as_deref(),
            Some(VALID)
        );
        assert_eq!(normalize("11010519491231002ｘ").as_deref(), Some(VALID));
        assert_eq!(
            normalize("\u{3000}110105491231002 ").as_deref(),
            Some(VALID)
        );
        assert_eq!(normalize("110105194912310021"), None);
        assert_eq!(normalize("1101051949 1231002X"), None);
        assert_eq!(normalize("x"), None);
        assert_eq!(normalize(""), None);
    }
}
