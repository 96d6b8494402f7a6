//! Comparison levels: how alike two records are, field by field. Each comparison puts a
//! pair into one level (or none, when either side lacks the field); the model turns
//! levels into match weights.

use std::borrow::Cow;

use super::features::{Features, id_digits};
use super::name::pinyin;

/// A field comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Name: exact; equal once traditional characters are folded; same pinyin
    /// (homophones); one character dropped or added (张建军 / 张建); similar pinyin
    /// (Jaro–Winkler ≥ 0.88); different.
    Name,
    /// Birth date: exact; day and month swapped; one digit off; same year and month,
    /// another day; same day and month, the year one off; different.
    BirthDate,
    /// Sex: same; different.
    Sex,
    /// Mobile number: same; different.
    Phone,
    /// Division code of the registered address: same county; same city (first four
    /// digits); different.
    Division,
    /// Resident IDs where at least one side failed its check (two valid IDs are never
    /// compared: the same is one person, different are two): the same digits; one
    /// digit different or two adjacent digits swapped (one keystroke); different.
    ResidentId,
    /// Address text ([`address`](super::address)): the same address once divisions,
    /// width, spacing and traditional characters are set aside; the same street,
    /// village or compound, another number (or none); different.
    Address,
}

impl Comparison {
    /// Every comparison, in the order of the model's arrays.
    pub const ALL: [Comparison; 7] = [
        Comparison::Name,
        Comparison::BirthDate,
        Comparison::Sex,
        Comparison::Phone,
        Comparison::Division,
        Comparison::ResidentId,
        Comparison::Address,
    ];

    /// Name used in the model file and in evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Name => "name",
            Comparison::BirthDate => "birth_date",
            Comparison::Sex => "sex",
            Comparison::Phone => "phone",
            Comparison::Division => "division_code",
            Comparison::ResidentId => "resident_id",
            Comparison::Address => "address",
        }
    }

    /// Names of the levels, from most to least alike.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Comparison::Name => &[
                "exact",
                "folded",
                "pinyin",
                "contained",
                "pinyin_similar",
                "different",
            ],
            Comparison::BirthDate => &[
                "exact",
                "day_month_swapped",
                "one_digit",
                "same_year_month",
                "year_off_by_one",
                "different",
            ],
            Comparison::Sex | Comparison::Phone => &["same", "different"],
            Comparison::Division => &["same", "same_city", "different"],
            Comparison::ResidentId => &["exact", "one_keystroke", "different"],
            Comparison::Address => &["same", "same_street", "different"],
        }
    }
}

/// Name levels the name's frequency adjusts (the name itself agrees).
pub const NAME_AGREES: u8 = 2;

/// Jaro–Winkler similarity of the pinyin from which names count as similar.
const PINYIN_SIMILAR: f64 = 0.88;

/// Level per comparison (in [`Comparison::ALL`] order); `None` when a side lacks it.
pub type Levels = [Option<u8>; Comparison::ALL.len()];

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
        resident_id(a, b),
        super::address::compare(a.address, b.address),
    ]
}

/// Resident IDs when one side is unverified: see [`Comparison::ResidentId`].
fn resident_id(a: &Features<'_>, b: &Features<'_>) -> Option<u8> {
    if a.unverified == 0 && b.unverified == 0 {
        return None;
    }
    let (x, y) = both(a.id | a.unverified, b.id | b.unverified)?;
    Some(if x == y {
        0
    } else if one_keystroke(x, y) {
        1
    } else {
        2
    })
}

/// Whether two packed IDs differ in exactly one character, or by two adjacent
/// characters swapped.
pub(crate) fn one_keystroke(a: u64, b: u64) -> bool {
    let (a, b) = (id_digits(a), id_digits(b));
    let differing: Vec<usize> = (0..18).filter(|&i| a[i] != b[i]).collect();
    match differing[..] {
        [_] => true,
        [i, j] => j == i + 1 && a[i] == b[j] && a[j] == b[i],
        _ => false,
    }
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
    } else if one_dropped(a.name, b.name) {
        3
    } else if strsim::jaro_winkler(&pinyin_of(a), &pinyin_of(b)) >= PINYIN_SIMILAR {
        4
    } else {
        5
    })
}

/// Whether one name is the other with one character dropped, surname kept (张建军 /
/// 张建, after folding traditional characters); the shorter keeps at least two.
fn one_dropped(a: &str, b: &str) -> bool {
    let fold = |n: &str| -> Vec<char> {
        govhub_schema::normalize::name_match_key(n)
            .chars()
            .collect()
    };
    let (a, b) = (fold(a), fold(b));
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if short.len() < 2 || long.len() != short.len() + 1 || short[0] != long[0] {
        return false;
    }
    let at = short
        .iter()
        .zip(&long)
        .position(|(x, y)| x != y)
        .unwrap_or(short.len());
    short[at..] == long[at + 1..]
}

fn pinyin_of<'a>(f: &Features<'a>) -> Cow<'a, str> {
    match f.pinyin {
        Some(p) => Cow::Borrowed(p),
        None => Cow::Owned(pinyin(&govhub_schema::normalize::name_match_key(f.name))),
    }
}

/// `yyyymmdd` dates: exact, day/month swapped, exactly one digit different, same year
/// and month, same day and month a year apart, different.
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
    Some(if differing == 1 {
        2
    } else if a / 100 == b / 100 {
        3
    } else if a % 10_000 == b % 10_000 && (a / 10_000).abs_diff(b / 10_000) == 1 {
        4
    } else {
        5
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates() {
        assert_eq!(birth_date(19850312, 19850312), Some(0));
        assert_eq!(birth_date(19850312, 19851203), Some(1));
        assert_eq!(birth_date(19850312, 19850313), Some(2));
        assert_eq!(
            birth_date(19850312, 19850327),
            Some(3),
            "another day, same month"
        );
        assert_eq!(
            birth_date(19850312, 19840312),
            Some(2),
            "a year off, one digit"
        );
        assert_eq!(
            birth_date(19800312, 19790312),
            Some(4),
            "a year off, two digits"
        );
        assert_eq!(birth_date(19850312, 19790312), Some(5), "years apart");
        assert_eq!(birth_date(19850312, 19860412), Some(5));
        assert_eq!(birth_date(0, 19860412), None);
    }

    #[test]
    fn a_dropped_or_added_character_is_contained() {
        assert!(one_dropped("张建军", "张建"));
        assert!(one_dropped("张建", "张建军"));
        assert!(one_dropped("张建军", "张军"), "from the middle");
        assert!(one_dropped("陳建軍", "陈建"), "traditional folded first");
        assert!(
            !one_dropped("张建军", "李建军"),
            "another surname is not a drop"
        );
        assert!(
            !one_dropped("张建", "张"),
            "a one-character name contains nothing"
        );
        assert!(!one_dropped("张建军", "张建国"), "same length");
        assert!(!one_dropped("张建军", "张"));
    }

    fn ids(a: &str, unverified_a: bool, b: &str, unverified_b: bool) -> Option<u8> {
        use super::super::features::pack_id;
        let side = |id: &str, unverified: bool| Features {
            id: if unverified { 0 } else { pack_id(id) },
            unverified: if unverified { pack_id(id) } else { 0 },
            ..Features::default()
        };
        resident_id(&side(a, unverified_a), &side(b, unverified_b))
    }

    #[test]
    fn an_unverified_id_one_keystroke_from_another_is_near() {
        const VALID: &str = "11010519491231002X";
        assert_eq!(ids("11010519491231002X", true, VALID, false), Some(0));
        assert_eq!(
            ids("110105194912310021", true, VALID, false),
            Some(1),
            "check character mistyped"
        );
        assert_eq!(
            ids("11010519941231002X", true, VALID, false),
            Some(1),
            "two adjacent digits swapped"
        );
        assert_eq!(
            ids("11010519491231012X", true, VALID, false),
            Some(1),
            "one digit mistyped"
        );
        assert_eq!(
            ids("11010519491231112X", true, VALID, false),
            Some(2),
            "two digits"
        );
        assert_eq!(
            ids("11010519493211002X", true, VALID, false),
            Some(2),
            "swapped two apart"
        );
        assert_eq!(
            ids("110105194912310021", true, "110105194912310021", true),
            Some(0)
        );
        assert_eq!(
            ids(VALID, false, "110105195012310027", false),
            None,
            "two valid IDs are never compared"
        );
        assert_eq!(ids(VALID, true, "", false), None);
    }

    #[test]
    fn levels_are_named() {
        for c in Comparison::ALL {
            assert!(c.levels().len() >= 2, "{}", c.as_str());
        }
    }
}
