//! Property tests of the identifier formats: generated valid identifiers pass, and every
//! single-character change is caught.

use chrono::{Datelike, NaiveDate};
use govhub_schema::formats::{division_code, mobile, resident_id, uscc};
use proptest::prelude::*;

const PROVINCES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];
const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A date between `from` and `to` years inclusive.
fn date(from: i32, to: i32) -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(from, 1, 1).expect("a real date");
    let days = NaiveDate::from_ymd_opt(to, 12, 31).expect("a real date") - first;
    (0..=days.num_days()).prop_map(move |d| first + chrono::Days::new(d as u64))
}

/// A 6-digit division code with an existing province prefix (any prefecture and county).
fn division() -> impl Strategy<Value = String> {
    (proptest::sample::select(PROVINCES), 0..10_000u32)
        .prop_map(|(province, rest)| format!("{province}{rest:04}"))
}

/// The first 17 digits of a resident ID born between `from` and `to`.
fn resident_first17(from: i32, to: i32) -> impl Strategy<Value = String> {
    (division(), date(from, to), 0..1000u32).prop_map(|(division, born, sequence)| {
        format!(
            "{division}{:04}{:02}{:02}{sequence:03}",
            born.year(),
            born.month(),
            born.day()
        )
    })
}

fn valid_resident_id() -> impl Strategy<Value = String> {
    resident_first17(1900, 2099).prop_map(|first17| {
        let check = resident_id::check_char(&first17).expect("17 digits");
        format!("{first17}{check}")
    })
}

/// A valid 15-digit legacy ID: born 1900–1999, written without the century.
fn legacy_id() -> impl Strategy<Value = String> {
    resident_first17(1900, 1999).prop_map(|first17| format!("{}{}", &first17[..6], &first17[8..]))
}

fn valid_uscc() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = USCC_ALPHABET.chars().collect();
    let any_char = proptest::sample::select(alphabet);
    (
        any_char.clone(),
        any_char.clone(),
        0..1_000_000u32,
        proptest::collection::vec(any_char, 9),
    )
        .prop_map(|(authority, kind, division, identifier)| {
            let identifier: String = identifier.into_iter().collect();
            let first17 = format!("{authority}{kind}{division:06}{identifier}");
            let check = uscc::check_char(&first17).expect("17 code characters");
            format!("{first17}{check}")
        })
}

/// `s` with the character at `position` replaced, if `replacement` differs from it.
fn substitute(s: &str, position: usize, replacement: char) -> Option<String> {
    let mut chars: Vec<char> = s.chars().collect();
    (chars[position] != replacement).then(|| {
        chars[position] = replacement;
        chars.into_iter().collect()
    })
}

proptest! {
    #[test]
    fn generated_resident_ids_pass(id in valid_resident_id()) {
        prop_assert!(resident_id::is_valid(&id));
        prop_assert_eq!(resident_id::normalize(&id), Some(id.clone()));
    }

    #[test]
    fn every_single_character_change_of_a_resident_id_fails(id in valid_resident_id()) {
        for position in 0..18 {
            for replacement in "0123456789Xx".chars() {
                let same = id[position..=position].eq_ignore_ascii_case(&replacement.to_string());
                if let (false, Some(changed)) = (same, substitute(&id, position, replacement)) {
                    prop_assert!(!resident_id::is_valid(&changed), "{} → {}", id, changed);
                }
            }
        }
    }

    #[test]
    fn legacy_ids_convert_and_round_trip(id15 in legacy_id()) {
        let id18 = resident_id::from_legacy(&id15).unwrap();
        prop_assert!(resident_id::is_valid(&id18));
        prop_assert_eq!(&id18[6..8], "19");
        let back = format!("{}{}", &id18[..6], &id18[8..17]);
        prop_assert_eq!(&back, &id15);
        prop_assert_eq!(resident_id::normalize(&id15), Some(id18));
    }

    #[test]
    fn generated_usccs_pass(code in valid_uscc()) {
        prop_assert!(uscc::is_valid(&code));
    }

    #[test]
    fn every_single_character_substitution_of_a_uscc_fails(code in valid_uscc()) {
        for position in 0..18 {
            for replacement in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZa-".chars() {
                if let Some(changed) = substitute(&code, position, replacement) {
                    prop_assert!(!uscc::is_valid(&changed), "{} → {}", code, changed);
                }
            }
        }
    }

    #[test]
    fn mobile_normalize_undoes_formatting(
        second in 3..=9u8,
        rest in 0..1_000_000_000u64,
        prefix in proptest::sample::select(vec!["", "+86", "+86 ", "0086", "86", "(+86)"]),
        dashed in any::<bool>(),
    ) {
        let number = format!("1{second}{rest:09}");
        prop_assert!(mobile::is_valid(&number));
        let typed = if dashed {
            format!("{prefix}{}-{}-{}", &number[..3], &number[3..7], &number[7..])
        } else {
            format!("{prefix}{number}")
        };
        prop_assert_eq!(mobile::normalize(&typed), Some(number));
    }

    #[test]
    fn division_codes_are_valid_exactly_when_structured(code in division()) {
        let structured = &code[2..4] != "00" || &code[4..] == "00";
        prop_assert_eq!(division_code::is_valid(&code), structured);
    }
}
