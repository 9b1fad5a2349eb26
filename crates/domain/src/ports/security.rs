//! Ports for credentials: password hashing and signed access tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Password, PasswordHash};
use crate::ids::{OrganizationId, SessionId, UserId};

/// Hashes and checks passwords.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password with a fresh salt into a PHC string.
    ///
    /// # Errors
    /// Fails only when the hasher itself fails (never for a valid `Password`).
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash>;

    /// Checks a password against a stored hash. With `None` it checks against a built-in dummy
    /// hash and answers `false`, spending the same time, so an unknown account cannot be told
    /// from a wrong password by timing.
    ///
    /// # Errors
    /// Fails when the stored hash cannot be parsed.
    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> anyhow::Result<bool>;
}

/// What a valid access token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub session_id: SessionId,
    pub is_admin: bool,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why an access token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessTokenError {
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
}

/// Signs and reads short-lived access tokens.
pub trait AccessTokens: Send + Sync {
    /// Signs the claims into a bearer token.
    ///
    /// # Errors
    /// Fails only when signing itself fails.
    fn issue(&self, claims: &AccessClaims) -> anyhow::Result<String>;

    /// Checks the signature and decodes the claims. It does not judge expiry: the caller compares
    /// `expires_at` with its own clock, so time is decided in one place.
    ///
    /// # Errors
    /// `Invalid` for anything malformed, tampered with or signed with another key.
    fn decode(&self, token: &str) -> Result<AccessClaims, AccessTokenError>;
}
