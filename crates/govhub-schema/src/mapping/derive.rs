//! Facts a resident ID encodes: `derive = "birth_date"` fills a field from the ID
//! rather than from a field of its own.

use serde::{Deserialize, Serialize};

use crate::formats::resident_id;
use crate::normalize::Normalizer;

/// What to read out of a resident ID (GB 11643-1999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Derive {
    /// Digits 7–14 as `YYYY-MM-DD`.
    BirthDate,
    /// Digit 17: odd `male`, even `female`.
    Sex,
    /// Digits 1–6: the administrative division where the ID was issued.
    DivisionCode,
}

impl Derive {
    /// The fact read from `input`, normalized first as `normalize = "resident_id"`
    /// does (width fold, upper-case `X`, 15 → 18 digits); `None` if it is not a valid
    /// resident ID.
    pub fn apply(self, input: &str) -> Option<String> {
        let id = Normalizer::ResidentId.apply(input)?;
        match self {
            Derive::BirthDate => resident_id::birth_date(&id).map(super::dates::iso_date),
            Derive::Sex => resident_id::sex(&id).map(|sex| sex.as_str().to_owned()),
            Derive::DivisionCode => id.get(..6).map(str::to_owned),
        }
    }
}
