//! Credentials in connector configs.
//!
//! A config holds a [`SecretRef`]: either `${ENV_VAR}` (the whole string) or, discouraged,
//! the literal secret. [`SecretRef::resolve`] turns it into a [`Secret`] in an explicit
//! step, so that parsing a config never reads the environment and `govhub check` can
//! report every unset variable by name. Neither type ever prints the secret: `Debug` and
//! `Display` show `${VAR}` or `***`, and a literal serializes as `***`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What every printed form of a secret value shows instead of it.
const REDACTED: &str = "***";

/// The message `govhub check` shows for a secret written into the config file.
pub const LITERAL_SECRET_WARNING: &str =
    "put secrets in the environment (${VAR}), not in the config file";

/// A resolved secret value; printing it shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained outside a config (a test, a simulator's key table).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that signs or sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A secret as written in a config: `${ENV_VAR}` or a literal value.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `${NAME}`: read environment variable `NAME` when resolved. The name may be
    /// malformed; [`SecretRef::problem`] reports it.
    Env(String),
    /// The secret itself, written in the config file.
    Literal(Secret),
}

/// Why a [`SecretRef`] could not be resolved. Names the variable, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The referenced environment variable is not set.
    #[error("environment variable {var} is not set")]
    Missing {
        /// The variable's name.
        var: String,
    },
    /// The referenced environment variable is set but empty.
    #[error("environment variable {var} is empty")]
    Empty {
        /// The variable's name.
        var: String,
    },
    /// `${...}` does not contain a valid variable name.
    #[error("${{{var}}} is not a valid environment variable reference")]
    InvalidName {
        /// What was written between `${` and `}`.
        var: String,
    },
    /// The literal secret in the config is empty.
    #[error("secret is empty")]
    EmptyLiteral,
}

impl SecretRef {
    /// A reference to environment variable `var`.
    pub fn env(var: impl Into<String>) -> Self {
        SecretRef::Env(var.into())
    }

    /// A literal secret, as if written in the config.
    pub fn literal(value: impl Into<String>) -> Self {
        SecretRef::Literal(Secret::new(value))
    }

    /// Parses a config string: `${NAME}` as a whole is a reference, anything else is a
    /// literal.
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
            Some(var) => SecretRef::Env(var.to_owned()),
            None => SecretRef::literal(text),
        }
    }

    /// Whether the secret is written in the config rather than taken from the
    /// environment; `govhub check` warns with [`LITERAL_SECRET_WARNING`].
    pub fn is_literal(&self) -> bool {
        matches!(self, SecretRef::Literal(_))
    }

    /// What is wrong with this reference before any environment is consulted, if
    /// anything.
    pub fn problem(&self) -> Option<String> {
        match self {
            SecretRef::Env(var) if !is_env_name(var) => Some(format!(
                "${{{var}}} must name an environment variable (letters, digits, _; not starting with a digit)"
            )),
            SecretRef::Literal(secret) if secret.expose().is_empty() => {
                Some("must not be empty".to_owned())
            }
            SecretRef::Env(_) | SecretRef::Literal(_) => None,
        }
    }

    /// The secret, reading `${VAR}` through `env` (pass `&|v| std::env::var(v).ok()` in
    /// production, a map in tests).
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, SecretError> {
        match self {
            SecretRef::Env(var) if !is_env_name(var) => {
                Err(SecretError::InvalidName { var: var.clone() })
            }
            SecretRef::Env(var) => match env(var) {
                None => Err(SecretError::Missing { var: var.clone() }),
                Some(value) if value.is_empty() => Err(SecretError::Empty { var: var.clone() }),
                Some(value) => Ok(Secret(value)),
            },
            SecretRef::Literal(secret) if secret.expose().is_empty() => {
                Err(SecretError::EmptyLiteral)
            }
            SecretRef::Literal(secret) => Ok(secret.clone()),
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what shells accept as a variable name.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(var) => write!(f, "${{{var}}}"),
            SecretRef::Literal(_) => f.write_str(REDACTED),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({self})")
    }
}

impl Serialize for SecretRef {
    /// `${VAR}` round-trips; a literal becomes `***` because a serialized config (shown
    /// by `govhub check`, written to logs) must not carry the secret.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than `String::deserialize`: serde's type-mismatch errors
        // quote scalars (`invalid type: integer 123456`), and a numeric PIN is still a
        // secret, so every non-string answer here names no value.
        const NOT_A_STRING: &str = "must be a string: ${ENV_VAR} or the secret (quote numbers)";
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string: ${ENV_VAR} or the secret")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SecretRef, E> {
                Ok(SecretRef::parse(text))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<SecretRef, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<SecretRef, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<SecretRef, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<SecretRef, E> {
                Err(E::custom(NOT_A_STRING))
            }
            fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<SecretRef, E> {
                Err(E::custom(NOT_A_STRING))
            }
        }
        // `deserialize_any`, not `deserialize_str`: inside an internally tagged enum the
        // value is buffered, and the buffer's `deserialize_str` rejects a number with
        // serde's quoting error before our visitor is asked.
        deserializer.deserialize_any(Visitor)
    }
}
