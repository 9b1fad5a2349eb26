//! Calendar connections: connecting an organisation's calendar through OAuth 2, keeping its
//! access token fresh (refreshed before it expires, and once when the provider refuses it),
//! noticing when access was revoked, and the [`Calendar`] calls use to read and book.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::ids::{OrganizationId, UserId};
use crate::ports::{
    BusyPeriod, Calendar, CalendarConnection, CalendarConnectionRepository, CalendarError,
    CalendarEvent, CalendarProvider, CalendarProviderError, Clock, ConnectionStatus,
    NewCalendarEvent,
};

/// The calendar connections book in.
pub const PRIMARY_CALENDAR: &str = "primary";
/// An access token this close to expiry is refreshed before it is used, so it cannot expire on
/// the way.
const REFRESH_MARGIN_SECS: i64 = 60;
/// The most upcoming events one request may ask for.
pub const MAX_UPCOMING_EVENTS: u32 = 250;

/// Why a calendar could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The provider refused the authorization code (used, expired, or for another client).
    #[error("the authorization code was refused: {0}")]
    CodeRefused(String),
    #[error("{0}")]
    Provider(CalendarProviderError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Organisations' calendars, through one provider.
#[derive(Clone)]
pub struct CalendarService {
    provider: Arc<dyn CalendarProvider>,
    connections: Arc<dyn CalendarConnectionRepository>,
    clock: Arc<dyn Clock>,
}

fn provider_error(e: CalendarProviderError) -> CalendarError {
    match e {
        CalendarProviderError::InvalidGrant(_) | CalendarProviderError::Unauthorized => {
            CalendarError::Disconnected
        }
        CalendarProviderError::Rejected(message) => CalendarError::Rejected(message),
        CalendarProviderError::Unavailable(message) => CalendarError::Unavailable(message),
        CalendarProviderError::Unexpected(e) => CalendarError::Unexpected(e),
    }
}

impl CalendarService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(
        provider: Arc<dyn CalendarProvider>,
        connections: Arc<dyn CalendarConnectionRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            provider,
            connections,
            clock,
        }
    }

    /// Where to send a user to grant access, carrying `state` back to the callback.
    #[must_use]
    pub fn authorization_url(&self, state: &str) -> String {
        self.provider.authorization_url(state)
    }

    /// Trades the callback's authorization code for tokens and saves them as the organisation's
    /// connection (replacing any other). When the provider gives no refresh token (access was
    /// granted before), the previous connection's is kept.
    ///
    /// # Errors
    /// `CodeRefused` for a code the provider does not accept; `Provider` when it fails.
    pub async fn connect(
        &self,
        organization: OrganizationId,
        user: UserId,
        code: &str,
    ) -> Result<CalendarConnection, ConnectError> {
        let mut tokens = self
            .provider
            .exchange_code(code)
            .await
            .map_err(|e| match e {
                CalendarProviderError::InvalidGrant(message)
                | CalendarProviderError::Rejected(message) => ConnectError::CodeRefused(message),
                other => ConnectError::Provider(other),
            })?
            .issued_at(self.clock.now());
        if tokens.refresh_token.is_none() {
            let previous = self
                .connections
                .find(organization)
                .await
                .map_err(|e| ConnectError::Unexpected(e.0))?;
            tokens.refresh_token = previous.and_then(|p| p.tokens.refresh_token);
        }
        let now = self.clock.now();
        let connection = CalendarConnection {
            organization_id: organization,
            user_id: user,
            provider: self.provider.name().to_owned(),
            tokens,
            status: ConnectionStatus::Connected,
            calendar_id: PRIMARY_CALENDAR.to_owned(),
            connected_at: now,
            updated_at: now,
        };
        self.connections
            .save(&connection)
            .await
            .map_err(|e| ConnectError::Unexpected(e.0))?;
        tracing::info!(organization.id = %organization, "calendar connected");
        Ok(connection)
    }

    /// The organisation's connection, if it has one (connected or revoked).
    ///
    /// # Errors
    /// When storage fails.
    pub async fn connection(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<CalendarConnection>, CalendarError> {
        Ok(self.connections.find(organization).await?)
    }

    /// Whether the organisation has a usable connection.
    ///
    /// # Errors
    /// When storage fails.
    pub async fn is_connected(&self, organization: OrganizationId) -> Result<bool, CalendarError> {
        Ok(self
            .connection(organization)
            .await?
            .is_some_and(|c| c.status == ConnectionStatus::Connected))
    }

    /// Forgets the organisation's connection and its tokens; `false` when it had none.
    ///
    /// # Errors
    /// When storage fails.
    pub async fn disconnect(&self, organization: OrganizationId) -> Result<bool, CalendarError> {
        let removed = self.connections.delete(organization).await?;
        if removed {
            tracing::info!(organization.id = %organization, "calendar disconnected");
        }
        Ok(removed)
    }

    /// The connection to use: connected, with an access token that will not expire on the way.
    async fn usable(
        &self,
        organization: OrganizationId,
    ) -> Result<CalendarConnection, CalendarError> {
        let connection = self
            .connections
            .find(organization)
            .await?
            .ok_or(CalendarError::NotConnected)?;
        if connection.status == ConnectionStatus::Disconnected {
            return Err(CalendarError::Disconnected);
        }
        let fresh_until = self.clock.now() + Duration::seconds(REFRESH_MARGIN_SECS);
        if connection.tokens.expires_at <= fresh_until {
            return self.refreshed(connection).await;
        }
        Ok(connection)
    }

    /// The connection with a new access token; a revoked grant marks it disconnected.
    async fn refreshed(
        &self,
        mut connection: CalendarConnection,
    ) -> Result<CalendarConnection, CalendarError> {
        let organization = connection.organization_id;
        let Some(refresh_token) = connection.tokens.refresh_token.clone() else {
            self.revoked(organization, "no refresh token").await?;
            return Err(CalendarError::Disconnected);
        };
        match self.provider.refresh(&refresh_token).await {
            Ok(granted) => {
                let now = self.clock.now();
                let mut tokens = granted.issued_at(now);
                if tokens.refresh_token.is_none() {
                    tokens.refresh_token = Some(refresh_token);
                }
                self.connections
                    .update_tokens(organization, &tokens, now)
                    .await?;
                tracing::debug!(organization.id = %organization, "calendar access token refreshed");
                connection.tokens = tokens;
                connection.updated_at = now;
                Ok(connection)
            }
            Err(CalendarProviderError::InvalidGrant(reason)) => {
                self.revoked(organization, &reason).await?;
                Err(CalendarError::Disconnected)
            }
            Err(other) => Err(provider_error(other)),
        }
    }

    async fn revoked(
        &self,
        organization: OrganizationId,
        reason: &str,
    ) -> Result<(), CalendarError> {
        tracing::warn!(
            organization.id = %organization,
            reason,
            "calendar access was revoked; the connection is marked disconnected"
        );
        self.connections
            .mark_disconnected(organization, self.clock.now())
            .await?;
        Ok(())
    }

    /// Runs `call` with a fresh access token, refreshing once and retrying when the provider
    /// refuses the token anyway (revoked elsewhere, or a clock out of step).
    async fn with_access<T, F, Fut>(
        &self,
        organization: OrganizationId,
        call: F,
    ) -> Result<T, CalendarError>
    where
        F: Fn(String, String) -> Fut,
        Fut: Future<Output = Result<T, CalendarProviderError>>,
    {
        let connection = self.usable(organization).await?;
        match call(
            connection.tokens.access_token.clone(),
            connection.calendar_id.clone(),
        )
        .await
        {
            Err(CalendarProviderError::Unauthorized) => {
                let connection = self.refreshed(connection).await?;
                call(connection.tokens.access_token, connection.calendar_id)
                    .await
                    .map_err(provider_error)
            }
            other => other.map_err(provider_error),
        }
    }

    /// The current time, as the service sees it.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

#[async_trait]
impl Calendar for CalendarService {
    async fn upcoming_events(
        &self,
        organization: OrganizationId,
        max: u32,
    ) -> Result<Vec<CalendarEvent>, CalendarError> {
        let from = self.clock.now();
        let max = max.clamp(1, MAX_UPCOMING_EVENTS);
        let provider = &self.provider;
        self.with_access(organization, |token, calendar| async move {
            provider.list_events(&token, &calendar, from, max).await
        })
        .await
    }

    async fn busy(
        &self,
        organization: OrganizationId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BusyPeriod>, CalendarError> {
        if to <= from {
            return Err(CalendarError::Rejected(
                "the end of the range must come after its start".into(),
            ));
        }
        let provider = &self.provider;
        self.with_access(organization, |token, calendar| async move {
            provider.free_busy(&token, &calendar, from, to).await
        })
        .await
    }

    async fn create_event(
        &self,
        organization: OrganizationId,
        event: &NewCalendarEvent,
    ) -> Result<CalendarEvent, CalendarError> {
        if event.end <= event.start {
            return Err(CalendarError::Rejected(
                "the event must end after it starts".into(),
            ));
        }
        let provider = &self.provider;
        self.with_access(organization, |token, calendar| async move {
            provider.insert_event(&token, &calendar, event).await
        })
        .await
    }
}

#[cfg(test)]
mod tests;
