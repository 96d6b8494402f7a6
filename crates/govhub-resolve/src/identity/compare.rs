//! Comparison levels: how alike two records are, field by field. Each comparison puts a
//! pair into one level (or none, when either side lacks the field); the model turns
//! levels into match weights.

use std::borrow::Cow;

use super::features::Features;
use super::name::pinyin;

/// A field comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Name: exact; equal once traditional characters are folded; same pinyin
    /// (homophones); similar pinyin (Jaro–Winkler ≥ 0.88); different.
    Name,
    /// Birth date: exact; day and month swapped; one digit off; different.
    BirthDate,
    /// Sex: same; different.
    Sex,
    /// Mobile number: same; different.
    Phone,
    /// Division code of the registered address: same county; same city (first four
    /// digits); different.
    Division,
}

impl Comparison {
    /// Every comparison, in the order of the model's arrays.
    pub const ALL: [Comparison; 5] = [
        Comparison::Name,
        Comparison::BirthDate,
        Comparison::Sex,
        Comparison::Phone,
        Comparison::Division,
    ];

    /// Name used in the model file and in evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Name => "name",
            Comparison::BirthDate => "birth_date",
            Comparison::Sex => "sex",
            Comparison::Phone => "phone",
            Comparison::Division => "division_code",
        }
    }

    /// Names of the levels, from most to least alike.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Comparison::Name => &["exact", "folded", "pinyin", "pinyin_similar", "different"],
            Comparison::BirthDate => &["exact", "day_month_swapped", "one_digit", "different"],
            Comparison::Sex | Comparison::Phone => &["same", "different"],
            Comparison::Division => &["same", "same_city", "different"],
        }
    }
}

/// Name levels the name's frequency adjusts (the name itself agrees).
pub const NAME_AGREES: u8 = 2;

/// Jaro–Winkler similarity of the pinyin from which names count as similar.
const PINYIN_SIMILAR: f64 = 0.88;

/// Level per comparison (in [`Comparison::ALL`] order); `None` when a side lacks it.
pub type Levels = [Option<u8>; 5];

/// Compares two records field by field.
pub fn compare(a: &Features<'_>, b: &Features<'_>) -> Levels {
    [
        name(a, b),
        birth_date(a.birth, b.birth),
        both(a.sex, b.sex).map(|(x, y)| u8::from(x != y)),
        both(a.phone, b.phone).map(|(x, y)| u8::from(x != y)),
        both(a.division, b.division).map(|(x, y)| {
            if x == y {
                0
            } else if x / 100 == y / 100 {
                1
            } else {
                2
            }
        }),
    ]
}

fn both<T: Default + PartialEq + Copy>(a: T, b: T) -> Option<(T, T)> {
    (a != T::default() && b != T::default()).then_some((a, b))
}

fn name(a: &Features<'_>, b: &Features<'_>) -> Option<u8> {
    if a.name.is_empty() || b.name.is_empty() {
        return None;
    }
    Some(if a.name == b.name {
        0
    } else if a.name_key == b.name_key {
        1
    } else if a.pinyin_key == b.pinyin_key {
        2
    } else if strsim::jaro_winkler(&pinyin_of(a), &pinyin_of(b)) >= PINYIN_SIMILAR {
        3
    } else {
        4
    })
}

fn pinyin_of<'a>(f: &Features<'a>) -> Cow<'a, str> {
    match f.pinyin {
        Some(p) => Cow::Borrowed(p),
        None => Cow::Owned(pinyin(&govhub_schema::normalize::name_match_key(f.name))),
    }
}

/// `yyyymmdd` dates: exact, day/month swapped, exactly one digit different, different.
fn birth_date(a: u32, b: u32) -> Option<u8> {
    let (a, b) = both(a, b)?;
    if a == b {
        return Some(0);
    }
    let swapped = |d: u32| (d / 10_000) * 10_000 + (d % 100) * 100 + (d / 100) % 100;
    if swapped(a) == b {
        return Some(1);
    }
    let mut differing = 0;
    let (mut x, mut y) = (a, b);
    while x > 0 || y > 0 {
        differing += u32::from(x % 10 != y % 10);
        x /= 10;
        y /= 10;
    }
    Some(if differing == 1 { 2 } else { 3 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates() {
        assert_eq!(birth_date(19850312, 19850312), Some(0));
        assert_eq!(birth_date(19850312, 19851203), Some(1));
        assert_eq!(birth_date(19850312, 19850313), Some(2));
        assert_eq!(birth_date(19850312, 19860412), Some(3));
        assert_eq!(birth_date(0, 19860412), None);
    }

    #[test]
    fn levels_are_named() {
        for c in Comparison::ALL {
            assert!(c.levels().len() >= 2, "{}", c.as_str());
        }
    }
}
