//! Sex as the standard records it (`person.v1#/$defs/sex`, GB/T 2261.1), for code that
//! handles known values: the simulator writing records, identity resolution comparing
//! them. ("unknown" is a value of the schema, not of this type: no sex is recorded.)

use serde::{Deserialize, Serialize};

/// A recorded sex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// 男
    Male,
    /// 女
    Female,
}

impl Sex {
    /// The standard's value: `male`, `female`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }

    /// GB/T 2261.1 code: `1` male, `2` female.
    pub fn gb_code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
        }
    }

    /// The Chinese word, as registers print it.
    pub fn chinese(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }

    /// The other one.
    pub fn opposite(self) -> Sex {
        match self {
            Sex::Male => Sex::Female,
            Sex::Female => Sex::Male,
        }
    }
}
