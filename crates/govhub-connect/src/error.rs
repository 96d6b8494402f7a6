use std::time::Duration;

use govhub_core::{Classified, ErrorClass};

/// Why a poll or an ack failed. Messages name the connector and never quote record
/// contents or credentials.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The request could not be sent or no response came (connection refused, timeout).
    #[error("connector {connector}: request to {url} failed: {message}")]
    Transport {
        /// Connector name.
        connector: String,
        /// Request URL without credentials.
        url: String,
        /// What went wrong.
        message: String,
        /// Whether it timed out.
        timeout: bool,
    },
    /// The API answered with an HTTP error status.
    #[error("connector {connector}: {url} answered HTTP {status}{}", status_hint(*.status))]
    Status {
        /// Connector name.
        connector: String,
        /// Request URL without credentials.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The delay the server asked for (`Retry-After`), if any.
        retry_after: Option<Duration>,
    },
    /// The API answered with a redirect the connector does not follow (another origin,
    /// `follow_redirects = "none"`, too many in a row).
    #[error("connector {connector}: {url} answered HTTP {status}, a redirect {refusal}")]
    Redirect {
        /// Connector name.
        connector: String,
        /// The URL that answered, without credentials.
        url: String,
        /// The HTTP status (301, 302, 303, 307 or 308).
        status: u16,
        /// Why it was not followed; names origins only.
        refusal: crate::redirect::Refusal,
    },
    /// The response body is larger than `reliability.max_response_bytes`.
    #[error(
        "connector {connector}: {url} sent more than {limit} bytes (reliability.max_response_bytes)"
    )]
    TooLarge {
        /// Connector name.
        connector: String,
        /// Request URL without credentials.
        url: String,
        /// The configured limit.
        limit: u64,
    },
    /// Too many polls failed in a row: the connector pauses before trying again.
    #[error(
        "connector {connector}: circuit open after repeated failures; next try in {retry_in_secs} s"
    )]
    CircuitOpen {
        /// Connector name.
        connector: String,
        /// Seconds until a trial request is let through.
        retry_in_secs: u64,
    },
    /// The API answered 200 but its business status says it failed.
    #[error("connector {connector}: {url} reported status {code}: {message}")]
    Business {
        /// Connector name.
        connector: String,
        /// Request URL without credentials.
        url: String,
        /// The status value the API gave.
        code: String,
        /// The API's message.
        message: String,
    },
    /// The response is not the JSON shape the config describes.
    #[error("connector {connector}: {url}: {message}")]
    Envelope {
        /// Connector name.
        connector: String,
        /// Request URL without credentials.
        url: String,
        /// What is missing or malformed.
        message: String,
    },
    /// The API led the connector back to a page it already read in this sync: its
    /// cursor loops, and following it would never end.
    #[error(
        "connector {connector}: {url}: the cursor repeats after {pages} pages (the API's pagination loops); stopped this sync"
    )]
    CursorCycle {
        /// Connector name.
        connector: String,
        /// Request URL without credentials.
        url: String,
        /// Pages read in this sync.
        pages: u32,
    },
    /// One sync read `reliability.max_pages_per_sync` pages without reaching the end.
    #[error(
        "connector {connector}: {url}: {limit} pages in one sync without reaching the end (reliability.max_pages_per_sync); stopped this sync"
    )]
    PageLimit {
        /// Connector name.
        connector: String,
        /// Request URL without credentials.
        url: String,
        /// The limit.
        limit: u32,
    },
    /// The configuration cannot be built.
    #[error("connector {connector}: invalid config: {message}")]
    Config {
        /// Connector name.
        connector: String,
        /// Every problem, `field: message`, separated by `; `.
        message: String,
    },
}

/// What to check when an API refuses the request itself.
fn status_hint(status: u16) -> &'static str {
    match status {
        401 => " (credentials refused: check the connector's auth settings and secrets)",
        403 => " (access forbidden: the credentials lack permission)",
        _ => "",
    }
}

impl Classified for ConnectError {
    fn class(&self) -> ErrorClass {
        match self {
            ConnectError::Transport { .. } | ConnectError::Business { .. } => ErrorClass::External,
            ConnectError::Status { status, .. } if *status == 401 || *status == 403 => {
                ErrorClass::User
            }
            ConnectError::Status { .. }
            | ConnectError::Envelope { .. }
            | ConnectError::TooLarge { .. }
            | ConnectError::CircuitOpen { .. }
            | ConnectError::CursorCycle { .. }
            | ConnectError::PageLimit { .. } => ErrorClass::External,
            ConnectError::Redirect { refusal, .. } if refusal.is_config() => ErrorClass::User,
            ConnectError::Redirect { .. } => ErrorClass::External,
            ConnectError::Config { .. } => ErrorClass::User,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            ConnectError::Transport { .. } => true,
            ConnectError::Status { status, .. } => crate::retry::is_transient_status(*status),
            ConnectError::Envelope { .. } | ConnectError::CircuitOpen { .. } => true,
            ConnectError::TooLarge { .. }
            | ConnectError::CursorCycle { .. }
            | ConnectError::PageLimit { .. }
            | ConnectError::Redirect { .. } => false,
            ConnectError::Business { .. } | ConnectError::Config { .. } => false,
        }
    }
}
