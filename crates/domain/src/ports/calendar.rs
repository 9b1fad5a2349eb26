//! The calendar ports: [`CalendarProvider`] (an OAuth 2 calendar service such as Google
//! Calendar, spoken to with an access token), [`CalendarConnectionRepository`] (where an
//! organisation's connection and its tokens are kept), and [`Calendar`], the organisation-scoped
//! calendar the conversation engine books through without knowing who serves it.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::RepositoryError;
use crate::ids::{OrganizationId, UserId};

/// When an event starts or ends: a moment, or a whole day (all-day events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventTime {
    At(DateTime<FixedOffset>),
    AllDay(NaiveDate),
}

impl fmt::Display for EventTime {
    /// RFC 3339 for a moment (`2024-01-15T14:00:00+00:00`), `yyyy-mm-dd` for a day.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::At(at) => f.write_str(&at.to_rfc3339()),
            Self::AllDay(day) => write!(f, "{}", day.format("%Y-%m-%d")),
        }
    }
}

/// An event of a calendar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarEvent {
    pub id: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: EventTime,
    pub end: EventTime,
    /// Attendees' e-mail addresses.
    #[serde(default)]
    pub attendees: Vec<String>,
    /// Where a person can open the event.
    pub html_link: Option<String>,
}

/// An event to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCalendarEvent {
    pub summary: String,
    pub description: Option<String>,
    pub start: DateTime<Utc>,
    /// Exclusive, after `start`.
    pub end: DateTime<Utc>,
    pub attendee_email: Option<String>,
    /// IANA name the event is shown in.
    pub time_zone: String,
}

/// A stretch of time a calendar is busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusyPeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The tokens an OAuth 2 grant gives. Its `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthTokens {
    pub access_token: String,
    /// Present after the first consent; refreshes usually give none, and the old one is kept.
    pub refresh_token: Option<String>,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
    /// The scopes granted, space-separated.
    pub scope: Option<String>,
}

impl fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// What a grant at the provider's token endpoint gives: the tokens, and how long the access
/// token lives from the moment of the answer. The instant it expires is the caller's to work
/// out ([`GrantedTokens::issued_at`]), with its own clock. Its `Debug` never shows the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct GrantedTokens {
    pub access_token: String,
    /// Present after the first consent; refreshes usually give none.
    pub refresh_token: Option<String>,
    /// How long the access token lives.
    pub expires_in: Duration,
    /// The scopes granted, space-separated.
    pub scope: Option<String>,
}

impl GrantedTokens {
    /// The tokens as kept: the access token expires `expires_in` after `now` (at `now`, so it
    /// is refreshed before use, when that instant cannot be represented).
    #[must_use]
    pub fn issued_at(self, now: DateTime<Utc>) -> OAuthTokens {
        OAuthTokens {
            access_token: self.access_token,
            refresh_token: self.refresh_token,
            expires_at: now.checked_add_signed(self.expires_in).unwrap_or(now),
            scope: self.scope,
        }
    }
}

impl fmt::Debug for GrantedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantedTokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why the calendar provider did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CalendarProviderError {
    /// The authorization code or refresh token is invalid, expired or revoked (OAuth
    /// `invalid_grant`): only a new consent helps.
    #[error("the grant is invalid, expired or revoked: {0}")]
    InvalidGrant(String),
    /// The access token was refused (401): refreshing it may help.
    #[error("the access token was refused")]
    Unauthorized,
    /// The request was refused for what it asked (a malformed event, an unknown calendar,
    /// a client the provider does not know); the message says why.
    #[error("the calendar provider refused the request: {0}")]
    Rejected(String),
    /// Unreachable, overloaded or failing, after the adapter's own retries.
    #[error("the calendar provider is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// An OAuth 2 calendar service.
///
/// Contract, for every adapter:
/// - `authorization_url` asks for offline access (a refresh token) with forced consent, for the
///   calendar scope, carrying `state` unchanged.
/// - `exchange_code` and `refresh` answer `InvalidGrant` for a code or refresh token the
///   provider no longer accepts; `refresh` may answer no refresh token (keep the old one).
/// - The calendar calls answer `Unauthorized` when the access token is refused, so the caller
///   can refresh once and retry.
/// - `list_events` answers single events (recurrences expanded) that end after `from`, soonest
///   first, at most `max`.
#[async_trait]
pub trait CalendarProvider: Send + Sync {
    /// The provider's name as stored with connections (`google`).
    fn name(&self) -> &str;

    /// Where to send the user to grant access.
    fn authorization_url(&self, state: &str) -> String;

    /// Trades an authorization code for tokens.
    ///
    /// # Errors
    /// As [`CalendarProviderError`] describes.
    async fn exchange_code(&self, code: &str) -> Result<GrantedTokens, CalendarProviderError>;

    /// A new access token for a refresh token.
    ///
    /// # Errors
    /// As [`CalendarProviderError`] describes.
    async fn refresh(&self, refresh_token: &str) -> Result<GrantedTokens, CalendarProviderError>;

    /// Upcoming events.
    ///
    /// # Errors
    /// As [`CalendarProviderError`] describes.
    async fn list_events(
        &self,
        access_token: &str,
        calendar_id: &str,
        from: DateTime<Utc>,
        max: u32,
    ) -> Result<Vec<CalendarEvent>, CalendarProviderError>;

    /// When the calendar is busy between `from` and `to`.
    ///
    /// # Errors
    /// As [`CalendarProviderError`] describes.
    async fn free_busy(
        &self,
        access_token: &str,
        calendar_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BusyPeriod>, CalendarProviderError>;

    /// Creates an event.
    ///
    /// # Errors
    /// As [`CalendarProviderError`] describes.
    async fn insert_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event: &NewCalendarEvent,
    ) -> Result<CalendarEvent, CalendarProviderError>;
}

/// Whether a connection can be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Connected,
    /// The provider revoked the grant; the user has to connect again.
    Disconnected,
}

impl ConnectionStatus {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// For a name that is neither.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "connected" => Ok(Self::Connected),
            "disconnected" => Ok(Self::Disconnected),
            other => Err(format!("unknown connection status {other:?}")),
        }
    }
}

/// An organisation's calendar connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarConnection {
    pub organization_id: OrganizationId,
    /// Who connected it.
    pub user_id: UserId,
    /// The provider's name (`google`).
    pub provider: String,
    pub tokens: OAuthTokens,
    pub status: ConnectionStatus,
    /// The calendar events are read from and booked in (`primary`).
    pub calendar_id: String,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where calendar connections are kept, one per organisation. Tokens grant access elsewhere, so
/// adapters keep them encrypted at rest; what they hand back is as saved.
#[async_trait]
pub trait CalendarConnectionRepository: Send + Sync {
    /// Saves the organisation's connection, replacing the one it had.
    ///
    /// # Errors
    /// When storage fails.
    async fn save(&self, connection: &CalendarConnection) -> Result<(), RepositoryError>;

    /// The organisation's connection, connected or not.
    ///
    /// # Errors
    /// When storage fails, or a stored token cannot be decrypted.
    async fn find(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<CalendarConnection>, RepositoryError>;

    /// Replaces the tokens after a refresh (keeping the refresh token when `tokens` has none);
    /// `false` when the organisation has no connection.
    ///
    /// # Errors
    /// When storage fails.
    async fn update_tokens(
        &self,
        organization: OrganizationId,
        tokens: &OAuthTokens,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Marks the connection disconnected; `false` when the organisation has none.
    ///
    /// # Errors
    /// When storage fails.
    async fn mark_disconnected(
        &self,
        organization: OrganizationId,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// Forgets the connection and its tokens; `false` when there was none.
    ///
    /// # Errors
    /// When storage fails.
    async fn delete(&self, organization: OrganizationId) -> Result<bool, RepositoryError>;
}

/// Why an organisation's calendar could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("no calendar is connected: connect Google Calendar first (GET /google-calendar/auth)")]
    NotConnected,
    #[error(
        "the calendar's access was revoked or has expired: connect Google Calendar again \
         (GET /google-calendar/auth)"
    )]
    Disconnected,
    /// The request itself was refused (a bad time range, a malformed address).
    #[error("{0}")]
    Rejected(String),
    #[error("the calendar is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for CalendarError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

/// An organisation's calendar, as calls use it.
///
/// Contract: `NotConnected` when the organisation has no connection, `Disconnected` once the
/// provider revoked it; access tokens are refreshed as needed, unseen by the caller.
#[async_trait]
pub trait Calendar: Send + Sync {
    /// Events that have not ended yet, soonest first, at most `max`.
    ///
    /// # Errors
    /// As [`CalendarError`] describes.
    async fn upcoming_events(
        &self,
        organization: OrganizationId,
        max: u32,
    ) -> Result<Vec<CalendarEvent>, CalendarError>;

    /// When the calendar is busy between `from` and `to`.
    ///
    /// # Errors
    /// As [`CalendarError`] describes.
    async fn busy(
        &self,
        organization: OrganizationId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BusyPeriod>, CalendarError>;

    /// Books an event.
    ///
    /// # Errors
    /// As [`CalendarError`] describes.
    async fn create_event(
        &self,
        organization: OrganizationId,
        event: &NewCalendarEvent,
    ) -> Result<CalendarEvent, CalendarError>;
}
