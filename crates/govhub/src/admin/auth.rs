//! Bearer-token authentication of the admin API.
//!
//! On a loopback address the API is open: whoever can reach it is on the machine
//! already. Bound anywhere else, every route except the probes (`/healthz`, `/readyz`,
//! which orchestrators call without credentials) needs `Authorization: Bearer <token>`
//! with the token from `GOVHUB_ADMIN_TOKEN`, and starting without one is an error.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppError;

/// Environment variable holding the admin token.
pub const TOKEN_VAR: &str = "GOVHUB_ADMIN_TOKEN";

/// The token requests must present. Only a digest is kept, so comparisons take the
/// same time whatever the presented token's length and content.
#[derive(Clone)]
pub struct Token(Arc<[u8; 32]>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// A token from its text.
    pub fn new(token: &str) -> Self {
        Token(Arc::new(digest(token)))
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let presented = digest(presented);
        let difference = self
            .0
            .iter()
            .zip(presented.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Token {
    /// The token in [`TOKEN_VAR`], if it is set and not blank.
    pub fn from_env() -> Option<Token> {
        Self::configured(std::env::var(TOKEN_VAR).ok().as_deref())
    }

    /// The token `configured` names, if it is not blank.
    pub fn configured(configured: Option<&str>) -> Option<Token> {
        configured
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Token::new)
    }
}

/// Middleware: passes requests carrying the token, answers 401 to the rest.
pub async fn require(State(token): State<Token>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        Some(presented) if token.matches(presented) => next.run(request).await,
        Some(_) => AppError::Unauthorized("wrong admin token").into_response(),
        None => AppError::Unauthorized("missing Authorization: Bearer <token>").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves() {
        let token = Token::new("s3cret-token");
        assert!(token.matches("s3cret-token"));
        assert!(!token.matches("s3cret-tokem"));
        assert!(!token.matches("s3cret"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn a_blank_token_is_no_token() {
        assert!(Token::configured(None).is_none());
        assert!(Token::configured(Some("  ")).is_none());
        assert!(Token::configured(Some(" t ")).unwrap().matches("t"));
    }
}
