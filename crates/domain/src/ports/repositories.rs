//! Repository ports for accounts and sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{
    DisplayName, EmailAddress, NewAccount, Organization, TimeZone, User, UserCredentials,
};
use crate::auth::{NewRefreshToken, NewSession, RefreshTokenRecord, Session, TokenDigest};
use crate::ids::{OrganizationId, RefreshTokenId, SessionId, UserId};

/// A storage failure with no meaning for the domain (connection lost, driver error).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RepositoryError(#[from] pub anyhow::Error);

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    #[error("a user with this e-mail address already exists")]
    EmailTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Users and their organisations.
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Creates the organisation and its first user atomically: both exist afterwards, or neither.
    ///
    /// # Errors
    /// `EmailTaken` when a user with the same (normalised) e-mail exists, whatever its case.
    async fn create_account(
        &self,
        account: NewAccount,
    ) -> Result<(User, Organization), CreateAccountError>;

    /// Finds a user and their password hash by e-mail.
    ///
    /// # Errors
    /// Only on storage failure; an unknown e-mail is `Ok(None)`.
    async fn find_credentials(
        &self,
        email: &EmailAddress,
    ) -> Result<Option<UserCredentials>, RepositoryError>;

    /// Finds a user by id.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_user(&self, id: UserId) -> Result<Option<User>, RepositoryError>;

    /// Finds an organisation by id.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, RepositoryError>;

    /// Renames the organisation and, when one is given, sets its time zone (`None` keeps the
    /// current zone), with `updated_at` = `at`; `false` when there is no such organisation.
    /// Nothing else about it changes.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn update_organization_profile(
        &self,
        id: OrganizationId,
        name: &DisplayName,
        time_zone: Option<&TimeZone>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;
}

/// What happened when a refresh token was exchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The old token is now used and the new one is stored.
    Rotated,
    /// The old token had already been used: nothing was stored.
    AlreadyUsed,
}

/// Login sessions and their chains of refresh tokens.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session together with its first refresh token.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn create(
        &self,
        session: NewSession,
        token: NewRefreshToken,
    ) -> Result<Session, RepositoryError>;

    /// Finds a session by id, revoked or not.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(&self, id: SessionId) -> Result<Option<Session>, RepositoryError>;

    /// Finds a refresh token by the digest of its secret, with its session.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_refresh_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(RefreshTokenRecord, Session)>, RepositoryError>;

    /// Marks `used` as used at `at` and stores `next`, atomically. Of two concurrent rotations of
    /// the same token exactly one answers `Rotated`.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn rotate(
        &self,
        used: RefreshTokenId,
        at: DateTime<Utc>,
        next: NewRefreshToken,
    ) -> Result<RotateOutcome, RepositoryError>;

    /// Revokes a session (idempotent: the first revocation's time and reason are kept).
    ///
    /// # Errors
    /// Only on storage failure.
    async fn revoke(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), RepositoryError>;
}
