//! Sessions and refresh tokens. A session is one sign-in; its refresh tokens form a chain in
//! which each token may be exchanged once. Only a digest of each token is stored.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ids::{OrganizationId, RefreshTokenId, SessionId, UserId};

/// Refresh tokens carry this prefix, so a leaked one is recognisable in a secret scanner.
const REFRESH_PREFIX: &str = "sbr_";

/// A refresh token's secret as handed to the client. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshSecret(String);

impl RefreshSecret {
    /// A fresh secret with 244 bits of randomness from the operating system.
    #[must_use]
    pub fn generate() -> Self {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        Self(format!(
            "{REFRESH_PREFIX}{}{}",
            hex::encode(a.as_bytes()),
            hex::encode(b.as_bytes())
        ))
    }

    /// Wraps a secret presented by a client.
    #[must_use]
    pub fn presented(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }

    /// The digest under which the token is stored.
    #[must_use]
    pub fn digest(&self) -> TokenDigest {
        TokenDigest(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The secret itself, for the response to the client only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshSecret(<redacted>)")
    }
}

/// SHA-256 of a refresh secret, hex-encoded. A high-entropy secret needs no salt or slow hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenDigest(String);

impl TokenDigest {
    /// Wraps a digest read from storage.
    #[must_use]
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A sign-in, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
}

impl Session {
    /// Whether the session still grants access.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A session to store.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub created_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
}

/// A refresh token, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: RefreshTokenId,
    pub session_id: SessionId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// A refresh token to store.
#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    pub id: RefreshTokenId,
    pub session_id: SessionId,
    pub digest: TokenDigest,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_prefixed_and_hidden() {
        let a = RefreshSecret::generate();
        let b = RefreshSecret::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(REFRESH_PREFIX));
        assert_eq!(a.expose().len(), REFRESH_PREFIX.len() + 64);
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
    }

    #[test]
    fn digest_is_stable_and_differs_from_the_secret() {
        let a = RefreshSecret::presented(" sbr_abc ");
        assert_eq!(a.digest(), RefreshSecret::presented("sbr_abc").digest());
        assert_ne!(a.digest().as_str(), a.expose());
        assert_eq!(a.digest().as_str().len(), 64);
    }
}
