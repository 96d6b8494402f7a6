//! Mainland China mobile number (手机号码).
//!
//! Eleven digits, `1` then a network digit `3`–`9`. Carriers' number blocks change too
//! often to check the first three digits against a list.

/// Whether `number` is exactly 11 ASCII digits starting `1[3-9]`.
pub fn is_valid(number: &str) -> bool {
    let bytes = number.as_bytes();
    bytes.len() == 11
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes[0] == b'1'
        && (b'3'..=b'9').contains(&bytes[1])
}

/// The 11-digit form of a mobile number as people write it: spaces, dashes and
/// parentheses (ASCII or full-width) removed, full-width digits folded to ASCII, and the
/// country code `+86`/`0086`/`86` dropped. `Some` only if the result [`is_valid`].
pub fn normalize(input: &str) -> Option<String> {
    let compact: String = input
        .chars()
        .filter(|c| !is_separator(*c))
        .map(crate::text::fold_char)
        .collect();
    let national = if let Some(rest) = compact.strip_prefix("+86") {
        rest
    } else if let Some(rest) = compact.strip_prefix("0086") {
        rest
    } else if compact.len() == 13 {
        // A bare 86 is only a country code when 11 digits follow it.
        compact.strip_prefix("86").unwrap_or(&compact)
    } else {
        &compact
    };
    is_valid(national).then(|| national.to_owned())
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '‐' | '–' | '—' | '－' | '(' | ')' | '（' | '）')
}

#[cfg(test)]
mod tests {
    use super::*;

    // Synthetic numbers in the 13800000000 block.
    #[test]
    fn accepts_eleven_digits_on_a_mobile_network() {
        for ok in ["13800000000", "19912345678", "15000000001"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "1380000000",
            "138000000000",
            "12800000000",
            "10800000000",
            "23800000000",
            "1380000000A",
            "+8613800000000",
            "１３８００００００００",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn normalizes_what_people_type() {
        for typed in [
            "13800000000",
            " 138 0000 0000 ",
            "138-0000-0000",
            "(+86) 138 0000 0000",
            "+86-13800000000",
            "008613800000000",
            "8613800000000",
            "１３８－００００－００００",
            "（＋８６）13800000000",
        ] {
            assert_eq!(
                normalize(typed).as_deref(),
                Some("13800000000"),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn normalize_refuses_what_is_not_a_mobile_number() {
        for bad in [
            "",
            "86",
            "+86",
            "861380000000",
            "+861380000000",
            "010-12345678",
            "12800000000",
            "138.0000.0000",
            "+8686138000000",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
