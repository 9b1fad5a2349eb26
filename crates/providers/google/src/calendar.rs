//! [`GoogleCalendar`]: the `CalendarProvider` port on Google OAuth 2 and Calendar v3
//! (PROVIDERS.md 5.2): `events.list`, `events.insert` and `freebusy.query`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;
use switchboard_domain::ports::{
    BusyPeriod, CalendarEvent, CalendarProvider, CalendarProviderError, EventTime, GrantedTokens,
    NewCalendarEvent,
};
use switchboard_provider_http::endpoint;
use url::Url;

use crate::config::{GoogleConfig, GoogleConfigError};
use crate::oauth;
use crate::transport::{Resend, Transport};

/// Google Calendar for one OAuth client.
#[derive(Clone, Debug)]
pub struct GoogleCalendar {
    config: GoogleConfig,
    transport: Transport,
    auth_endpoint: Url,
    calendars_endpoint: Url,
    free_busy_endpoint: Url,
}

impl GoogleCalendar {
    /// An adapter for the client `config` names.
    ///
    /// # Errors
    /// An empty client id or secret, a base URL that is not http(s), or an HTTP client that
    /// cannot be built.
    pub fn new(config: GoogleConfig) -> Result<Self, GoogleConfigError> {
        if config.client_id.trim().is_empty() {
            return Err(GoogleConfigError::EmptyClientId);
        }
        if config.client_secret.expose().is_empty() {
            return Err(GoogleConfigError::EmptyClientSecret);
        }
        let url = |base: &Url, path: &str| {
            endpoint(base, path).map_err(|e| GoogleConfigError::InvalidUrl(e.to_string()))
        };
        let auth_endpoint = url(&config.oauth_base_url, "/o/oauth2/v2/auth")?;
        let calendars_endpoint = url(&config.calendar_base_url, "/calendars")?;
        let free_busy_endpoint = url(&config.calendar_base_url, "/freeBusy")?;
        url(&config.token_url, "")?;
        Ok(Self {
            transport: Transport::new(&config)?,
            config,
            auth_endpoint,
            calendars_endpoint,
            free_busy_endpoint,
        })
    }

    /// `{calendar base}/calendars/{id}/events`, the id percent-encoded (ids hold `@` and `#`).
    fn events_url(&self, calendar_id: &str) -> Result<Url, CalendarProviderError> {
        let mut url = self.calendars_endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("the calendar base URL cannot have a path"))?
            .push(calendar_id)
            .push("events");
        Ok(url)
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An `EventDateTime`: `{dateTime, timeZone}` or `{date}` for all-day events.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTime {
    date_time: Option<String>,
    date: Option<String>,
}

impl WireTime {
    fn parse(&self) -> Option<EventTime> {
        if let Some(at) = &self.date_time {
            return DateTime::parse_from_rfc3339(at).ok().map(EventTime::At);
        }
        self.date
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .map(EventTime::AllDay)
    }
}

#[derive(Deserialize)]
struct WireAttendee {
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent {
    id: String,
    status: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    location: Option<String>,
    start: Option<WireTime>,
    end: Option<WireTime>,
    #[serde(default)]
    attendees: Vec<WireAttendee>,
    html_link: Option<String>,
}

impl WireEvent {
    /// The event, unless it is cancelled or its times do not parse.
    fn into_event(self) -> Option<CalendarEvent> {
        if self.status.as_deref() == Some("cancelled") {
            return None;
        }
        let start = self.start.as_ref()?.parse()?;
        let end = self.end.as_ref()?.parse()?;
        Some(CalendarEvent {
            id: self.id,
            summary: self.summary,
            description: self.description,
            location: self.location,
            start,
            end,
            attendees: self.attendees.into_iter().filter_map(|a| a.email).collect(),
            html_link: self.html_link,
        })
    }
}

#[derive(Deserialize)]
struct WireEvents {
    #[serde(default)]
    items: Vec<WireEvent>,
}

#[derive(Deserialize)]
struct WireBusy {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

#[derive(Deserialize)]
struct WireError {
    reason: Option<String>,
}

#[derive(Deserialize)]
struct WireCalendarBusy {
    #[serde(default)]
    busy: Vec<WireBusy>,
    #[serde(default)]
    errors: Vec<WireError>,
}

#[derive(Deserialize)]
struct WireFreeBusy {
    #[serde(default)]
    calendars: std::collections::HashMap<String, WireCalendarBusy>,
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[async_trait]
impl CalendarProvider for GoogleCalendar {
    fn name(&self) -> &str {
        "google"
    }

    fn authorization_url(&self, state: &str) -> String {
        oauth::authorization_url(&self.config, &self.auth_endpoint, state)
    }

    async fn exchange_code(&self, code: &str) -> Result<GrantedTokens, CalendarProviderError> {
        oauth::grant(
            &self.transport,
            &self.config,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.config.redirect_uri.as_str()),
            ],
            Resend::Never,
        )
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<GrantedTokens, CalendarProviderError> {
        oauth::grant(
            &self.transport,
            &self.config,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
            Resend::Safe,
        )
        .await
    }

    async fn list_events(
        &self,
        access_token: &str,
        calendar_id: &str,
        from: DateTime<Utc>,
        max: u32,
    ) -> Result<Vec<CalendarEvent>, CalendarProviderError> {
        let url = self.events_url(calendar_id)?;
        let max = max.to_string();
        let from = rfc3339(from);
        let query = [
            ("timeMin", from.as_str()),
            ("maxResults", max.as_str()),
            ("singleEvents", "true"),
            ("orderBy", "startTime"),
        ];
        let answer: WireEvents = self
            .transport
            .send("events.list", Resend::Safe, || {
                self.transport
                    .client()
                    .get(url.clone())
                    .query(&query)
                    .header(reqwest::header::AUTHORIZATION, bearer(access_token))
            })
            .await?;
        Ok(answer
            .items
            .into_iter()
            .filter_map(WireEvent::into_event)
            .collect())
    }

    async fn free_busy(
        &self,
        access_token: &str,
        calendar_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BusyPeriod>, CalendarProviderError> {
        let body = json!({
            "timeMin": rfc3339(from),
            "timeMax": rfc3339(to),
            "timeZone": "UTC",
            "items": [{"id": calendar_id}],
        });
        let mut answer: WireFreeBusy = self
            .transport
            .send("freebusy.query", Resend::Safe, || {
                self.transport
                    .client()
                    .post(self.free_busy_endpoint.clone())
                    .json(&body)
                    .header(reqwest::header::AUTHORIZATION, bearer(access_token))
            })
            .await?;
        let calendar = answer.calendars.remove(calendar_id).ok_or_else(|| {
            CalendarProviderError::Unexpected(anyhow::anyhow!(
                "Google's free/busy answer does not name the calendar asked about"
            ))
        })?;
        if let Some(error) = calendar.errors.first() {
            return Err(CalendarProviderError::Rejected(format!(
                "Google cannot tell when the calendar is busy: {}",
                error.reason.as_deref().unwrap_or("unknown reason")
            )));
        }
        Ok(calendar
            .busy
            .into_iter()
            .map(|b| BusyPeriod {
                start: b.start,
                end: b.end,
            })
            .collect())
    }

    async fn insert_event(
        &self,
        access_token: &str,
        calendar_id: &str,
        event: &NewCalendarEvent,
    ) -> Result<CalendarEvent, CalendarProviderError> {
        let url = self.events_url(calendar_id)?;
        let mut body = json!({
            "summary": event.summary,
            "start": {"dateTime": rfc3339(event.start), "timeZone": event.time_zone},
            "end": {"dateTime": rfc3339(event.end), "timeZone": event.time_zone},
            "reminders": {"useDefault": true},
        });
        if let Some(description) = &event.description {
            body["description"] = json!(description);
        }
        let send_updates = if let Some(email) = &event.attendee_email {
            body["attendees"] = json!([{"email": email}]);
            "all"
        } else {
            "none"
        };
        let created: WireEvent = self
            .transport
            .send("events.insert", Resend::Never, || {
                self.transport
                    .client()
                    .post(url.clone())
                    .query(&[("sendUpdates", send_updates)])
                    .json(&body)
                    .header(reqwest::header::AUTHORIZATION, bearer(access_token))
            })
            .await?;
        created.into_event().ok_or_else(|| {
            CalendarProviderError::Unexpected(anyhow::anyhow!(
                "Google's answer to events.insert has no usable start and end"
            ))
        })
    }
}
