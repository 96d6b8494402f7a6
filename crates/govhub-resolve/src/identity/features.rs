//! Observations reduced to what comparisons and blocking need, in a few machine words.

use super::address::address_key;
use super::name::pinyin;
use super::observation::{Observation, Sex, unverified_digits};

/// The comparable parts of one record. Strings borrow from the resolver's arena (or
/// from an observation being resolved).
#[derive(Debug, Clone, Copy, Default)]
pub struct Features<'a> {
    /// Name as recorded (normalized); empty when absent.
    pub name: &'a str,
    /// Toneless pinyin of the folded name, when at hand (stored records keep only the
    /// name: their pinyin is worked out again in the rare comparison that needs it).
    pub pinyin: Option<&'a str>,
    /// Hash of the folded name (traditional → simplified); 0 when absent.
    pub name_key: u32,
    /// Hash of the pinyin; 0 when absent.
    pub pinyin_key: u32,
    /// Birth date as `yyyymmdd`; 0 when absent.
    pub birth: u32,
    /// 1 male, 2 female, 0 unknown.
    pub sex: u8,
    /// Mobile number as a number; 0 when absent.
    pub phone: u64,
    /// Division code as a number; 0 when absent.
    pub division: u32,
    /// Resident ID packed into a number ([`pack_id`]); 0 when absent.
    pub id: u64,
    /// Unverified resident ID (failed its check) packed the same way; 0 when absent or
    /// when the record has a valid one.
    pub unverified: u64,
    /// The address's key ([`address_key`]); 0 when absent.
    pub address: u64,
}

/// Owned strings behind [`Features`] of an observation being resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // the fields of [`Features`]
pub struct Owned {
    pub name: String,
    pub pinyin: String,
    pub name_key: u32,
    pub pinyin_key: u32,
    pub birth: u32,
    pub sex: u8,
    pub phone: u64,
    pub division: u32,
    pub id: u64,
    pub unverified: u64,
    pub address: u64,
    /// First character of the folded name (the surname's), as a number; 0 when none.
    pub initial: u32,
    /// Hash of the pinyin of the folded name after its first character (the given
    /// name's, for a one-character surname); 0 when there is none.
    pub given_key: u32,
}

impl Owned {
    /// Encodes an observation's fields.
    pub fn of(o: &Observation) -> Owned {
        let name = o.name.clone().unwrap_or_default();
        let key = govhub_schema::normalize::name_match_key(&name);
        let pinyin = pinyin(&key);
        let first = key.chars().next();
        let given = first.map_or(String::new(), |c| super::name::pinyin(&key[c.len_utf8()..]));
        Owned {
            initial: first.map_or(0, u32::from),
            given_key: if given.is_empty() { 0 } else { hash32(&given) },
            name_key: if key.is_empty() { 0 } else { hash32(&key) },
            pinyin_key: if pinyin.is_empty() {
                0
            } else {
                hash32(&pinyin)
            },
            name,
            pinyin,
            birth: o.birth_date.as_deref().map_or(0, pack_date),
            sex: match o.sex {
                Some(Sex::Male) => 1,
                Some(Sex::Female) => 2,
                None => 0,
            },
            phone: o.phone.as_deref().map_or(0, digits),
            division: o
                .division_code
                .as_deref()
                .map_or(0, |d| u32::try_from(digits(d)).unwrap_or(0)),
            id: o.resident_id.as_deref().map_or(0, pack_id),
            unverified: match &o.resident_id {
                Some(_) => 0,
                None => o
                    .resident_id_unverified
                    .as_deref()
                    .and_then(unverified_digits)
                    .map_or(0, |id| pack_id(&id)),
            },
            address: match &o.address {
                Some(text) => address_key(text),
                None => o.address_key.unwrap_or(0),
            },
        }
    }

    /// The borrowed view.
    pub fn features(&self) -> Features<'_> {
        Features {
            name: &self.name,
            pinyin: Some(&self.pinyin),
            name_key: self.name_key,
            pinyin_key: self.pinyin_key,
            birth: self.birth,
            sex: self.sex,
            phone: self.phone,
            division: self.division,
            id: self.id,
            unverified: self.unverified,
            address: self.address,
        }
    }
}

/// FNV-1a: stable across builds and platforms (these hashes only live in memory, but
/// person ids derived with it are persisted).
pub fn hash(bytes: &[u8]) -> u64 {
    hash_parts(&[bytes])
}

/// [`hash`] of the parts one after the other, without joining them first.
pub fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|part| part.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // A final mix so that keys differing only in their last bytes spread over the table.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// A 32-bit hash of a non-empty text, never 0 (0 marks an absent value).
pub fn hash32(text: &str) -> u32 {
    (hash(text.as_bytes()) as u32) | 1
}

/// The decimal digits of `s` as a number (0 when there are none or too many).
fn digits(s: &str) -> u64 {
    let mut n: u64 = 0;
    for c in s.chars() {
        let Some(d) = c.to_digit(10) else {
            continue;
        };
        n = match n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d))) {
            Some(n) => n,
            None => return 0,
        };
    }
    n
}

/// `YYYY-MM-DD` → `yyyymmdd`; 0 when malformed.
fn pack_date(s: &str) -> u32 {
    if s.len() != 10 {
        return 0;
    }
    u32::try_from(digits(s)).unwrap_or(0)
}

/// An 18-character resident ID packed losslessly into a number: the 17 digits times 11
/// plus the check character (0–9, X = 10). 0 when malformed.
pub fn pack_id(id: &str) -> u64 {
    let bytes = id.as_bytes();
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return 0;
    }
    let check = match bytes[17] {
        b @ b'0'..=b'9' => u64::from(b - b'0'),
        b'X' | b'x' => 10,
        _ => return 0,
    };
    digits(&id[..17]) * 11 + check
}

/// Every ID one keystroke from `packed` (one character changed, or two adjacent ones
/// swapped) whose check character is right: where the ID an unverified one was mistyped
/// from must be among. About one in eleven of the 179 variants passes the check.
pub fn check_passing_neighbours(packed: u64) -> Vec<u64> {
    use govhub_schema::formats::resident_id::check_value;
    let digits = id_digits(packed);
    let pack = |d: &[u8; 18]| {
        d[..17].iter().fold(0u64, |n, x| n * 10 + u64::from(*x)) * 11 + u64::from(d[17])
    };
    let passes = |d: &[u8; 18]| check_value(&d[..17]) == Some(d[17]);
    let mut out = Vec::new();
    let mut variant = digits;
    for at in 0..17 {
        for d in 0..10 {
            if d != digits[at] {
                variant[at] = d;
                if passes(&variant) {
                    out.push(pack(&variant));
                }
            }
        }
        variant[at] = digits[at];
    }
    // The check character itself mistyped: the right one for the 17 digits.
    if let Some(right) = check_value(&digits[..17]).filter(|c| *c != digits[17]) {
        let mut fixed = digits;
        fixed[17] = right;
        out.push(pack(&fixed));
    }
    for at in 0..17 {
        if digits[at] != digits[at + 1] {
            let mut swapped = digits;
            swapped.swap(at, at + 1);
            if passes(&swapped) {
                out.push(pack(&swapped));
            }
        }
    }
    out
}

/// A packed ID's 18 characters as values (the check character 10 for `X`).
pub fn id_digits(packed: u64) -> [u8; 18] {
    let mut out = [0u8; 18];
    out[17] = (packed % 11) as u8;
    let mut body = packed / 11;
    for d in out[..17].iter_mut().rev() {
        *d = (body % 10) as u8;
        body /= 10;
    }
    out
}

/// The ID [`pack_id`] packed.
pub fn unpack_id(packed: u64) -> String {
    let check = packed % 11;
    let body = packed / 11;
    let check = if check == 10 {
        'X'
    } else {
        char::from(b'0' + check as u8)
    };
    format!("{body:017}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_pack_losslessly() {
        for id in [
            "11010519491231002X",
            "110105194912310021",
            "000000000000000010",
        ] {
            assert_eq!(unpack_id(pack_id(id)), id);
        }
        assert_eq!(pack_id("12345"), 0);
        assert_eq!(pack_id("1101051949123100Z1"), 0);
    }

    #[test]
    fn a_mistyped_id_has_its_source_among_the_check_passing_neighbours() {
        const VALID: &str = "11010519491231002X";
        for typo in [
            "110105194912310021", // check character
            "11010519941231002X", // digits swapped
            "11010519491231012X", // a digit mistyped
        ] {
            let near = check_passing_neighbours(pack_id(typo));
            assert!(near.contains(&pack_id(VALID)), "{typo}");
            assert!(near.len() < 40, "{typo}: {}", near.len());
            for n in near {
                let id = unpack_id(n);
                assert_eq!(
                    govhub_schema::formats::resident_id::check_char(&id[..17]),
                    id[17..].chars().next(),
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn dates_pack() {
        assert_eq!(pack_date("1985-03-12"), 19850312);
        assert_eq!(pack_date("1985-3-12"), 0);
    }
}
