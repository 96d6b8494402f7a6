//! The `[views.<subscriber>]` tables of the config file.

use std::collections::BTreeMap;

use govhub_connect::SecretRef;
use serde::{Deserialize, Serialize};

/// One subscriber's view: the kinds it receives and, per kind, what it sees of each
/// field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    /// Key of the HMAC behind `hash`: `${ENV_VAR}` (a literal works but `govhub check`
    /// warns). Required when any field is hashed. Every view has its own, so hashes of
    /// one view cannot be joined with another's.
    #[serde(default)]
    pub hash_key: Option<SecretRef>,
    /// Per record kind (`health.encounter`), what the subscriber sees of it. A kind not
    /// listed is not shared with the subscriber at all.
    #[serde(default)]
    pub kinds: BTreeMap<String, KindView>,
}

/// What a subscriber sees of one record kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindView {
    /// What fields not listed in `fields` get: `drop` (the default) or `share`.
    #[serde(default)]
    pub default: DefaultAction,
    /// JSON pointer of a field of the kind's canonical record (`/patient/name`) → its
    /// action. A pointer's action applies to everything under it unless a longer
    /// pointer says otherwise.
    #[serde(default)]
    pub fields: BTreeMap<String, Action>,
}

/// What a field not listed gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    /// Left out of the view.
    #[default]
    Drop,
    /// Passed on as it is.
    Share,
}

/// What happens to one field in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Passed on as it is.
    Share,
    /// Partly hidden by the masking rule of the field's kind (resident ID, phone, name,
    /// other text); a value that is not a string is left out.
    Mask,
    /// Replaced by the view's keyed hash of the value: equal values give equal hashes
    /// within one view.
    Hash,
    /// Left out.
    Drop,
}

impl Action {
    /// The action's name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Share => "share",
            Action::Mask => "mask",
            Action::Hash => "hash",
            Action::Drop => "drop",
        }
    }
}
