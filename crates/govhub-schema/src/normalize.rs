//! Normalization of identifiers and names, so the same fact written two ways becomes
//! one value before validation, dedup and identity resolution.
//!
//! These run inside mapping rules (`normalize = "resident_id"`), i.e. *before*
//! validation: a legacy 15-digit ID is converted to 18 digits and then checked by the
//! `cn-resident-id` format, rather than rejected for its length.

use serde::{Deserialize, Serialize};

use crate::formats::{mobile, resident_id};
use crate::text::fold_char;

/// A normalizer a mapping rule can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalizer {
    /// Resident ID: width-folded, upper-case `X`, legacy 15 digits converted to 18; must
    /// then be a valid 18-digit ID.
    ResidentId,
    /// Mainland mobile number: `+86`, spaces and dashes stripped; must then be valid.
    Mobile,
    /// Personal name, see [`name`].
    Name,
}

impl Normalizer {
    /// The normalized value, or `None` if the input is not a valid value of its kind.
    pub fn apply(self, input: &str) -> Option<String> {
        match self {
            Normalizer::ResidentId => resident_id::normalize(input),
            Normalizer::Mobile => mobile::normalize(input),
            Normalizer::Name => Some(name(input)).filter(|n| !n.is_empty()),
        }
    }

    /// The input tidied as far as that is safe without judging it (full-width forms
    /// folded, spaces and separators removed, a resident ID's `x` upper-cased): how a
    /// value that fails [`Normalizer::apply`] is kept as unverified evidence.
    pub fn tidy(self, input: &str) -> String {
        let folded = input.chars().map(fold_char);
        match self {
            Normalizer::ResidentId => folded
                .filter(|c| !c.is_whitespace() && *c != '-')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
            Normalizer::Mobile => folded.filter(|c| !c.is_whitespace() && *c != '-').collect(),
            Normalizer::Name => name(input),
        }
    }

    /// What the normalizer expects, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Normalizer::ResidentId => "resident ID (18 digits, or legacy 15)",
            Normalizer::Mobile => "mainland mobile number",
            Normalizer::Name => "name",
        }
    }
}

/// Characters that departments type in place of the middle dot (U+00B7) of minority and
/// transliterated names: bullet, katakana middle dot (full and half width), full-width
/// full stop, hyphenation point, ASCII full stop.
const DOT_LOOK_ALIKES: &[char] = &[
    '\u{2022}', '\u{30FB}', '\u{FF65}', '\u{FF0E}', '\u{2027}', '.',
];

/// The middle dot the national rules for name fields prescribe.
const MIDDLE_DOT: char = '\u{00B7}';

fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// A personal name as the standard writes it: trimmed, full-width folded, middle-dot
/// look-alikes folded to U+00B7 with no space around it, and — in names written in Han
/// characters — no spaces at all (`张 三` → `张三`). Latin-script names keep single
/// spaces between words.
pub fn name(input: &str) -> String {
    let han = input.chars().any(is_han);
    let mut out = String::with_capacity(input.len());
    let mut space = false;
    for c in input.chars().map(fold_char) {
        let c = if DOT_LOOK_ALIKES.contains(&c) {
            MIDDLE_DOT
        } else {
            c
        };
        if c.is_whitespace() {
            space = true;
        } else if c == MIDDLE_DOT {
            // No leading, doubled or spaced dots.
            if !out.is_empty() && !out.ends_with(MIDDLE_DOT) {
                out.push(c);
            }
            space = false;
        } else {
            if space && !han && !out.is_empty() && !out.ends_with(MIDDLE_DOT) {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    if out.ends_with(MIDDLE_DOT) {
        out.pop();
    }
    out
}

/// A key for comparing names: the normalized name with traditional characters folded to
/// simplified (`陳` and `陈` match), middle dots removed, and Latin letters lower-cased.
/// For matching only; never shown or published in place of the name.
pub fn name_match_key(input: &str) -> String {
    name(input)
        .chars()
        .filter(|c| *c != MIDDLE_DOT && !c.is_whitespace())
        .map(crate::text::simplified)
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn han_names_lose_spaces_and_fold_width() {
        assert_eq!(name("  张 三\u{3000}"), "张三");
        assert_eq!(name("欧阳 娜娜"), "欧阳娜娜");
        assert_eq!(name("王ＡＢ"), "王AB");
    }

    #[test]
    fn middle_dot_look_alikes_become_u00b7() {
        for dot in [
            '\u{2022}', '\u{30FB}', '\u{FF0E}', '.', '\u{00B7}', '\u{FF65}',
        ] {
            let raw = format!("阿依古丽 {dot} 买买提");
            assert_eq!(name(&raw), "阿依古丽·买买提", "{dot:?}");
        }
        assert_eq!(name("·阿依古丽·"), "阿依古丽");
    }

    #[test]
    fn latin_names_keep_single_spaces() {
        assert_eq!(name("  John   Smith "), "John Smith");
    }

    #[test]
    fn match_keys_fold_traditional_characters() {
        assert_eq!(name_match_key("陳偉"), name_match_key("陈伟"));
        assert_eq!(name_match_key("張 三"), "张三");
        assert_eq!(name_match_key("阿依古丽•买买提"), "阿依古丽买买提");
        assert_ne!(name_match_key("陈伟"), name_match_key("陈伟强"));
    }

    #[test]
    fn normalizers_refuse_invalid_values() {
        assert_eq!(Normalizer::Name.apply("  "), None);
        assert_eq!(Normalizer::ResidentId.apply("12345"), None);
        assert_eq!(Normalizer::Mobile.apply("12345"), None);
    }
}
