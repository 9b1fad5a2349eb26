//! The authentication use cases.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::account::{DisplayName, EmailAddress, NewAccount, Organization, Password, User};
use crate::auth::session::{NewRefreshToken, NewSession, RefreshSecret};
use crate::ids::{OrganizationId, RefreshTokenId, SessionId, UserId};
use crate::ports::{
    AccessClaims, AccessTokens, AccountRepository, Clock, CreateAccountError, PasswordHasher,
    RepositoryError, RotateOutcome, SessionRepository,
};
use crate::validation::ValidationErrors;

/// How long tokens live.
#[derive(Clone, Copy, Debug)]
pub struct TokenPolicy {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// Where a sign-in came from, kept on the session for the user's own review.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
}

/// A sign-up form, parsed.
#[derive(Clone, Debug)]
pub struct RegisterInput {
    pub email: EmailAddress,
    pub password: Password,
    pub full_name: Option<DisplayName>,
    pub organization_name: Option<DisplayName>,
}

impl RegisterInput {
    /// Parses the raw fields, naming every invalid one.
    ///
    /// # Errors
    /// Every field that breaks its rule, at once.
    pub fn parse(
        email: &str,
        password: &str,
        full_name: Option<&str>,
        organization_name: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", EmailAddress::parse(email));
        let password = errors.check("password", Password::parse(password));
        let full_name = full_name
            .filter(|n| !n.trim().is_empty())
            .and_then(|n| errors.check("full_name", DisplayName::parse(n)));
        let organization_name = organization_name
            .filter(|n| !n.trim().is_empty())
            .and_then(|n| errors.check("organization_name", DisplayName::parse(n)));
        match (email, password) {
            (Some(email), Some(password)) if errors.is_empty() => Ok(Self {
                email,
                password,
                full_name,
                organization_name,
            }),
            _ => Err(errors),
        }
    }
}

/// Tokens handed out by register, login and refresh.
#[derive(Clone, Debug)]
pub struct Issued {
    pub user: User,
    pub session_id: SessionId,
    pub access_token: String,
    pub refresh_token: RefreshSecret,
    pub access_expires_at: DateTime<Utc>,
    pub access_ttl: Duration,
}

/// Who is calling, as established from a valid access token of a live session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub session_id: SessionId,
    pub is_admin: bool,
}

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("a user with this e-mail address already exists")]
    EmailTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a login failed. Unknown e-mail and wrong password are one variant on purpose.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("incorrect e-mail or password")]
    InvalidCredentials,
    #[error("this account is disabled")]
    Inactive,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a refresh token was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is invalid or revoked")]
    Invalid,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the refresh token was already used; the session has been revoked")]
    Reused,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why an access token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("the access token is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
    #[error("the session has been revoked")]
    Revoked,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for RegisterError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}
impl From<RepositoryError> for LoginError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}
impl From<RepositoryError> for RefreshError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}
impl From<RepositoryError> for AuthenticateError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

/// Registers, signs in, rotates and revokes.
#[derive(Clone)]
pub struct AuthService {
    accounts: Arc<dyn AccountRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn AccessTokens>,
    clock: Arc<dyn Clock>,
    policy: TokenPolicy,
}

impl AuthService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(
        accounts: Arc<dyn AccountRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn AccessTokens>,
        clock: Arc<dyn Clock>,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            accounts,
            sessions,
            hasher,
            tokens,
            clock,
            policy,
        }
    }

    /// Creates a user, the organisation they own, and a first session.
    ///
    /// # Errors
    /// `EmailTaken` when the address is registered already.
    pub async fn register(
        &self,
        input: RegisterInput,
        client: ClientInfo,
    ) -> Result<Issued, RegisterError> {
        let password_hash = self.hasher.hash(&input.password).await?;
        let organization_name = match input.organization_name {
            Some(name) => name,
            None => default_organization_name(&input.email, input.full_name.as_ref())?,
        };
        let account = NewAccount {
            user_id: UserId::new(),
            organization_id: OrganizationId::new(),
            email: input.email,
            full_name: input.full_name,
            organization_name,
            password_hash,
            created_at: self.clock.now(),
        };
        let (user, _organization) =
            self.accounts
                .create_account(account)
                .await
                .map_err(|e| match e {
                    CreateAccountError::EmailTaken => RegisterError::EmailTaken,
                    CreateAccountError::Unexpected(e) => RegisterError::Unexpected(e),
                })?;
        Ok(self.start_session(user, client).await?)
    }

    /// Checks credentials and opens a session.
    ///
    /// # Errors
    /// `InvalidCredentials` for an unknown e-mail or a wrong password alike, after the same work.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: ClientInfo,
    ) -> Result<Issued, LoginError> {
        let password = Password::for_login(password);
        let credentials = match EmailAddress::parse(email) {
            Ok(email) => self.accounts.find_credentials(&email).await?,
            Err(_) => None,
        };
        let hash = credentials.as_ref().map(|c| &c.password_hash);
        let matches = self.hasher.verify(&password, hash).await?;
        let Some(credentials) = credentials.filter(|_| matches) else {
            return Err(LoginError::InvalidCredentials);
        };
        if !credentials.user.is_active {
            return Err(LoginError::Inactive);
        }
        Ok(self.start_session(credentials.user, client).await?)
    }

    /// Exchanges a refresh token for a new pair. A token works once: presenting a used one
    /// revokes its whole session, since one of the two holders must be a thief.
    ///
    /// # Errors
    /// `Invalid`, `Expired` or `Reused` as described on [`RefreshError`].
    pub async fn refresh(&self, presented: &str) -> Result<Issued, RefreshError> {
        let secret = RefreshSecret::presented(presented);
        let Some((record, session)) = self.sessions.find_refresh_token(&secret.digest()).await?
        else {
            return Err(RefreshError::Invalid);
        };
        let now = self.clock.now();
        if !session.is_active() {
            return Err(RefreshError::Invalid);
        }
        if record.used_at.is_some() {
            self.revoke_for_reuse(session.id, now).await?;
            return Err(RefreshError::Reused);
        }
        if record.expires_at <= now {
            return Err(RefreshError::Expired);
        }
        let user = match self.accounts.find_user(session.user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(RefreshError::Invalid),
        };
        let next = RefreshSecret::generate();
        let stored = self.new_refresh_token(session.id, &next, now);
        match self.sessions.rotate(record.id, now, stored).await? {
            RotateOutcome::Rotated => Ok(self.issue(user, session.id, next, now)?),
            RotateOutcome::AlreadyUsed => {
                self.revoke_for_reuse(session.id, now).await?;
                Err(RefreshError::Reused)
            }
        }
    }

    /// Revokes the caller's session: its refresh tokens and access tokens stop working.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn logout(&self, principal: &Principal) -> Result<(), RepositoryError> {
        self.sessions
            .revoke(principal.session_id, self.clock.now(), "logout")
            .await
    }

    /// Establishes who presents an access token: valid signature, not expired, session live.
    ///
    /// # Errors
    /// `Invalid`, `Expired` or `Revoked`.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthenticateError> {
        let claims = self
            .tokens
            .decode(token)
            .map_err(|_| AuthenticateError::Invalid)?;
        if claims.expires_at <= self.clock.now() {
            return Err(AuthenticateError::Expired);
        }
        match self.sessions.find(claims.session_id).await? {
            Some(session) if session.is_active() && session.user_id == claims.user_id => {
                Ok(Principal {
                    user_id: claims.user_id,
                    organization_id: session.organization_id,
                    session_id: session.id,
                    is_admin: claims.is_admin,
                })
            }
            Some(_) => Err(AuthenticateError::Revoked),
            None => Err(AuthenticateError::Invalid),
        }
    }

    /// The caller's user record and organisation.
    ///
    /// # Errors
    /// `Invalid` when the user no longer exists.
    pub async fn current_user(
        &self,
        principal: &Principal,
    ) -> Result<(User, Organization), AuthenticateError> {
        let user = self.accounts.find_user(principal.user_id).await?;
        let organization = self
            .accounts
            .find_organization(principal.organization_id)
            .await?;
        match (user, organization) {
            (Some(user), Some(organization)) => Ok((user, organization)),
            _ => Err(AuthenticateError::Invalid),
        }
    }

    async fn start_session(&self, user: User, client: ClientInfo) -> anyhow::Result<Issued> {
        let now = self.clock.now();
        let session = NewSession {
            id: SessionId::new(),
            user_id: user.id,
            organization_id: user.organization_id,
            created_at: now,
            user_agent: client.user_agent,
            ip_address: client.ip_address,
        };
        let secret = RefreshSecret::generate();
        let token = self.new_refresh_token(session.id, &secret, now);
        let session = self.sessions.create(session, token).await?;
        self.issue(user, session.id, secret, now)
    }

    fn new_refresh_token(
        &self,
        session_id: SessionId,
        secret: &RefreshSecret,
        now: DateTime<Utc>,
    ) -> NewRefreshToken {
        NewRefreshToken {
            id: RefreshTokenId::new(),
            session_id,
            digest: secret.digest(),
            issued_at: now,
            expires_at: now + self.policy.refresh_ttl,
        }
    }

    fn issue(
        &self,
        user: User,
        session_id: SessionId,
        refresh_token: RefreshSecret,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Issued> {
        let expires_at = now + self.policy.access_ttl;
        let access_token = self.tokens.issue(&AccessClaims {
            user_id: user.id,
            organization_id: user.organization_id,
            session_id,
            is_admin: user.is_admin,
            issued_at: now,
            expires_at,
        })?;
        Ok(Issued {
            user,
            session_id,
            access_token,
            refresh_token,
            access_expires_at: expires_at,
            access_ttl: self.policy.access_ttl,
        })
    }

    async fn revoke_for_reuse(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        self.sessions
            .revoke(session, now, "refresh token reuse")
            .await
    }
}

/// "Ada's organisation" from the full name, else from the e-mail's local part.
fn default_organization_name(
    email: &EmailAddress,
    full_name: Option<&DisplayName>,
) -> anyhow::Result<DisplayName> {
    let owner = full_name.map_or_else(
        || {
            email
                .as_str()
                .split('@')
                .next()
                .unwrap_or_default()
                .to_owned()
        },
        |n| n.as_str().to_owned(),
    );
    DisplayName::parse(&format!("{owner}'s organisation"))
        .map_err(|e| anyhow::anyhow!("default organisation name: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_input_names_every_bad_field() {
        let Err(errors) = RegisterInput::parse("nope", "short", Some(" "), Some(&"x".repeat(300)))
        else {
            panic!("invalid input was accepted");
        };
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "organization_name"]);
    }

    #[test]
    fn register_input_accepts_valid_fields() {
        let input = RegisterInput::parse("Ada@Example.com", "correct horse", Some("Ada"), None);
        let input = input.ok();
        assert_eq!(
            input.as_ref().map(|i| i.email.as_str()),
            Some("ada@example.com")
        );
        assert!(input.is_some_and(|i| i.organization_name.is_none()));
    }

    #[test]
    fn default_organization_is_named_after_the_owner() -> anyhow::Result<()> {
        let email = EmailAddress::parse("grace@example.com").map_err(anyhow::Error::msg)?;
        assert_eq!(
            default_organization_name(&email, None)?.as_str(),
            "grace's organisation"
        );
        let name = DisplayName::parse("Grace Hopper").map_err(anyhow::Error::msg)?;
        assert_eq!(
            default_organization_name(&email, Some(&name))?.as_str(),
            "Grace Hopper's organisation"
        );
        Ok(())
    }
}
