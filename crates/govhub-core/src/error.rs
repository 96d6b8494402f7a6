/// Who has to act on an error, and whether trying again can help.
///
/// Every library error in govhub maps onto one of these, so retry and reporting logic is
/// written once instead of once per connector or sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The operator's configuration or the data is wrong; retrying changes nothing.
    User,
    /// A system outside govhub (a department API, the broker) failed or refused.
    External,
    /// A bug or an environment failure inside govhub (disk, serialization).
    Internal,
}

impl ErrorClass {
    /// A short lowercase name, stable for metrics labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::User => "user",
            ErrorClass::External => "external",
            ErrorClass::Internal => "internal",
        }
    }
}

/// An error that knows its class and whether a retry may succeed.
pub trait Classified: std::error::Error {
    /// Who has to act.
    fn class(&self) -> ErrorClass;
    /// Whether the same operation may succeed if tried again later.
    fn retryable(&self) -> bool;
}

/// The error and its causes on one line, `: `-separated: many libraries' top-level
/// messages (reqwest's "error sending request") do not say what happened.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
