//! Google Calendar (seed 003): connecting an organisation's calendar through OAuth (`auth`, then
//! Google sends the browser to `callback`, which redirects to the frontend), its upcoming
//! `events`, the connection's `status`, and disconnecting it. Mounted under `/google-calendar`
//! and `/api/v1/google-calendar`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::calendar::{CalendarService, ConnectError, MAX_UPCOMING_EVENTS};
use switchboard_domain::ports::{Calendar as _, CalendarEvent, ConnectionStatus};
use tracing::warn;
use url::Url;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::providers::GOOGLE_SETTINGS;
use crate::security::StateOwner;
use crate::settings::Settings;
use crate::state::AppState;

/// Events listed when the client names no number.
const DEFAULT_MAX_RESULTS: u32 = 10;
/// Where the frontend shows the outcome of connecting (seed 003).
const FRONTEND_PAGE: &str = "/scheduled-meetings";

fn service(state: &AppState) -> Result<&CalendarService, ApiError> {
    state.calendar.as_ref().ok_or_else(|| {
        ApiError::ServiceUnavailable(format!(
            "Google Calendar is not configured: set {GOOGLE_SETTINGS}"
        ))
    })
}

/// Where to send the user to connect Google Calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationUrl {
    /// Google's consent page, asking for offline access to the calendar; it carries a signed
    /// `state` that expires in 10 minutes.
    pub authorization_url: String,
}

/// Seed 003: starts connecting the organisation's Google Calendar.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Send the browser to `authorization_url`", body = AuthorizationUrl),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 503, description = "Google Calendar is not configured", body = ErrorBody),
    )
)]
#[get("/auth")]
pub async fn authorize(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<AuthorizationUrl>, ApiError> {
    let calendar = service(&state)?;
    let owner = StateOwner {
        organization: user.0.organization_id,
        user: user.0.user_id,
    };
    let signed = state.oauth_states.issue(owner, calendar.now());
    Ok(web::Json(AuthorizationUrl {
        authorization_url: calendar.authorization_url(&signed),
    }))
}

/// What Google sends back to the callback.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// `access_denied` when the user declined.
    pub error: Option<String>,
}

/// The frontend page with the outcome as query parameters; without `FRONTEND_URL` there is no
/// page to go to, so a short page tells the outcome itself.
fn frontend_redirect(settings: &Settings, outcome: &[(&str, &str)]) -> HttpResponse {
    let Some(frontend) = &settings.frontend_url else {
        return outcome_page(outcome);
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(outcome)
        .finish();
    let mut page: Url = frontend.clone();
    let path = format!("{}{FRONTEND_PAGE}", page.path().trim_end_matches('/'));
    page.set_path(&path);
    page.set_query(Some(&query));
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, page.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `text` safe to put in HTML.
fn escape_html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

fn outcome_page(outcome: &[(&str, &str)]) -> HttpResponse {
    let message = outcome.iter().find(|(name, _)| *name == "message").map_or(
        "Google Calendar is connected. You can close this window.",
        |(_, m)| *m,
    );
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Google Calendar</title><p>{}</p>",
        escape_html(message)
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn failed(settings: &Settings, message: &str) -> HttpResponse {
    frontend_redirect(
        settings,
        &[
            ("error", "calendar_connection_failed"),
            ("message", message),
        ],
    )
}

/// Seed 003: where Google sends the browser after consent. Not authenticated (the browser
/// arrives from Google): the signed `state` says whose consent it is. Always redirects to the
/// frontend's `/scheduled-meetings`, with `success=true&connected=calendar` or
/// `error=calendar_connection_failed&message=...` (without `FRONTEND_URL`, a page saying so).
#[utoipa::path(
    tag = "calendar",
    params(CallbackQuery),
    responses(
        (status = 303, description = "To FRONTEND_URL/scheduled-meetings with the outcome"),
        (status = 200, description = "Without FRONTEND_URL: a page telling the outcome", content_type = "text/html"),
    )
)]
#[get("/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    query: Option<web::Query<CallbackQuery>>,
) -> HttpResponse {
    let settings = &state.settings;
    let Some(query) = query.map(web::Query::into_inner) else {
        return failed(settings, "The callback's parameters are malformed.");
    };
    let Some(calendar) = state.calendar.as_ref() else {
        return failed(
            settings,
            &format!("Google Calendar is not configured: set {GOOGLE_SETTINGS}."),
        );
    };
    let owner = match query
        .state
        .as_deref()
        .map(|s| state.oauth_states.verify(s, calendar.now()))
    {
        Some(Ok(owner)) => owner,
        Some(Err(e)) => {
            warn!(reason = %e, "calendar callback with an unusable state");
            return failed(
                settings,
                "The connection request is invalid or has expired; please connect again.",
            );
        }
        None => {
            return failed(
                settings,
                "The callback carries no state; please connect again.",
            );
        }
    };
    if let Some(error) = query.error.as_deref() {
        let message = if error == "access_denied" {
            "Access to Google Calendar was denied.".to_owned()
        } else {
            format!("Google answered {error}.")
        };
        return failed(settings, &message);
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return failed(settings, "Google sent no authorization code.");
    };
    match calendar.connect(owner.organization, owner.user, code).await {
        Ok(_) => frontend_redirect(settings, &[("success", "true"), ("connected", "calendar")]),
        Err(e) => {
            let message = match &e {
                ConnectError::CodeRefused(_) => {
                    "Google refused the authorization; please connect again."
                }
                ConnectError::Provider(_) => "Google could not be reached; please try again.",
                ConnectError::Unexpected(_) => "The connection could not be saved.",
            };
            warn!(
                error = %e,
                organization.id = %owner.organization,
                "connecting a calendar failed"
            );
            failed(settings, message)
        }
    }
}

/// `max_results` of the events list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// 1 to 250 (default 10).
    pub max_results: Option<i64>,
}

/// An event, as seed 003 shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub summary: Option<String>,
    /// RFC 3339, or `yyyy-mm-dd` for all-day events.
    pub start: String,
    pub end: String,
    pub location: Option<String>,
    pub description: Option<String>,
    /// Attendees' e-mail addresses.
    pub attendees: Vec<String>,
    pub html_link: Option<String>,
}

impl From<CalendarEvent> for EventView {
    fn from(event: CalendarEvent) -> Self {
        Self {
            id: event.id,
            summary: event.summary,
            start: event.start.to_string(),
            end: event.end.to_string(),
            location: event.location,
            description: event.description,
            attendees: event.attendees,
            html_link: event.html_link,
        }
    }
}

/// Seed 003: the organisation's upcoming events, soonest first.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 200, description = "Upcoming events", body = Vec<EventView>),
        (status = 409, description = "No calendar connected, or its access was revoked: connect again", body = ErrorBody),
        (status = 422, description = "max_results outside 1..=250", body = ErrorBody),
        (status = 503, description = "Google Calendar is not configured or unavailable", body = ErrorBody),
    )
)]
#[get("/events")]
pub async fn events(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<web::Json<Vec<EventView>>, ApiError> {
    let max = match query.max_results {
        None => DEFAULT_MAX_RESULTS,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_UPCOMING_EVENTS).contains(n))
            .ok_or_else(|| {
                ApiError::field("max_results", format!("must be 1 to {MAX_UPCOMING_EVENTS}"))
            })?,
    };
    let events = service(&state)?
        .upcoming_events(user.0.organization_id, max)
        .await?;
    Ok(web::Json(events.into_iter().map(EventView::from).collect()))
}

/// The organisation's calendar connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    /// Whether calls can use the calendar now.
    pub connected: bool,
    /// `connected`, `disconnected` (access revoked: connect again) or `not_connected`.
    pub status: &'static str,
    pub provider: Option<String>,
    pub calendar_id: Option<String>,
    /// Who connected it.
    pub connected_by: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Whether the organisation's calendar is connected.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The connection (never its tokens)", body = ConnectionView),
        (status = 503, description = "Google Calendar is not configured", body = ErrorBody),
    )
)]
#[get("/status")]
pub async fn status(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<ConnectionView>, ApiError> {
    let connection = service(&state)?.connection(user.0.organization_id).await?;
    Ok(web::Json(match connection {
        Some(c) => ConnectionView {
            connected: c.status == ConnectionStatus::Connected,
            status: c.status.as_str(),
            provider: Some(c.provider),
            calendar_id: Some(c.calendar_id),
            connected_by: Some(c.user_id.to_string()),
            connected_at: Some(c.connected_at),
            updated_at: Some(c.updated_at),
        },
        None => ConnectionView {
            connected: false,
            status: "not_connected",
            provider: None,
            calendar_id: None,
            connected_by: None,
            connected_at: None,
            updated_at: None,
        },
    }))
}

/// Disconnects the organisation's calendar: its tokens are deleted; calls stop using it.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 404, description = "No calendar was connected", body = ErrorBody),
        (status = 503, description = "Google Calendar is not configured", body = ErrorBody),
    )
)]
#[delete("/connection")]
pub async fn disconnect(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if service(&state)?.disconnect(user.0.organization_id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("no calendar is connected".into()))
    }
}
