//! The mistakes departments' copies of a resident really contain, applied at
//! configurable rates so identity resolution has something realistic to resolve.
//!
//! Each record's noise is a pure function of a key (department, record, person), so the
//! same record always carries the same mistakes, and [`PersonNoise`] says exactly which
//! ones, for measuring. The one exception is what a changed phone number changed to:
//! that is the person's ([`later_phone`]), so the records showing it agree.

use chrono::{Datelike, NaiveDate};

use govhub_schema::normalize::name_match_key;

use crate::SplitMix64;
use crate::population::{Resident, draw_phone, names};
use crate::rng::{hash, hash_str};

/// Domain tag of [`later_phone`]'s hash.
const TAG_LATER_PHONE: u64 = 0x4C41_5445_5250;

/// Rates (0 to 1) of each kind of noise on one person as a record carries them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// One character of the name replaced by a homophone or look-alike (张→章).
    pub similar_name: f64,
    /// The name written with traditional characters (陈→陳).
    pub traditional_name: f64,
    /// Resident ID typed with full-width digits (`１１０…`).
    pub fullwidth_id: f64,
    /// Resident ID not recorded.
    pub missing_id: f64,
    /// Legacy 15-digit ID (no century, no check character); only for people born 19xx.
    pub legacy_id: f64,
    /// Two adjacent, different digits of the ID swapped: the check character then fails.
    pub transposed_id: f64,
    /// One character of an ID recorded as it is typed wrong: the check character then
    /// fails. Only for an ID no other kind changed.
    pub mistyped_id: f64,
    /// Phone number typed with full-width digits.
    pub fullwidth_phone: f64,
    /// The person's later number ([`later_phone`]) instead of the population's: they
    /// changed numbers, and some records have the new one. Every record showing a new
    /// number shows the same one.
    pub changed_phone: f64,
    /// Birth date with day and month swapped; only possible when the day is 12 or less.
    pub swapped_birth_date: f64,
    /// Birth date on another day of the same month (a misread or mistyped day).
    pub changed_birth_day: f64,
    /// The last character of a given name of two or more left out (张建军 → 张建).
    pub dropped_name_char: f64,
    /// A given-name character added at the end (张建 → 张建军). Not for a transliterated
    /// minority name.
    pub added_name_char: f64,
    /// The name cut to the surname (刘建军 → 刘), as a form with a short name field or a
    /// clerk who stopped typing leaves it. Not for a transliterated minority name.
    pub truncated_name: f64,
}

impl Default for Noise {
    /// A few percent of each, as data-quality audits of grassroots systems report.
    fn default() -> Noise {
        Noise {
            similar_name: 0.03,
            traditional_name: 0.02,
            fullwidth_id: 0.02,
            missing_id: 0.03,
            legacy_id: 0.02,
            transposed_id: 0.01,
            mistyped_id: 0.01,
            fullwidth_phone: 0.02,
            changed_phone: 0.05,
            swapped_birth_date: 0.02,
            changed_birth_day: 0.02,
            dropped_name_char: 0.01,
            added_name_char: 0.01,
            truncated_name: 0.002,
        }
    }
}

/// What was done to a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameNoise {
    /// A homophone or look-alike character.
    Similar,
    /// Traditional characters.
    Traditional,
    /// The given name's last character left out.
    Dropped,
    /// A given-name character added at the end.
    Added,
    /// Cut to the surname.
    Truncated,
}

/// What was done to a resident ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdNoise {
    /// Full-width digits; normalization recovers the ID.
    FullWidth,
    /// Not recorded.
    Missing,
    /// Legacy 15-digit form; normalization recovers the ID.
    Legacy15,
    /// Two adjacent digits swapped; the ID is invalid.
    Transposed,
    /// One character typed wrong; the check character fails, so the ID is invalid.
    /// [`Noise::mistyped_id`], and the community registry's own
    /// [`RegistryQuirks::mistyped_id`](crate::registry::RegistryQuirks::mistyped_id).
    Mistyped,
}

/// What was done to a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneNoise {
    /// Full-width digits; normalization recovers the number.
    FullWidth,
    /// Another number than the population's: the person's [`later_phone`].
    Changed,
}

/// The noise one person in one record carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersonNoise {
    /// Name noise, if any.
    pub name: Option<NameNoise>,
    /// ID noise, if any.
    pub id: Option<IdNoise>,
    /// Phone noise, if any.
    pub phone: Option<PhoneNoise>,
    /// Whether day and month of the birth date are swapped.
    pub birth_date_swapped: bool,
    /// Whether the birth date is another day of the same month.
    pub birth_day_changed: bool,
}

impl PersonNoise {
    /// Whether the person is recorded exactly as in the population.
    pub fn is_clean(&self) -> bool {
        *self == PersonNoise::default()
    }

    /// Whether `recorded` is what this name noise makes of the resident's name `real`:
    /// the same name; the same once traditional characters are folded; another name of
    /// the same length (a homophone); `real` with its last character left out; `real`
    /// with one character added; or `real`'s surname alone. For checking a record
    /// against the population it was drawn from.
    pub fn explains_name(&self, recorded: &str, real: &str) -> bool {
        let chars = |name: &str| name.chars().count();
        match self.name {
            None => recorded == real,
            Some(NameNoise::Traditional) => name_match_key(recorded) == name_match_key(real),
            Some(NameNoise::Similar) => recorded != real,
            Some(NameNoise::Dropped) => real.starts_with(recorded) && recorded.len() < real.len(),
            Some(NameNoise::Added) => {
                recorded.starts_with(real) && chars(recorded) == chars(real) + 1
            }
            Some(NameNoise::Truncated) => {
                real.starts_with(recorded)
                    && chars(recorded) == names::surname_len(real)
                    && recorded.len() < real.len()
            }
        }
    }

    /// Whether normalizing the recorded ID gives the resident's real ID back.
    pub fn id_recoverable(&self) -> bool {
        !matches!(
            self.id,
            Some(IdNoise::Missing | IdNoise::Transposed | IdNoise::Mistyped)
        )
    }
}

/// A resident as one record carries them, noise applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoisyPerson {
    /// Name as recorded.
    pub name: String,
    /// Resident ID as recorded; `None` when missing.
    pub resident_id: Option<String>,
    /// Phone as recorded.
    pub phone: String,
    /// Birth date as recorded.
    pub birth_date: NaiveDate,
    /// What differs from the population.
    pub noise: PersonNoise,
}

/// The number a resident's records show when they carry [`PhoneNoise::Changed`]: the
/// one their number was changed to. It is derived from the population's number, so
/// every record of the person that shows a new number shows this one, and a family
/// sharing a number (children are recorded with a parent's) changed it together. Very
/// rarely the same as the old number: then no record shows a change.
pub fn later_phone(resident: &Resident) -> String {
    let mut rng = SplitMix64::new(hash(&[TAG_LATER_PHONE, hash_str(&resident.phone)]));
    draw_phone(&mut rng)
}

/// `id` with one character typed wrong: a digit of the first 17 replaced by another, or
/// the check character by another; either way the GB 11643 check character then fails.
/// As long as `id`.
pub(crate) fn mistype(id: &str, rng: &mut SplitMix64) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    let at = rng.below(chars.len() as u64) as usize;
    let Some(&was) = chars.get(at) else {
        return id.to_owned();
    };
    let alphabet: &[char] = if at + 1 == chars.len() {
        &['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X']
    } else {
        &['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
    };
    let others: Vec<char> = alphabet.iter().copied().filter(|c| *c != was).collect();
    chars[at] = *rng.pick(&others);
    chars.into_iter().collect()
}

/// ASCII digits and `X` as their full-width forms, as Chinese input methods type them.
pub(crate) fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' | 'X' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

impl Noise {
    /// No noise at all.
    pub const NONE: Noise = Noise {
        similar_name: 0.0,
        traditional_name: 0.0,
        fullwidth_id: 0.0,
        missing_id: 0.0,
        legacy_id: 0.0,
        transposed_id: 0.0,
        mistyped_id: 0.0,
        fullwidth_phone: 0.0,
        changed_phone: 0.0,
        swapped_birth_date: 0.0,
        changed_birth_day: 0.0,
        dropped_name_char: 0.0,
        added_name_char: 0.0,
        truncated_name: 0.0,
    };

    /// `resident` as a record identified by `key` carries them.
    pub fn apply(&self, resident: &Resident, key: u64) -> NoisyPerson {
        let mut rng = SplitMix64::new(key);
        let mut noise = PersonNoise::default();

        // One draw per field picks at most one kind, so rates add up per field.
        let roll = rng.next_u64();
        let mut name = resident.name.clone();
        let similar = crate::rng::unit(roll) < self.similar_name;
        let traditional =
            !similar && crate::rng::unit(roll) < self.similar_name + self.traditional_name;
        if similar {
            let candidates: Vec<usize> = name
                .char_indices()
                .filter(|(_, c)| names::similar(*c).is_some())
                .map(|(i, _)| i)
                .collect();
            if !candidates.is_empty() {
                let at = *rng.pick(&candidates);
                name = name
                    .char_indices()
                    .map(|(i, c)| {
                        if i == at {
                            names::similar(c).unwrap_or(c)
                        } else {
                            c
                        }
                    })
                    .collect();
                noise.name = Some(NameNoise::Similar);
            }
        } else if traditional {
            let converted: String = name
                .chars()
                .map(|c| names::traditional(c).unwrap_or(c))
                .collect();
            if converted != name {
                name = converted;
                noise.name = Some(NameNoise::Traditional);
            }
        }

        let u = crate::rng::unit(rng.next_u64());
        let id = &resident.resident_id;
        let mut recorded_id = Some(id.clone());
        let thresholds = [
            (self.missing_id, IdNoise::Missing),
            (self.legacy_id, IdNoise::Legacy15),
            (self.transposed_id, IdNoise::Transposed),
            (self.fullwidth_id, IdNoise::FullWidth),
        ];
        let mut acc = 0.0;
        let kind = thresholds.iter().find_map(|&(rate, kind)| {
            acc += rate;
            (u < acc).then_some(kind)
        });
        match kind {
            Some(IdNoise::Missing) => {
                recorded_id = None;
                noise.id = Some(IdNoise::Missing);
            }
            Some(IdNoise::Legacy15) if (1900..=1999).contains(&resident.birth_date.year()) => {
                recorded_id = Some(format!("{}{}", &id[..6], &id[8..17]));
                noise.id = Some(IdNoise::Legacy15);
            }
            Some(IdNoise::Transposed) => {
                let bytes = id.as_bytes();
                let pairs: Vec<usize> = (0..16).filter(|&i| bytes[i] != bytes[i + 1]).collect();
                if !pairs.is_empty() {
                    let at = *rng.pick(&pairs);
                    let mut swapped = bytes.to_vec();
                    swapped.swap(at, at + 1);
                    recorded_id = String::from_utf8(swapped).ok();
                    noise.id = Some(IdNoise::Transposed);
                }
            }
            Some(IdNoise::FullWidth) => {
                recorded_id = Some(full_width(id));
                noise.id = Some(IdNoise::FullWidth);
            }
            Some(IdNoise::Legacy15 | IdNoise::Mistyped) | None => {}
        }

        let u = crate::rng::unit(rng.next_u64());
        let mut phone = resident.phone.clone();
        if u < self.changed_phone {
            // The two draws a new number once took here, so that the kinds drawn after
            // still fall on the same records.
            rng.next_u64();
            rng.next_u64();
            phone = later_phone(resident);
            // A new number equal to the old one would be no change at all.
            if phone != resident.phone {
                noise.phone = Some(PhoneNoise::Changed);
            }
        } else if u < self.changed_phone + self.fullwidth_phone {
            phone = full_width(&phone);
            noise.phone = Some(PhoneNoise::FullWidth);
        }

        let mut birth_date = resident.birth_date;
        if rng.chance(self.swapped_birth_date)
            && birth_date.day() != birth_date.month()
            && let Some(swapped) =
                NaiveDate::from_ymd_opt(birth_date.year(), birth_date.day(), birth_date.month())
        {
            birth_date = swapped;
            noise.birth_date_swapped = true;
        }
        // Drawn after every other kind, so adding them changed no other record's noise.
        if rng.chance(self.changed_birth_day) && !noise.birth_date_swapped {
            let month_days = (28..=31)
                .rev()
                .find(|d| {
                    NaiveDate::from_ymd_opt(birth_date.year(), birth_date.month(), *d).is_some()
                })
                .unwrap_or(28);
            let other = 1 + rng.below(u64::from(month_days) - 1) as u32;
            let day = if other >= birth_date.day() {
                other + 1
            } else {
                other
            };
            if let Some(changed) =
                NaiveDate::from_ymd_opt(birth_date.year(), birth_date.month(), day)
            {
                birth_date = changed;
                noise.birth_day_changed = true;
            }
        }
        let surname = names::surname_len(&resident.name);
        if rng.chance(self.dropped_name_char)
            && noise.name.is_none()
            && !name.contains('·')
            && name.chars().count() >= surname + 2
        {
            name.pop();
            noise.name = Some(NameNoise::Dropped);
        }
        if rng.chance(self.mistyped_id) && noise.id.is_none() {
            recorded_id = Some(mistype(id, &mut rng));
            noise.id = Some(IdNoise::Mistyped);
        }
        let transliterated = name.contains('·');
        if rng.chance(self.added_name_char) && noise.name.is_none() && !transliterated {
            name.push_str(rng.pick::<&str>(names::GIVEN));
            noise.name = Some(NameNoise::Added);
        }
        if rng.chance(self.truncated_name)
            && noise.name.is_none()
            && !transliterated
            && name.chars().count() > surname
        {
            name = name.chars().take(surname).collect();
            noise.name = Some(NameNoise::Truncated);
        }

        NoisyPerson {
            name,
            resident_id: recorded_id,
            phone,
            birth_date,
            noise,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::Population;
    use govhub_schema::formats::mobile;
    use govhub_schema::formats::resident_id;

    #[test]
    fn no_noise_is_the_resident() {
        let population = Population::new(1, 100);
        for i in 0..100 {
            let r = population.resident(i);
            let p = Noise::NONE.apply(&r, i);
            assert!(p.noise.is_clean());
            assert_eq!(
                (p.name, p.resident_id, p.phone, p.birth_date),
                (r.name, Some(r.resident_id), r.phone, r.birth_date)
            );
        }
    }

    #[test]
    fn each_kind_does_what_it_says_and_normalization_undoes_the_recoverable_ones() {
        let population = Population::new(2, 20_000);
        let all = Noise {
            similar_name: 0.2,
            traditional_name: 0.2,
            fullwidth_id: 0.2,
            missing_id: 0.2,
            legacy_id: 0.2,
            transposed_id: 0.2,
            mistyped_id: 0.2,
            fullwidth_phone: 0.3,
            changed_phone: 0.3,
            swapped_birth_date: 0.3,
            changed_birth_day: 0.3,
            dropped_name_char: 0.2,
            added_name_char: 0.2,
            truncated_name: 0.2,
        };
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..20_000 {
            let r = population.resident(i);
            let p = all.apply(&r, i * 31);
            seen.insert(format!("{:?}", p.noise.name));
            seen.insert(format!("{:?}", p.noise.id));
            seen.insert(format!("{:?}", p.noise.phone));
            seen.insert(format!("swapped {}", p.noise.birth_date_swapped));
            seen.insert(format!("day changed {}", p.noise.birth_day_changed));
            let normalized = p.resident_id.as_deref().and_then(resident_id::normalize);
            match p.noise.id {
                None | Some(IdNoise::FullWidth | IdNoise::Legacy15) => {
                    assert_eq!(normalized.as_deref(), Some(r.resident_id.as_str()))
                }
                Some(IdNoise::Missing) => assert_eq!(p.resident_id, None),
                Some(IdNoise::Transposed) => assert_eq!(normalized, None, "{i}"),
                Some(IdNoise::Mistyped) => {
                    assert_eq!(normalized, None, "{i}");
                    let typed = p.resident_id.as_deref().unwrap_or_default();
                    assert_eq!(typed.len(), 18);
                    let differing = typed.chars().zip(r.resident_id.chars());
                    assert_eq!(differing.filter(|(a, b)| a != b).count(), 1);
                }
            }
            if p.noise.id == Some(IdNoise::Legacy15) {
                assert_eq!(p.resident_id.as_deref().map(str::len), Some(15));
            }
            match p.noise.name {
                None => assert_eq!(p.name, r.name),
                Some(NameNoise::Traditional) => {
                    assert_ne!(p.name, r.name);
                    assert_eq!(name_match_key(&p.name), name_match_key(&r.name));
                }
                Some(NameNoise::Similar) => {
                    assert_eq!(p.name.chars().count(), r.name.chars().count());
                    assert_ne!(name_match_key(&p.name), name_match_key(&r.name));
                }
                Some(NameNoise::Dropped) => {
                    assert_eq!(p.name.chars().count() + 1, r.name.chars().count());
                    assert!(r.name.starts_with(&p.name), "the last character left out");
                    assert!(p.name.chars().count() > names::surname_len(&r.name));
                }
                Some(NameNoise::Added) => {
                    assert_eq!(p.name.chars().count(), r.name.chars().count() + 1);
                    assert!(p.name.starts_with(&r.name), "a character added at the end");
                    assert!(!r.name.contains('·'));
                }
                Some(NameNoise::Truncated) => {
                    assert_eq!(p.name.chars().count(), names::surname_len(&r.name));
                    assert!(r.name.starts_with(&p.name), "the surname alone");
                    assert_ne!(p.name, r.name);
                }
            }
            assert!(p.noise.explains_name(&p.name, &r.name), "{i}");
            match p.noise.phone {
                None => assert_eq!(p.phone, r.phone),
                Some(PhoneNoise::FullWidth) => {
                    assert_eq!(
                        mobile::normalize(&p.phone).as_deref(),
                        Some(r.phone.as_str())
                    )
                }
                Some(PhoneNoise::Changed) => {
                    assert!(mobile::is_valid(&p.phone));
                    assert_ne!(p.phone, r.phone);
                    assert_eq!(p.phone, later_phone(&r), "the person's one new number");
                }
            }
            if p.noise.birth_date_swapped {
                assert!(r.birth_date.day() <= 12);
                assert_eq!(
                    (p.birth_date.month(), p.birth_date.day()),
                    (r.birth_date.day(), r.birth_date.month())
                );
            } else if p.noise.birth_day_changed {
                assert_eq!(
                    (p.birth_date.year(), p.birth_date.month()),
                    (r.birth_date.year(), r.birth_date.month())
                );
                assert_ne!(p.birth_date.day(), r.birth_date.day());
            } else {
                assert_eq!(p.birth_date, r.birth_date);
            }
        }
        // Every kind occurred.
        for kind in [
            "Some(Similar)",
            "Some(Traditional)",
            "Some(FullWidth)",
            "Some(Missing)",
            "Some(Legacy15)",
            "Some(Transposed)",
            "Some(Mistyped)",
            "Some(Changed)",
            "Some(Dropped)",
            "Some(Added)",
            "Some(Truncated)",
            "swapped true",
            "day changed true",
        ] {
            assert!(seen.contains(kind), "{kind} never happened");
        }
    }

    #[test]
    fn a_person_who_changed_numbers_shows_the_old_or_one_new_number() {
        let population = Population::new(3, 2000);
        let noise = Noise {
            changed_phone: 0.3,
            ..Noise::NONE
        };
        let mut changed = 0;
        for i in 0..2000 {
            let r = population.resident(i);
            let later = later_phone(&r);
            assert!(mobile::is_valid(&later));
            let shown: std::collections::BTreeSet<String> = (0..8)
                .map(|record| noise.apply(&r, hash(&[i, record])).phone)
                .collect();
            assert!(shown.iter().all(|p| *p == r.phone || *p == later), "{i}");
            changed += usize::from(shown.contains(&later));
            // A family shares its number, old and new.
            if r.role == crate::population::Role::Child {
                let head = population.household(r.household).members.start;
                assert_eq!(later, later_phone(&population.resident(head)));
            }
        }
        // Eight records at 30%: almost everyone shows the new number somewhere.
        assert!(changed > 1800, "{changed}");
    }

    #[test]
    fn the_new_kinds_leave_the_old_ones_on_the_same_records() {
        let population = Population::new(6, 3000);
        let old = Noise {
            mistyped_id: 0.0,
            added_name_char: 0.0,
            truncated_name: 0.0,
            ..Noise::default()
        };
        let new = Noise::default();
        for i in 0..3000 {
            let r = population.resident(i);
            let (a, b) = (old.apply(&r, i * 7), new.apply(&r, i * 7));
            assert_eq!((a.birth_date, &a.phone), (b.birth_date, &b.phone));
            if b.noise.id != Some(IdNoise::Mistyped) {
                assert_eq!((a.noise.id, &a.resident_id), (b.noise.id, &b.resident_id));
            }
            if !matches!(b.noise.name, Some(NameNoise::Added | NameNoise::Truncated)) {
                assert_eq!((a.noise.name, &a.name), (b.noise.name, &b.name));
            }
        }
    }

    #[test]
    fn the_same_key_gives_the_same_noise() {
        let r = Population::new(5, 10).resident(3);
        let noise = Noise::default();
        assert_eq!(noise.apply(&r, 77), noise.apply(&r, 77));
    }
}
