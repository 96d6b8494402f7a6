//! A synthetic population: residents living in households, with realistic Chinese
//! names, resident IDs consistent with their birth date, sex and division code, and
//! mobile numbers. Everything is derived from a seed; nobody in it exists.
//!
//! Any resident or household is generated on its own in constant time, so a population
//! of millions costs no memory: residents are laid out in blocks of 25 consecutive
//! indices, each block split into ten households whose sizes (1, 1, 2, 2, 2, 2, 3, 3, 4,
//! 5: 2.5 on average, close to China's census figure) are shuffled per block. Members
//! of a household are consecutive; the first is the head. Fixed block contents keep
//! "the j-th child" or "the household of resident i" O(1) while the order still looks
//! random.

pub(crate) mod names;
pub mod places;

use std::ops::Range;

use chrono::{Datelike, NaiveDate};
use govhub_schema::formats::resident_id;

use crate::SplitMix64;
use crate::rng::hash;
pub use places::{PLACES, Place, place_of};

/// Sex as recorded on the resident ID (odd sequence: male, even: female).
pub use govhub_schema::Sex;

/// A resident's place in their household.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// 户主: the first member.
    Head,
    /// 配偶 of the head.
    Spouse,
    /// 子女 of the head: always school age (born 2008–2019), so education sees them.
    Child,
    /// 父母 of the head (five-person households: father, then mother).
    Parent,
}

/// One synthetic resident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    /// Index in the population (the ground-truth identity).
    pub index: u64,
    /// Full name in Han characters, or a minority name with `·`.
    pub name: String,
    /// 18-digit resident ID.
    pub resident_id: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// County-level division code in the resident ID (where the ID was issued).
    pub division: &'static str,
    /// Mainland mobile number; a child's is the head of household's.
    pub phone: String,
    /// Index of the household the resident is registered in.
    pub household: u64,
    /// Place in that household.
    pub role: Role,
    /// Ethnic group as on the ID card (`汉族`, `维吾尔族`).
    pub ethnicity: &'static str,
}

/// One household (户): consecutive residents sharing a registered address.
#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    /// Index among all households.
    pub index: u64,
    /// Resident indices of the members, head first.
    pub members: Range<u64>,
    /// Where the household is registered.
    pub place: &'static Place,
    /// Registered address, from the province down to the room.
    pub address: String,
    /// When the household was registered (立户日期).
    pub registered_on: NaiveDate,
}

/// A population of `size` residents generated from `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    /// Seed of every generated value.
    pub seed: u64,
    /// Number of residents; indices `0..size`.
    pub size: u64,
}

/// Residents per layout block.
const BLOCK: u64 = 25;
/// Household sizes of a block before shuffling; they sum to [`BLOCK`].
const SIZES: [u64; 10] = [1, 1, 2, 2, 2, 2, 3, 3, 4, 5];
/// Households per block.
const BLOCK_HOUSEHOLDS: u64 = SIZES.len() as u64;
/// Children per block: one in each 3- and 5-person household, two in the 4-person one.
const BLOCK_CHILDREN: u64 = 5;

/// Domain tags, so the hashes of different things never coincide.
const TAG_LAYOUT: u64 = 0x4C41_594F_5554;
const TAG_HOUSEHOLD: u64 = 0x0048_4F55_5345;
const TAG_PERSON: u64 = 0x5045_5253_4F4E;
const TAG_ADDRESS: u64 = 0x4144_4452;

/// What all members of a household share, drawn once per household.
struct Traits {
    place: &'static Place,
    minority: bool,
    head_sex: Sex,
    head_year: i32,
    spouse_year: i32,
    head_surname: &'static str,
    spouse_surname: &'static str,
    registered_on: NaiveDate,
}

fn role(size: u64, slot: u64) -> Role {
    match (size, slot) {
        (_, 0) => Role::Head,
        (_, 1) => Role::Spouse,
        (5, 3 | 4) => Role::Parent,
        _ => Role::Child,
    }
}

fn random_day(rng: &mut SplitMix64, year: i32) -> NaiveDate {
    let days = if NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
        366
    } else {
        365
    };
    NaiveDate::from_yo_opt(year, 1)
        .and_then(|d| d.checked_add_days(chrono::Days::new(rng.below(days))))
        .unwrap_or_default()
}

fn surname(rng: &mut SplitMix64) -> &'static str {
    if rng.chance(0.02) {
        rng.pick::<&str>(names::COMPOUND_SURNAMES)
    } else {
        rng.pick::<&str>(names::SURNAMES)
    }
}

/// `lo..=hi` drawn uniformly (`lo <= hi`).
fn year_between(rng: &mut SplitMix64, lo: i32, hi: i32) -> i32 {
    lo + rng.below((hi - lo + 1).max(1) as u64) as i32
}

impl Population {
    /// `size` residents from `seed`.
    pub fn new(seed: u64, size: u64) -> Population {
        Population { seed, size }
    }

    /// A population without an end, for simulators sized by their own record count.
    pub fn unbounded(seed: u64) -> Population {
        Population {
            seed,
            size: u64::MAX,
        }
    }

    /// Household sizes of block `block`, in order.
    fn layout(&self, block: u64) -> [u64; 10] {
        let mut sizes = SIZES;
        let mut rng = SplitMix64::new(hash(&[self.seed, TAG_LAYOUT, block]));
        for i in (1..sizes.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            sizes.swap(i, j);
        }
        sizes
    }

    /// (household, its first resident, its full size, the resident's slot in it).
    fn locate(&self, index: u64) -> (u64, u64, u64, u64) {
        let block = index / BLOCK;
        let offset = index % BLOCK;
        let mut start = 0;
        let mut found = (block * BLOCK_HOUSEHOLDS, block * BLOCK, 1, 0);
        for (i, size) in self.layout(block).into_iter().enumerate() {
            if offset < start + size {
                found = (
                    block * BLOCK_HOUSEHOLDS + i as u64,
                    block * BLOCK + start,
                    size,
                    offset - start,
                );
                break;
            }
            start += size;
        }
        found
    }

    fn traits(&self, household: u64, size: u64) -> Traits {
        let mut rng = SplitMix64::new(hash(&[self.seed, TAG_HOUSEHOLD, household]));
        let minority = rng.chance(0.03);
        let place = if minority {
            &PLACES[places::MINORITY_PLACE]
        } else {
            rng.pick(PLACES)
        };
        let head_sex = if rng.chance(0.75) {
            Sex::Male
        } else {
            Sex::Female
        };
        let head_year = match size {
            1 => year_between(&mut rng, 1940, 2000),
            2 => year_between(&mut rng, 1945, 1998),
            // Parents of school-age children.
            _ => year_between(&mut rng, 1970, 1990),
        };
        // Husbands are on average a little older than their wives.
        let gap = rng.below(5) as i32;
        let spouse_year = match head_sex {
            Sex::Male => head_year + gap,
            Sex::Female => head_year - gap,
        };
        let head_surname = surname(&mut rng);
        let spouse_surname = surname(&mut rng);
        let registered = year_between(&mut rng, (head_year + 20).max(1985), 2023);
        Traits {
            place,
            minority,
            head_sex,
            head_year,
            spouse_year,
            head_surname,
            spouse_surname,
            registered_on: random_day(&mut rng, registered),
        }
    }

    /// The resident at `index`; the same seed and index always give the same resident.
    /// Defined for any index: `size` only bounds enumeration.
    pub fn resident(&self, index: u64) -> Resident {
        let (household, _, size, slot) = self.locate(index);
        let t = self.traits(household, size);
        let role = role(size, slot);
        let mut rng = SplitMix64::new(hash(&[self.seed, TAG_PERSON, index]));
        let sex = match role {
            Role::Head => t.head_sex,
            Role::Spouse => t.head_sex.opposite(),
            Role::Parent if slot == 3 => Sex::Male,
            Role::Parent => Sex::Female,
            Role::Child if rng.chance(0.5) => Sex::Male,
            Role::Child => Sex::Female,
        };
        let year = match role {
            Role::Head => t.head_year,
            Role::Spouse => t.spouse_year,
            Role::Child => {
                let from = (t.head_year.max(t.spouse_year) + 20).max(2008);
                year_between(&mut rng, from, 2019)
            }
            Role::Parent => t.head_year - year_between(&mut rng, 22, 34),
        };
        let birth_date = random_day(&mut rng, year);
        let father_surname = match t.head_sex {
            Sex::Male => t.head_surname,
            Sex::Female => t.spouse_surname,
        };
        let family = match role {
            Role::Head => t.head_surname,
            Role::Spouse => t.spouse_surname,
            Role::Child if rng.chance(0.9) => father_surname,
            Role::Child => match t.head_sex {
                Sex::Male => t.spouse_surname,
                Sex::Female => t.head_surname,
            },
            // The head's father passed his surname on; the mother kept hers.
            Role::Parent if sex == Sex::Male => t.head_surname,
            Role::Parent => surname(&mut rng),
        };
        let name = if t.minority {
            format!(
                "{}·{}",
                rng.pick(names::MINORITY_GIVEN),
                rng.pick(names::MINORITY_FAMILY)
            )
        } else {
            let mut name = family.to_owned();
            for _ in 0..(1 + rng.below(2)) {
                name.push_str(rng.pick::<&str>(names::GIVEN));
            }
            name
        };
        // Adults were often born, and got their ID, somewhere else.
        let division = if role == Role::Child || rng.chance(0.8) {
            t.place.code
        } else {
            rng.pick(PLACES).code
        };
        // Sequence: two free digits, then a third whose parity encodes the sex.
        let parity = rng.below(5) * 2 + u64::from(sex == Sex::Male);
        let sequence = rng.below(100) * 10 + parity;
        let first17 = format!(
            "{division}{:04}{:02}{:02}{sequence:03}",
            birth_date.year(),
            birth_date.month(),
            birth_date.day()
        );
        let check = resident_id::check_char(&first17).unwrap_or('0');
        let own_phone = format!(
            "1{}{:09}",
            rng.pick(&[3, 5, 7, 8, 9]),
            rng.below(1_000_000_000)
        );
        // Registers record a parent's number for minors, so a family shares a phone:
        // a real trap for matching on phone numbers.
        let phone = match role {
            Role::Child => self.resident(index - slot).phone,
            _ => own_phone,
        };
        Resident {
            index,
            name,
            resident_id: format!("{first17}{check}"),
            sex,
            birth_date,
            division,
            phone,
            household,
            role,
            ethnicity: if t.minority { "维吾尔族" } else { "汉族" },
        }
    }

    /// Household `index`, its members cut at the population's end.
    pub fn household(&self, index: u64) -> Household {
        let block = index / BLOCK_HOUSEHOLDS;
        let slot = (index % BLOCK_HOUSEHOLDS) as usize;
        let sizes = self.layout(block);
        let first = block * BLOCK + sizes[..slot].iter().sum::<u64>();
        let size = sizes[slot];
        let t = self.traits(index, size);
        Household {
            index,
            members: first..(first + size).min(self.size.max(first)),
            place: t.place,
            address: self.address(index, 0),
            registered_on: t.registered_on,
        }
    }

    /// The household's address after its `moves`-th move within its district (0: the
    /// registered address).
    pub fn address(&self, household: u64, moves: u64) -> String {
        let block = household / BLOCK_HOUSEHOLDS;
        let size = self.layout(block)[(household % BLOCK_HOUSEHOLDS) as usize];
        let place = self.traits(household, size).place;
        let mut rng = SplitMix64::new(hash(&[self.seed, TAG_ADDRESS, household, moves]));
        format!(
            "{}{}{}号{}栋{}单元{}{:02}室",
            place.name,
            rng.pick(places::STREETS),
            1 + rng.below(300),
            1 + rng.below(30),
            1 + rng.below(6),
            1 + rng.below(32),
            1 + rng.below(4),
        )
    }

    /// Number of households with at least one member in `0..size`.
    pub fn households(&self) -> u64 {
        let full = self.size / BLOCK;
        let rest = self.size % BLOCK;
        let mut start = 0;
        let mut partial = 0;
        for size in self.layout(full) {
            if start >= rest {
                break;
            }
            partial += 1;
            start += size;
        }
        full * BLOCK_HOUSEHOLDS + partial
    }

    /// Number of children (role [`Role::Child`]) among residents `0..size`.
    pub fn children(&self) -> u64 {
        let full = self.size / BLOCK;
        let rest = self.size % BLOCK;
        let partial = (full * BLOCK..full * BLOCK + rest)
            .filter(|&i| {
                let (_, _, size, slot) = self.locate(i);
                role(size, slot) == Role::Child
            })
            .count() as u64;
        full * BLOCK_CHILDREN + partial
    }

    /// Resident index of the `j`-th child, in population order.
    pub fn child(&self, j: u64) -> u64 {
        let block = j / BLOCK_CHILDREN;
        let mut wanted = j % BLOCK_CHILDREN;
        let mut start = block * BLOCK;
        for size in self.layout(block) {
            for slot in 0..size {
                if role(size, slot) == Role::Child {
                    if wanted == 0 {
                        return start + slot;
                    }
                    wanted -= 1;
                }
            }
            start += size;
        }
        // Unreachable: every block holds exactly BLOCK_CHILDREN children.
        block * BLOCK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residents_are_deterministic_and_their_ids_are_consistent() {
        let population = Population::new(42, 2000);
        for index in 0..2000 {
            let r = population.resident(index);
            assert_eq!(r, population.resident(index));
            assert!(resident_id::is_valid(&r.resident_id), "{index}");
            assert_eq!(resident_id::birth_date(&r.resident_id), Some(r.birth_date));
            assert_eq!(&r.resident_id[..6], r.division);
            let sex_digit = r.resident_id.as_bytes()[16] - b'0';
            assert_eq!(sex_digit % 2 == 1, r.sex == Sex::Male);
            assert_eq!(r.phone.len(), 11);
        }
        assert_ne!(
            Population::new(42, 10).resident(0),
            Population::new(43, 10).resident(0)
        );
    }

    #[test]
    fn households_partition_the_population_with_coherent_families() {
        let population = Population::new(7, 1003);
        let mut next = 0;
        for h in 0..population.households() {
            let household = population.household(h);
            assert_eq!(household.members.start, next, "household {h}");
            next = household.members.end;
            let head = population.resident(household.members.start);
            assert_eq!(head.role, Role::Head);
            for i in household.members.clone() {
                let member = population.resident(i);
                assert_eq!(member.household, h);
                if member.role == Role::Spouse {
                    assert_ne!(member.sex, head.sex);
                }
                if member.role == Role::Child {
                    assert_eq!(member.phone, head.phone);
                    assert!((2008..=2019).contains(&member.birth_date.year()));
                    assert!(member.birth_date.year() >= head.birth_date.year() + 20);
                    assert_eq!(member.division, household.place.code);
                }
                if member.role == Role::Parent {
                    assert!(member.birth_date.year() <= head.birth_date.year() - 22);
                }
            }
        }
        assert_eq!(next, 1003);
    }

    #[test]
    fn children_are_enumerable_by_index() {
        let population = Population::new(3, 1000);
        let by_scan: Vec<u64> = (0..1000)
            .filter(|&i| population.resident(i).role == Role::Child)
            .collect();
        assert_eq!(population.children(), by_scan.len() as u64);
        let by_index: Vec<u64> = (0..population.children())
            .map(|j| population.child(j))
            .collect();
        assert_eq!(by_index, by_scan);
        // A fifth of residents are school-age children.
        assert_eq!(by_scan.len(), 200);
    }

    #[test]
    fn the_last_resident_of_five_million_is_generated_alone() {
        let population = Population::new(1, 5_000_000);
        let r = population.resident(4_999_999);
        assert!(resident_id::is_valid(&r.resident_id));
        let household = population.household(r.household);
        assert!(household.members.contains(&4_999_999));
        assert_eq!(household.members.end, 5_000_000);
        assert_eq!(population.households(), 2_000_000);
    }
}
