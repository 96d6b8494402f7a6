//! A synthetic population: residents living in households, with realistic Chinese
//! names, resident IDs consistent with their birth date, sex and division code, and
//! mobile numbers. Everything is derived from a seed; nobody in it exists.
//!
//! Any resident or household is generated on its own in constant time, so a population
//! of millions costs little memory: residents are laid out in blocks of 25 consecutive
//! indices, each block split into ten households whose sizes (1, 1, 2, 2, 2, 2, 3, 3, 4,
//! 5: 2.5 on average, close to China's census figure) are shuffled per block. Members
//! of a household are consecutive; the first is the head. Fixed block contents keep
//! "the j-th child" or "the household of resident i" O(1) while the order still looks
//! random.
//!
//! Resident IDs are unique: drawn at random, two residents with the same division and
//! birth date would now and then draw the same sequence number too (at a million
//! residents, about 1,400 IDs would be shared), so [`Population::new`] looks at
//! every resident's ID once and keeps a small table of the sequence numbers that replace
//! the drawn ones of the later resident of each such pair.

pub(crate) mod names;
pub mod places;

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

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
///
/// Cloning is cheap: the table of replaced sequence numbers is shared.
#[derive(Clone)]
pub struct Population {
    /// Seed of every generated value.
    pub seed: u64,
    /// Number of residents; indices `0..size`.
    pub size: u64,
    /// `(index, sequence)` sorted by index: the sequence numbers that replace drawn ones
    /// so that no two residents of `0..size` share an ID. It may hold entries for indices
    /// from `size` on (a table built for a larger population of the same seed, of which
    /// this one is the beginning); those are not used.
    sequences: Sequences,
}

impl std::fmt::Debug for Population {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Population")
            .field("seed", &self.seed)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The table is a function of seed and size, so they say whether two are equal.
impl PartialEq for Population {
    fn eq(&self, other: &Population) -> bool {
        (self.seed, self.size) == (other.seed, other.size)
    }
}

impl Eq for Population {}

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
const TAG_SEQUENCE: u64 = 0x5345_5155;

/// `(index, sequence)` sorted by index: sequence numbers replacing drawn ones.
type Sequences = Arc<[(u64, u16)]>;

/// Residents whose IDs [`Population::new`] makes unique: indices below 2^32 (a table
/// entry packs an index into 32 bits; a population that large would take hours to scan).
const UNIQUE_BELOW: u64 = 1 << 32;
/// Tables [`Population::new`] keeps for reuse.
const TABLES_KEPT: usize = 4;

/// Recently built tables `(seed, residents covered, table)`, newest last, so that a
/// population built again for the same seed, or for fewer residents of it (the education
/// registry, which knows only the seed and its student count, builds the beginning of
/// the departments' population), reuses the table instead of scanning again. A table is
/// a pure function of seed and size, so this changes no result, only the time taken.
static TABLES: Mutex<Vec<(u64, u64, Sequences)>> = Mutex::new(Vec::new());

/// What all members of a household share, drawn once per household.
struct Traits {
    /// Index of `place` in [`PLACES`].
    place_index: usize,
    place: &'static Place,
    minority: bool,
    head_sex: Sex,
    head_year: i32,
    spouse_year: i32,
    head_surname: &'static str,
    spouse_surname: &'static str,
    registered_on: NaiveDate,
}

/// A resident as drawn, before any text is made of it: every draw of
/// [`Population::resident`] up to the sequence number, in the same order, without the
/// allocations, so that [`Population::new`] can look at every resident's ID cheaply.
struct Drawn {
    household: u64,
    slot: u64,
    role: Role,
    sex: Sex,
    birth_date: NaiveDate,
    minority: bool,
    /// Surname and one or two given-name characters (`""` for none), or for a minority
    /// name its given and family parts.
    name: [&'static str; 3],
    /// Index in [`PLACES`] of the division in the ID.
    division: usize,
    /// The drawn sequence number (`0..1000`, odd for men).
    sequence: u16,
    /// The generator after the sequence number, for the phone.
    rng: SplitMix64,
}

impl Drawn {
    /// The drawn ID as a number that two residents share exactly when their IDs'
    /// division, birth date and sequence are the same: `(group, sequence)` as
    /// `group * 1000 + sequence`, where a group is a division and a birth date.
    /// Below 2^32 for up to 64 places.
    fn id_key(&self) -> u64 {
        let epoch = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
        // Birth years are 1906 to 2019: the clamp never applies, and would only put more
        // residents in one group (more checking, never a missed pair) if it did.
        let day = (self.birth_date - epoch).num_days().clamp(0, 0xFFFF) as u64;
        ((self.division as u64) << 16 | day) * 1000 + u64::from(self.sequence)
    }
}

const _: () = assert!(PLACES.len() <= 64, "Drawn::id_key packs a place in 6 bits");

/// A mobile number drawn from `rng`.
pub(crate) fn draw_phone(rng: &mut SplitMix64) -> String {
    format!(
        "1{}{:09}",
        rng.pick(&[3, 5, 7, 8, 9]),
        rng.below(1_000_000_000)
    )
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

/// `values` sorted by their upper 32 bits, keeping the order of equal ones: a radix sort
/// in two passes of 16 bits, several times faster than a comparison sort of millions.
fn sort_by_upper_half(values: Vec<u64>) -> Vec<u64> {
    let mut from = values;
    let mut to = vec![0; from.len()];
    for shift in [32, 48] {
        let digit = |v: u64| (v >> shift & 0xFFFF) as usize;
        let mut starts = vec![0; 1 << 16];
        for &v in &from {
            starts[digit(v)] += 1;
        }
        let mut at = 0;
        for start in &mut starts {
            (*start, at) = (at, at + *start);
        }
        for &v in &from {
            let d = digit(v);
            to[starts[d]] = v;
            starts[d] += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
    from
}

/// The table of [`Population::new`] for residents `0..size` of `seed`: `(index,
/// sequence)` sorted by index, for each resident whose drawn ID a resident with a lower
/// index drew already.
fn unique_sequences(seed: u64, size: u64) -> Vec<(u64, u16)> {
    let population = Population::unbounded(seed);
    // Every resident's drawn ID and index in one number, household by household.
    let mut drawn: Vec<u64> = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    for block in 0..size.div_ceil(BLOCK) {
        let mut first = block * BLOCK;
        for (i, members) in population.layout(block).into_iter().enumerate() {
            let household = block * BLOCK_HOUSEHOLDS + i as u64;
            let traits = population.traits(household, members);
            for slot in 0..members.min(size.saturating_sub(first)) {
                let index = first + slot;
                let resident = population.draw_member(index, household, members, slot, &traits);
                drawn.push(resident.id_key() << 32 | index);
            }
            first += members;
        }
    }
    let drawn = sort_by_upper_half(drawn);
    let id = |packed: u64| packed >> 32;
    let index = |packed: u64| packed & 0xFFFF_FFFF;
    // The groups (division and birth date) in which two residents drew the same ID.
    let mut groups: Vec<u64> = Vec::new();
    for pair in drawn.windows(2) {
        let group = id(pair[0]) / 1000;
        if id(pair[0]) == id(pair[1]) && groups.last() != Some(&group) {
            groups.push(group);
        }
    }
    let mut sequences = Vec::new();
    for group in groups {
        let from = drawn.partition_point(|&p| id(p) < group * 1000);
        let to = drawn.partition_point(|&p| id(p) < (group + 1) * 1000);
        let mut members: Vec<(u64, u16)> = drawn[from..to]
            .iter()
            .map(|&p| (index(p), (id(p) % 1000) as u16))
            .collect();
        members.sort_unstable();
        // In index order, each takes its drawn sequence if no one before took it, else
        // a free one of the same parity from a point of its own.
        let mut taken = [false; 1000];
        for (index, sequence) in members {
            let mut given = sequence;
            if taken[usize::from(sequence)] {
                let start = hash(&[seed, TAG_SEQUENCE, index]) % 500;
                let free = (0..500)
                    .map(|k| ((start + k) % 500 * 2) as u16 + sequence % 2)
                    .find(|&s| !taken[usize::from(s)]);
                // 500 of one sex born on one day in one division: never at any size
                // that can be scanned, but then the ID stays shared.
                if let Some(free) = free {
                    given = free;
                    sequences.push((index, free));
                }
            }
            taken[usize::from(given)] = true;
        }
    }
    sequences.sort_unstable();
    sequences
}

impl Population {
    /// `size` residents from `seed`, no two of them with the same resident ID.
    ///
    /// Building looks at every resident's ID once, in time proportional to `size` (about
    /// 0.1 s per million residents in a release build, several times that in a debug
    /// one) and 16 bytes per resident while it runs; what it keeps is a table of the
    /// replaced sequence numbers (about 1,400 at a million residents, 36,000 at five
    /// million), reused when the same seed is built again for as many residents or
    /// fewer. After that, [`Population::resident`] is as cheap as ever.
    ///
    /// Of two residents whose drawn IDs are the same, the one with the lower index keeps
    /// it; the other gets a free sequence number of the same parity (sex) in the same
    /// division and birth date. That choice only looks at lower indices, so a population
    /// is the beginning of every larger one of the same seed: `new(seed, n).resident(i)`
    /// is `new(seed, m).resident(i)` for every `i < n <= m`. IDs are unique among
    /// indices below 2^32; residents from `size` on are as in
    /// [`Population::unbounded`].
    pub fn new(seed: u64, size: u64) -> Population {
        let covered = size.min(UNIQUE_BELOW);
        let mut tables = TABLES.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = tables
            .iter()
            .position(|&(s, c, _)| s == seed && c >= covered);
        let sequences = match kept {
            Some(at) => {
                let entry = tables.remove(at);
                let sequences = Arc::clone(&entry.2);
                tables.push(entry);
                sequences
            }
            None => {
                // Built outside the lock: others may use their own tables meanwhile.
                drop(tables);
                let built: Sequences = unique_sequences(seed, covered).into();
                tables = TABLES.lock().unwrap_or_else(PoisonError::into_inner);
                tables.retain(|&(s, c, _)| !(s == seed && c <= covered));
                if tables.len() >= TABLES_KEPT {
                    tables.remove(0);
                }
                tables.push((seed, covered, Arc::clone(&built)));
                built
            }
        };
        Population {
            seed,
            size,
            sequences,
        }
    }

    /// A population without an end, for simulators sized by their own record count.
    /// Built in constant time, so it guarantees less than [`Population::new`]: residents
    /// are as deterministic and their IDs as valid and consistent, but each ID is the
    /// drawn one, and now and then two residents share it (about 1,400 IDs among the
    /// first million residents). `unbounded(seed).resident(i)` is
    /// `new(seed, n).resident(i)` but for those few whose sequence number `new` replaced.
    pub fn unbounded(seed: u64) -> Population {
        Population {
            seed,
            size: u64::MAX,
            sequences: Arc::new([]),
        }
    }

    /// The sequence number replacing resident `index`'s drawn one, if any.
    fn replaced_sequence(&self, index: u64) -> Option<u16> {
        if index >= self.size || self.sequences.is_empty() {
            return None;
        }
        self.sequences
            .binary_search_by_key(&index, |&(i, _)| i)
            .ok()
            .map(|at| self.sequences[at].1)
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
        let place_index = if minority {
            places::MINORITY_PLACE
        } else {
            rng.below(PLACES.len() as u64) as usize
        };
        let place = &PLACES[place_index];
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
            place_index,
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

    /// Resident `index` as drawn.
    fn draw(&self, index: u64) -> Drawn {
        let (household, _, size, slot) = self.locate(index);
        let t = self.traits(household, size);
        self.draw_member(index, household, size, slot, &t)
    }

    /// Resident `index`, member `slot` of household `household` of `size` with traits
    /// `t`, as drawn.
    fn draw_member(&self, index: u64, household: u64, size: u64, slot: u64, t: &Traits) -> Drawn {
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
            [
                *rng.pick(names::MINORITY_GIVEN),
                *rng.pick(names::MINORITY_FAMILY),
                "",
            ]
        } else {
            let mut name = [family, "", ""];
            for part in name.iter_mut().skip(1).take(1 + rng.below(2) as usize) {
                *part = rng.pick::<&str>(names::GIVEN);
            }
            name
        };
        // Adults were often born, and got their ID, somewhere else.
        let division = if role == Role::Child || rng.chance(0.8) {
            t.place_index
        } else {
            rng.below(PLACES.len() as u64) as usize
        };
        // Sequence: two free digits, then a third whose parity encodes the sex.
        let parity = rng.below(5) * 2 + u64::from(sex == Sex::Male);
        let sequence = (rng.below(100) * 10 + parity) as u16;
        Drawn {
            household,
            slot,
            role,
            sex,
            birth_date,
            minority: t.minority,
            name,
            division,
            sequence,
            rng,
        }
    }

    /// The resident at `index`; the same seed and index always give the same resident.
    /// Defined for any index: `size` only bounds enumeration (and the IDs made unique).
    pub fn resident(&self, index: u64) -> Resident {
        let Drawn {
            household,
            slot,
            role,
            sex,
            birth_date,
            minority,
            name,
            division,
            sequence,
            mut rng,
        } = self.draw(index);
        let name = if minority {
            format!("{}·{}", name[0], name[1])
        } else {
            name.concat()
        };
        let division = PLACES[division].code;
        let sequence = self.replaced_sequence(index).unwrap_or(sequence);
        let first17 = format!(
            "{division}{:04}{:02}{:02}{sequence:03}",
            birth_date.year(),
            birth_date.month(),
            birth_date.day()
        );
        let check = resident_id::check_char(&first17).unwrap_or('0');
        // Registers record a parent's number for minors, so a family shares a phone:
        // a real trap for matching on phone numbers.
        let phone = match role {
            Role::Child => draw_phone(&mut self.draw(index - slot).rng),
            _ => draw_phone(&mut rng),
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
            ethnicity: if minority { "维吾尔族" } else { "汉族" },
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
    fn no_two_residents_share_an_id_and_smaller_populations_are_the_beginning() {
        let size = 300_000;
        let population = Population::new(9, size);
        let mut ids = Vec::with_capacity(size as usize);
        for i in 0..size {
            let r = population.resident(i);
            assert!(resident_id::is_valid(&r.resident_id), "{i}");
            assert_eq!(resident_id::birth_date(&r.resident_id), Some(r.birth_date));
            assert_eq!(&r.resident_id[..6], r.division);
            assert_eq!(r.resident_id.as_bytes()[16] % 2 == 1, r.sex == Sex::Male);
            ids.push(r.resident_id);
        }
        let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let shared = sorted.windows(2).filter(|w| w[0] == w[1]).count();
        assert_eq!(shared, 0, "IDs shared by two residents");

        // Drawn at random, a few hundred would have been shared: the table replaced the
        // sequence of the later resident of each pair, and nothing else.
        let drawn = Population::unbounded(9);
        let table = &population.sequences;
        assert!((100..1000).contains(&table.len()), "{}", table.len());
        for &(i, sequence) in table.iter() {
            let (r, d) = (population.resident(i), drawn.resident(i));
            assert_eq!(r.resident_id[14..17], format!("{sequence:03}"));
            assert_ne!(r.resident_id, d.resident_id);
            assert_eq!(r.resident_id[..14], d.resident_id[..14]);
            assert_eq!(
                r.resident_id.as_bytes()[16] % 2,
                d.resident_id.as_bytes()[16] % 2,
                "same sex"
            );
            let d = Resident {
                resident_id: r.resident_id.clone(),
                ..d
            };
            assert_eq!(r, d, "only the ID changes");
            if r.role == Role::Child {
                let head = population.household(r.household).members.start;
                assert_eq!(r.phone, population.resident(head).phone);
            }
        }
        for i in (0..size).step_by(15) {
            if table.binary_search_by_key(&i, |&(i, _)| i).is_err() {
                assert_eq!(drawn.resident(i).resident_id, ids[i as usize]);
            }
        }

        // Built again, the table is the same; for fewer residents, its beginning.
        let fewer = unique_sequences(9, 100_000);
        let beginning: Vec<(u64, u16)> = table
            .iter()
            .copied()
            .take_while(|&(i, _)| i < 100_000)
            .collect();
        assert_eq!(fewer, beginning);
        assert!(!fewer.is_empty());
        let smaller = Population::new(9, 100_000);
        for &(i, _) in &fewer {
            assert_eq!(smaller.resident(i).resident_id, ids[i as usize]);
        }
        // Residents beyond the population's size are as drawn.
        let &(last, _) = table.last().unwrap_or(&(0, 0));
        assert_eq!(
            smaller.resident(last).resident_id,
            drawn.resident(last).resident_id
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
        // Without the ID table, whose building is proportional to the size by design
        // (tested above): a resident, a household and the counts need nothing else.
        let population = Population {
            size: 5_000_000,
            ..Population::unbounded(1)
        };
        let r = population.resident(4_999_999);
        assert!(resident_id::is_valid(&r.resident_id));
        let household = population.household(r.household);
        assert!(household.members.contains(&4_999_999));
        assert_eq!(household.members.end, 5_000_000);
        assert_eq!(population.households(), 2_000_000);
    }
}
