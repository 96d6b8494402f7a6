//! Unified social credit code (统一社会信用代码), GB 32100-2015.
//!
//! Eighteen characters from a 31-character alphabet (the digits and the capital letters
//! without I, O, Z, S and V, which are too easily misread): registration authority (1),
//! organization type (1), division code of the registering office (6 digits),
//! organization identifier (9) and a check character.

/// The code alphabet; a character's index is its value in the check sum.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of the first 17 characters: 3^(i-1) mod 31 (GB 32100-2015, 5.2).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The value of `c` in the check sum, or `None` if it is not in the alphabet.
fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|i| i as u32)
}

/// Whether the first 17 characters have the code's shape: alphabet characters, with
/// digits in the division-code positions 3–8.
fn well_shaped(first17: &[u8]) -> bool {
    first17.len() == 17
        && first17.iter().all(|&c| value(c).is_some())
        && first17[2..8].iter().all(u8::is_ascii_digit)
}

/// The check character for the first 17 characters, or `None` if they are not 17
/// characters of the code's shape (uppercase only).
pub fn check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if !well_shaped(bytes) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(WEIGHTS)
        .map(|(&c, w)| value(c).map(|v| v * w))
        .sum::<Option<u32>>()?;
    // 31 - (sum mod 31) is in 1..=31, and 31 stands for 0.
    let check = (31 - sum % 31) % 31;
    Some(char::from(ALPHABET[check as usize]))
}

/// Whether `code` is a well-formed unified social credit code: 18 uppercase characters
/// of the alphabet, digits in positions 3–8, and the right check character.
pub fn is_valid(code: &str) -> bool {
    if code.len() != 18 || !code.is_ascii() {
        return false;
    }
    let (first17, last) = code.split_at(17);
    check_char(first17).is_some_and(|c| last.starts_with(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Synthetic codes; check characters computed independently from the standard's
    // definition (alphabet index × 3^(i-1) mod 31).
    const VALID: &[&str] = &[
        "91110108MA0000001D",
        "52310115000000000R",
        "Y1440305ABCDEFGH1D",
        "12100000000000000F",
        "93650102HJKLMNPQR6",
        // Sum ≡ 0 (mod 31): the check value 31 becomes 0.
        "913201020000000290",
        // The largest check value, 30.
        "91320102000000019Y",
    ];

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1;
        for weight in WEIGHTS {
            assert_eq!(weight, w);
            w = w * 3 % 31;
        }
    }

    #[test]
    fn accepts_synthetic_codes() {
        for code in VALID {
            assert_eq!(check_char(&code[..17]), code.chars().last(), "{code}");
            assert!(is_valid(code), "{code}");
        }
    }

    #[test]
    fn rejects_every_single_character_substitution() {
        for code in VALID {
            for pos in 0..18 {
                for c in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZa-".iter().copied() {
                    let mut bytes = code.as_bytes().to_vec();
                    if bytes[pos] == c {
                        continue;
                    }
                    bytes[pos] = c;
                    let changed = String::from_utf8(bytes).unwrap();
                    assert!(!is_valid(&changed), "{changed}");
                }
            }
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(!is_valid(""));
        assert!(!is_valid(&VALID[0][..17]));
        assert!(!is_valid(&format!("{}D", VALID[0])));
        assert!(!is_valid(&VALID[0].to_ascii_lowercase()));
        // Letters where the division code goes.
        assert_eq!(check_char("911101A8MA0000001"), None);
        // Letters excluded from the alphabet.
        for excluded in ["I", "O", "Z", "S", "V"] {
            let first17 = format!("9111010800000000{excluded}");
            assert_eq!(check_char(&first17), None, "{excluded}");
        }
        assert_eq!(check_char("91110108MA000000１"), None);
    }
}
