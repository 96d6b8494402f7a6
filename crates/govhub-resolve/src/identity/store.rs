//! The in-memory part of the identity index: every record's comparable fields packed
//! into one fixed-size slot plus a shared text arena, the blocking index as chains
//! threaded through the slots, and the lookup from source record to slot.
//!
//! Per record this costs one [`Rec`] (64 bytes), its text (name and source record id:
//! about 25 bytes; 8 bytes more for an address's key) and one entry in the record table
//! and in each blocking table; the README reports the measured bytes per resident.

use hashbrown::HashTable;
use rustc_hash::FxHashMap;

use super::compare::{Comparison, one_keystroke};
use super::features::{Features, Owned, check_passing_neighbours, hash};

/// Blocking keys: records sharing one become candidates for comparison (phone; pinyin
/// name and birth year; birth date and surname character; given name's pinyin and
/// birth date).
pub const BLOCKS: usize = 4;

/// Each blocking key's name and the comparisons it is built on (training estimates a
/// comparison's m only from the keys not built on it).
pub const BLOCK_RULES: [(&str, &[Comparison]); BLOCKS] = [
    ("phone", &[Comparison::Phone]),
    (
        "name pinyin + birth year",
        &[Comparison::Name, Comparison::BirthDate],
    ),
    (
        "birth date + surname character",
        &[Comparison::BirthDate, Comparison::Name],
    ),
    (
        "given-name pinyin + birth date",
        &[Comparison::Name, Comparison::BirthDate],
    ),
];

/// (department, connector) pairs a slot can tell apart (14 bits).
pub const MAX_SOURCES: usize = 1 << 14;

/// Marks a slot whose record was replaced by a newer version or moved.
pub const DEAD: u32 = u32::MAX;
/// End of a chain.
pub const NONE: u32 = u32::MAX;

/// One record's slot.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Cluster index, or [`DEAD`].
    pub person: u32,
    /// Next member of the same cluster.
    pub next_member: u32,
    /// Next record with the same blocking key, per key.
    pub next: [u32; BLOCKS],
    text: u32,
    /// Bytes of the name and of the source record id in the arena.
    lens: [u8; 2],
    /// Source index (upper 14 bits) and sex (lower 2): one field keeps the slot at 64
    /// bytes.
    meta: u16,
    pub birth: u32,
    pub name_key: u32,
    pub pinyin_key: u32,
    /// Fetch time, seconds since the Unix epoch.
    pub at_s: u32,
    /// The packed resident ID ([`pack_id`](super::features::pack_id)), with
    /// [`UNVERIFIED`] set when it failed its check: one field for both, since a record
    /// with a valid ID has no use for an unverified one. [`HAS_ADDRESS`] says the
    /// record's text is followed by an address key.
    ids: u64,
    /// The phone number (lower [`PHONE_BITS`] bits) and the division code (above).
    contact: u64,
}

/// Bits of [`Rec::contact`] for the phone number: 13 digits fit (a landline with its
/// area code has 12); a longer number is not used for matching.
const PHONE_BITS: u32 = 44;

/// The bit of [`Rec::ids`] that marks an unverified ID (packed IDs stay below 2^60).
const UNVERIFIED: u64 = 1 << 63;
/// The bit of [`Rec::ids`] that marks a record with an address key: only those records
/// spend its 8 bytes in the arena.
const HAS_ADDRESS: u64 = 1 << 62;
/// The bits of [`Rec::ids`] that hold the packed ID.
const ID_BITS: u64 = !(UNVERIFIED | HAS_ADDRESS);

impl Rec {
    /// Index of the record's (department, connector) in [`Store::sources`].
    pub fn source(&self) -> u16 {
        self.meta >> 2
    }

    /// 1 male, 2 female, 0 unknown.
    pub fn sex(&self) -> u8 {
        (self.meta & 3) as u8
    }

    /// The phone number as a number; 0 when none.
    pub fn phone(&self) -> u64 {
        self.contact & ((1 << PHONE_BITS) - 1)
    }

    /// The division code as a number; 0 when none.
    pub fn division(&self) -> u32 {
        (self.contact >> PHONE_BITS) as u32
    }

    /// The packed valid resident ID; 0 when none.
    pub fn id(&self) -> u64 {
        if self.ids & UNVERIFIED == 0 {
            self.ids & ID_BITS
        } else {
            0
        }
    }

    /// The packed unverified resident ID; 0 when none.
    pub fn unverified(&self) -> u64 {
        if self.ids & UNVERIFIED == 0 {
            0
        } else {
            self.ids & ID_BITS
        }
    }
}

/// The records, their text and the blocking index.
#[derive(Debug, Default)]
pub struct Store {
    pub recs: Vec<Rec>,
    arena: Vec<u8>,
    /// The latest slot of each source record, found by [`Store::key`] of its source and
    /// (capped) source record id; the table holds slots only and hashes a slot from its
    /// own text when it grows: 4 bytes an entry, not 16.
    by_key: HashTable<u32>,
    heads: [FxHashMap<u32, u32>; BLOCKS],
    /// Records with an unverified ID, by a 32-bit hash of each check-passing ID one
    /// keystroke from it (the latest such record per hash): how a record with a valid ID
    /// finds the records where it was mistyped. A hit is confirmed against the record's
    /// ID, so a hash shared by two IDs costs a lookup, never a wrong candidate.
    mistyped: FxHashMap<u32, u32>,
    /// (department, connector) of each source index.
    pub sources: Vec<(String, String)>,
}

/// The blocking keys of a record (0: the record has no such key).
pub fn block_keys(o: &Owned) -> [u32; BLOCKS] {
    let mix = |a: u64, b: u64, salt: u64| {
        let h = (a ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b;
        ((h.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 32) as u32) | 1
    };
    [
        if o.phone != 0 { mix(o.phone, 0, 1) } else { 0 },
        if o.pinyin_key != 0 && o.birth != 0 {
            mix(u64::from(o.pinyin_key), u64::from(o.birth / 10_000), 2)
        } else {
            0
        },
        if o.birth != 0 && o.initial != 0 {
            mix(u64::from(o.birth), u64::from(o.initial), 3)
        } else {
            0
        },
        if o.given_key != 0 && o.birth != 0 {
            mix(u64::from(o.given_key), u64::from(o.birth), 4)
        } else {
            0
        },
    ]
}

impl Store {
    /// Index of a (department, connector) pair, registering it on first use. Pairs past
    /// [`MAX_SOURCES`] share the last index (their records then only compare as one
    /// source's when finding a record's previous version by its source record id).
    pub fn source(&mut self, department: &str, connector: &str) -> u16 {
        if let Some(i) = self
            .sources
            .iter()
            .position(|(d, c)| d == department && c == connector)
        {
            return i as u16;
        }
        if self.sources.len() >= MAX_SOURCES {
            return (MAX_SOURCES - 1) as u16;
        }
        self.sources
            .push((department.to_owned(), connector.to_owned()));
        (self.sources.len() - 1) as u16
    }

    /// The hash of a source record in `by_key`.
    /// (Computed without allocating: it runs for every record resolved.)
    fn key(source: u16, source_record_id: &str) -> u64 {
        hash(source_record_id.as_bytes()) ^ u64::from(source).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// The live slot of a source record.
    pub fn find(&self, source: u16, source_record_id: &str) -> Option<u32> {
        let srid = cap(source_record_id);
        let (recs, arena) = (&self.recs, &self.arena);
        let slot = *self.by_key.find(Self::key(source, srid), |s| {
            is_record(recs, arena, *s, source, srid)
        })?;
        (recs[slot as usize].person != DEAD).then_some(slot)
    }

    /// Adds a record (in no cluster yet) and indexes it; returns its slot.
    pub fn insert(&mut self, source: u16, source_record_id: &str, f: &Owned, at_ms: i64) -> u32 {
        let slot = self.recs.len() as u32;
        let text = self.arena.len() as u32;
        let (name, srid) = (cap(&f.name), cap(source_record_id));
        let address = (f.address != 0).then(|| f.address.to_le_bytes());
        grow(
            &mut self.arena,
            name.len() + srid.len() + address.map_or(0, |a| a.len()),
        );
        self.arena.extend_from_slice(name.as_bytes());
        self.arena.extend_from_slice(srid.as_bytes());
        if let Some(address) = address {
            self.arena.extend_from_slice(&address);
        }
        let keys = block_keys(f);
        let mut next = [NONE; BLOCKS];
        for (b, key) in keys.iter().enumerate() {
            if *key != 0 {
                next[b] = self.heads[b].insert(*key, slot).unwrap_or(NONE);
            }
        }
        grow(&mut self.recs, 1);
        self.recs.push(Rec {
            person: NONE,
            next_member: NONE,
            next,
            text,
            lens: [name.len() as u8, srid.len() as u8],
            meta: (source << 2) | u16::from(f.sex & 3),
            birth: f.birth,
            name_key: f.name_key,
            pinyin_key: f.pinyin_key,
            at_s: u32::try_from(at_ms.div_euclid(1000)).unwrap_or(0),
            ids: if f.id != 0 {
                f.id
            } else if f.unverified != 0 {
                f.unverified | UNVERIFIED
            } else {
                0
            } | if address.is_some() { HAS_ADDRESS } else { 0 },
            contact: if f.phone < 1 << PHONE_BITS {
                f.phone
            } else {
                0
            } | u64::from(f.division) << PHONE_BITS,
        });
        let (recs, arena) = (&self.recs, &self.arena);
        let key = Self::key(source, srid);
        match self
            .by_key
            .find_mut(key, |s| is_record(recs, arena, *s, source, srid))
        {
            Some(latest) => *latest = slot,
            None => {
                self.by_key.insert_unique(key, slot, |s| {
                    Self::key(recs[*s as usize].source(), text_of(recs, arena, *s, 1))
                });
            }
        }
        if f.id == 0 && f.unverified != 0 {
            for id in check_passing_neighbours(f.unverified) {
                self.mistyped.insert(id_hash(id), slot);
            }
        }
        slot
    }

    /// The live record whose unverified ID is one keystroke from the valid `id`, if
    /// any (the latest, when there are several).
    pub fn mistyped_from(&self, id: u64) -> Option<u32> {
        let slot = *self.mistyped.get(&id_hash(id))?;
        let rec = &self.recs[slot as usize];
        (rec.person != DEAD && rec.unverified() != 0 && one_keystroke(rec.unverified(), id))
            .then_some(slot)
    }

    fn text(&self, slot: u32, part: usize) -> &str {
        text_of(&self.recs, &self.arena, slot, part)
    }

    /// The record's name.
    pub fn name(&self, slot: u32) -> &str {
        self.text(slot, 0)
    }

    /// The record's source record id.
    pub fn srid(&self, slot: u32) -> &str {
        self.text(slot, 1)
    }

    /// The record's address key; 0 when it has none.
    pub fn address(&self, slot: u32) -> u64 {
        let r = &self.recs[slot as usize];
        if r.ids & HAS_ADDRESS == 0 {
            return 0;
        }
        let at = text_start(r, 2);
        self.arena[at..at + 8]
            .try_into()
            .map_or(0, u64::from_le_bytes)
    }

    /// The comparable fields of a slot.
    pub fn features(&self, slot: u32) -> Features<'_> {
        let r = &self.recs[slot as usize];
        Features {
            name: self.text(slot, 0),
            pinyin: None,
            name_key: r.name_key,
            pinyin_key: r.pinyin_key,
            birth: r.birth,
            sex: r.sex(),
            phone: r.phone(),
            division: r.division(),
            id: r.id(),
            unverified: r.unverified(),
            address: self.address(slot),
        }
    }

    /// Live records sharing a blocking key with `keys`, at most `per_block` per key
    /// (newest first), each once, excluding `except`.
    /// Records replaced by a newer version are unlinked from the chains on the way, so
    /// a record that changes often does not crowd the others out of its blocks.
    pub fn candidates(
        &mut self,
        keys: &[u32; BLOCKS],
        per_block: usize,
        except: u32,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        for (b, key) in keys.iter().enumerate() {
            if *key == 0 {
                continue;
            }
            let mut prev = NONE;
            let mut at = self.heads[b].get(key).copied().unwrap_or(NONE);
            let mut seen = 0;
            while at != NONE && seen < per_block {
                let next = self.recs[at as usize].next[b];
                if self.recs[at as usize].person == DEAD {
                    if prev == NONE {
                        if next == NONE {
                            self.heads[b].remove(key);
                        } else {
                            self.heads[b].insert(*key, next);
                        }
                    } else {
                        self.recs[prev as usize].next[b] = next;
                    }
                } else {
                    if at != except && !out.contains(&at) {
                        out.push(at);
                    }
                    seen += 1;
                    prev = at;
                }
                at = next;
            }
        }
    }

    /// Approximate heap bytes of the index: slots, text, and hash tables (entries plus
    /// one control byte each, at their allocated capacity).
    pub fn heap_bytes(&self) -> usize {
        self.recs.capacity() * std::mem::size_of::<Rec>()
            + self.arena.capacity()
            + self.by_key.allocation_size()
            + table_bytes(&self.mistyped)
            + self.heads.iter().map(table_bytes).sum::<usize>()
    }
}

/// Text `part` (0 the name, 1 the source record id) of a slot.
fn text_of<'a>(recs: &[Rec], arena: &'a [u8], slot: u32, part: usize) -> &'a str {
    let rec = &recs[slot as usize];
    let start = text_start(rec, part);
    let end = start + usize::from(rec.lens[part]);
    // Written from &str at character boundaries, so always valid.
    std::str::from_utf8(&arena[start..end]).unwrap_or_default()
}

/// Where part `part` of a slot's text starts in the arena: 0 the name, 1 the source
/// record id, 2 the address key (after both).
fn text_start(rec: &Rec, part: usize) -> usize {
    rec.text as usize
        + rec.lens[..part]
            .iter()
            .map(|l| usize::from(*l))
            .sum::<usize>()
}

/// Whether `slot` holds (a version of) source record `srid` of `source`.
fn is_record(recs: &[Rec], arena: &[u8], slot: u32, source: u16, srid: &str) -> bool {
    recs[slot as usize].source() == source && text_of(recs, arena, slot, 1) == srid
}

/// The 32 bits of a packed ID the `mistyped` index is keyed by.
fn id_hash(id: u64) -> u32 {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

/// Text longer than a slot records (255 bytes: a name is at most 64 characters) is cut
/// at a character boundary.
fn cap(s: &str) -> &str {
    let mut end = s.len().min(usize::from(u8::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Makes room for `more` items, growing by an eighth (at least 4096) instead of
/// doubling: at millions of records, doubling leaves up to half the memory unused.
pub fn grow<T>(v: &mut Vec<T>, more: usize) {
    if v.capacity() - v.len() < more {
        v.reserve_exact((v.len() / 8).max(4096).max(more));
    }
}

/// Heap bytes of a hash table: its allocated buckets, each an entry and a control byte,
/// and one group of control bytes more. The table reports how many entries fit before
/// it grows: all buckets but one below 8 buckets, 7 in 8 from there on.
pub fn table_bytes<K, V>(table: &FxHashMap<K, V>) -> usize {
    let buckets = match table.capacity() {
        0 => return 0,
        fit @ 1..8 => fit + 1,
        fit => fit / 7 * 8,
    };
    buckets * (std::mem::size_of::<(K, V)>() + 1) + CONTROL_GROUP
}

/// Control bytes a hash table allocates past its last bucket (one SIMD group).
const CONTROL_GROUP: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    /// The count agrees with what the table implementation itself says it allocated,
    /// at every size from empty through several growths.
    #[test]
    fn table_bytes_are_the_bytes_the_table_allocated() {
        let mut counted: FxHashMap<u32, u32> = FxHashMap::default();
        let mut reference: hashbrown::HashMap<u32, u32, rustc_hash::FxBuildHasher> =
            hashbrown::HashMap::default();
        assert_eq!(table_bytes(&counted), 0);
        for key in 0..5_000u32 {
            counted.insert(key, key);
            reference.insert(key, key);
            assert_eq!(counted.capacity(), reference.capacity(), "{key}");
            assert_eq!(table_bytes(&counted), reference.allocation_size(), "{key}");
        }
    }
}
