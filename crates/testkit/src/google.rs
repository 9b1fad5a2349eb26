//! `FakeGoogle`: a loopback HTTP/1.1 server that speaks the part of Google a calendar
//! integration uses (PROVIDERS.md 5): the OAuth token endpoint (`POST /token` with the
//! `authorization_code` and `refresh_token` grants) and Calendar v3 (`GET`/`POST
//! /calendar/v3/calendars/{id}/events`, `POST /calendar/v3/freeBusy`) over one in-memory
//! calendar.
//!
//! It checks the client id and secret (`invalid_client`), the redirect URI of a code exchange
//! (`redirect_uri_mismatch`), codes and refresh tokens (`invalid_grant` for unknown, used or
//! revoked ones) and bearer tokens (401 in Google's API error shape for unknown or expired
//! ones). Tests hand out codes as a consenting user would ([`FakeGoogle::consent`]), expire
//! access tokens or revoke refresh tokens on demand, script token endpoint and Calendar API
//! failures, and read every request back.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::http1::{Request, read_request, write_response};
use crate::twilio_rest::Form;

/// The OAuth client the fake knows.
pub const FAKE_GOOGLE_CLIENT_ID: &str = "1234-fake.apps.googleusercontent.com";
/// Its secret.
pub const FAKE_GOOGLE_CLIENT_SECRET: &str = "GOCSPX-fake-client-secret";
/// The redirect URI registered for the client.
pub const FAKE_GOOGLE_REDIRECT_URI: &str = "http://localhost:8080/google-calendar/callback";

const MAX_BODY_BYTES: usize = 1024 * 1024;
const EVENTS_PREFIX: &str = "/calendar/v3/calendars/";

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct GoogleRequest {
    pub method: String,
    /// Without the query.
    pub path: String,
    pub query: Form,
    /// The form of a token request.
    pub form: Form,
    /// The JSON body of a Calendar request (`Null` otherwise).
    pub body: Value,
    pub authorization: Option<String>,
    /// The status the fake answered with.
    pub answered: u16,
}

/// An event of the fake calendar.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeEvent {
    pub id: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub time_zone: Option<String>,
    pub attendees: Vec<String>,
}

impl FakeEvent {
    fn to_json(&self) -> Value {
        let time = |at: DateTime<Utc>| {
            let mut value = json!({"dateTime": at.to_rfc3339()});
            if let Some(zone) = &self.time_zone {
                value["timeZone"] = json!(zone);
            }
            value
        };
        json!({
            "kind": "calendar#event",
            "etag": format!("\"{}\"", self.id),
            "id": self.id,
            "status": "confirmed",
            "htmlLink": format!("https://www.google.com/calendar/event?eid={}", self.id),
            "summary": self.summary,
            "description": self.description,
            "location": self.location,
            "start": time(self.start),
            "end": time(self.end),
            "attendees": self.attendees.iter().map(|e| json!({"email": e, "responseStatus": "needsAction"})).collect::<Vec<_>>(),
            "reminders": {"useDefault": true},
        })
    }
}

#[derive(Debug)]
struct AccessToken {
    expired: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Codes handed out and not yet used.
    codes: BTreeSet<String>,
    access_tokens: BTreeMap<String, AccessToken>,
    /// Refresh tokens and whether they were revoked.
    refresh_tokens: BTreeMap<String, bool>,
    events: Vec<FakeEvent>,
    requests: Vec<GoogleRequest>,
    /// Answers for the next token requests: status and OAuth error code.
    token_failures: VecDeque<(u16, String)>,
    /// Statuses for the next Calendar API requests, answered before anything else is checked.
    api_failures: VecDeque<u16>,
    expires_in: Option<i64>,
    issued: u64,
}

impl State {
    fn next_id(&mut self, prefix: &str) -> String {
        self.issued += 1;
        format!("{prefix}{}-{}", self.issued, uuid::Uuid::new_v4().simple())
    }
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    // A test that panicked while holding the lock has failed already; its data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fake of Google OAuth and Calendar on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct FakeGoogle {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeGoogle {
    /// Starts the fake on a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let server = tokio::spawn(accept(listener, Arc::clone(&state)));
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// `http://127.0.0.1:{port}`, the value for `GOOGLE_OAUTH_BASE_URL`.
    #[must_use]
    pub fn oauth_base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The value for `GOOGLE_TOKEN_URL`.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.address)
    }

    /// The value for `GOOGLE_CALENDAR_BASE_URL`.
    #[must_use]
    pub fn calendar_base_url(&self) -> String {
        format!("http://{}/calendar/v3", self.address)
    }

    /// What a user's consent gives: a fresh authorization code, usable once.
    #[must_use]
    pub fn consent(&self) -> String {
        let mut state = lock(&self.state);
        let code = state.next_id("4/0A-code-");
        state.codes.insert(code.clone());
        code
    }

    /// Makes every access token issued so far expired: the API answers 401 for them.
    pub fn expire_access_tokens(&self) {
        for token in lock(&self.state).access_tokens.values_mut() {
            token.expired = true;
        }
    }

    /// Revokes every refresh token issued so far: refreshing answers `invalid_grant`.
    pub fn revoke_refresh_tokens(&self) {
        for revoked in lock(&self.state).refresh_tokens.values_mut() {
            *revoked = true;
        }
    }

    /// Issues access tokens that say they live `seconds` (default 3599).
    pub fn set_expires_in(&self, seconds: i64) {
        lock(&self.state).expires_in = Some(seconds);
    }

    /// Answers the next token request with `status` and the OAuth error `error`.
    pub fn fail_next_token_request(&self, status: u16, error: &str) {
        lock(&self.state)
            .token_failures
            .push_back((status, error.to_owned()));
    }

    /// Answers the next `count` Calendar API requests (events, free/busy) with `status` in
    /// Google's API error shape, before looking at them; they are still recorded.
    pub fn fail_next_api_requests(&self, count: usize, status: u16) {
        lock(&self.state)
            .api_failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Puts an event in the calendar.
    pub fn add_event(&self, summary: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let mut state = lock(&self.state);
        let id = state.next_id("evt");
        state.events.push(FakeEvent {
            id: id.clone(),
            summary: Some(summary.to_owned()),
            description: None,
            location: None,
            start,
            end,
            time_zone: None,
            attendees: Vec::new(),
        });
        id
    }

    /// The calendar's events.
    #[must_use]
    pub fn events(&self) -> Vec<FakeEvent> {
        lock(&self.state).events.clone()
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<GoogleRequest> {
        lock(&self.state).requests.clone()
    }

    /// The token requests with this `grant_type`.
    #[must_use]
    pub fn token_requests(&self, grant_type: &str) -> Vec<GoogleRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/token" && r.form.get("grant_type") == Some(grant_type))
            .collect()
    }

    /// Waits until `condition` holds of the requests; `false` if `within` passed first.
    pub async fn wait_for(
        &self,
        within: Duration,
        condition: impl Fn(&[GoogleRequest]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if condition(&lock(&self.state).requests) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn accept(listener: TcpListener, state: Arc<Mutex<State>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, Arc::clone(&state)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fake Google could not accept");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let Ok(Some(request)) = read_request(&mut reader, MAX_BODY_BYTES).await else {
        return;
    };
    let (status, body) = {
        let mut state = lock(&state);
        let (status, body) = respond(&request, &mut state);
        state.requests.push(GoogleRequest {
            method: request.method.clone(),
            path: request.path().to_owned(),
            query: query(&request),
            form: if request.path() == "/token" {
                Form::parse(&request.body)
            } else {
                Form::default()
            },
            body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
            authorization: request.header("authorization").map(ToOwned::to_owned),
            answered: status,
        });
        (status, body)
    };
    let _ = write_response(
        &mut writer,
        status,
        &[("content-type", "application/json; charset=utf-8")],
        body.to_string().as_bytes(),
    )
    .await;
}

fn oauth_error(status: u16, error: &str, description: &str) -> (u16, Value) {
    (
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// Google's API error envelope.
fn api_error(status: u16, reason: &str, message: &str, code_name: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {
            "code": status,
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
            "status": code_name,
        }}),
    )
}

fn respond(request: &Request, state: &mut State) -> (u16, Value) {
    let path = request.path();
    if path != "/token"
        && let Some(status) = state.api_failures.pop_front()
    {
        return api_error(
            status,
            "backendError",
            "The fake was told to fail this request",
            "UNAVAILABLE",
        );
    }
    match (request.method.as_str(), path) {
        ("POST", "/token") => token(request, state),
        ("POST", "/calendar/v3/freeBusy") => with_bearer(request, state, free_busy),
        (method, _) if path.starts_with(EVENTS_PREFIX) && path.ends_with("/events") => match method
        {
            "GET" => with_bearer(request, state, list_events),
            "POST" => with_bearer(request, state, insert_event),
            _ => api_error(405, "httpMethodNotAllowed", "Method not allowed", "UNKNOWN"),
        },
        _ => api_error(404, "notFound", "Not Found", "NOT_FOUND"),
    }
}

fn token(request: &Request, state: &mut State) -> (u16, Value) {
    if let Some((status, error)) = state.token_failures.pop_front() {
        return oauth_error(status, &error, "The fake was told to fail this request");
    }
    let is_form = request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return oauth_error(400, "invalid_request", "Expected a form body");
    }
    let form = Form::parse(&request.body);
    if form.get("client_id") != Some(FAKE_GOOGLE_CLIENT_ID)
        || form.get("client_secret") != Some(FAKE_GOOGLE_CLIENT_SECRET)
    {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    }
    match form.get("grant_type") {
        Some("authorization_code") => {
            if form.get("redirect_uri") != Some(FAKE_GOOGLE_REDIRECT_URI) {
                return oauth_error(400, "redirect_uri_mismatch", "Bad Request");
            }
            let code = form.get("code").unwrap_or_default();
            if !state.codes.remove(code) {
                return oauth_error(400, "invalid_grant", "Malformed auth code.");
            }
            let refresh = state.next_id("1//refresh-");
            state.refresh_tokens.insert(refresh.clone(), false);
            issue(state, Some(refresh))
        }
        Some("refresh_token") => {
            let token = form.get("refresh_token").unwrap_or_default();
            match state.refresh_tokens.get(token) {
                Some(false) => issue(state, None),
                _ => oauth_error(400, "invalid_grant", "Token has been expired or revoked."),
            }
        }
        _ => oauth_error(400, "unsupported_grant_type", "Invalid grant_type"),
    }
}

fn issue(state: &mut State, refresh_token: Option<String>) -> (u16, Value) {
    let access = state.next_id("ya29.access-");
    state
        .access_tokens
        .insert(access.clone(), AccessToken { expired: false });
    let mut body = json!({
        "access_token": access,
        "expires_in": state.expires_in.unwrap_or(3599),
        "scope": "https://www.googleapis.com/auth/calendar",
        "token_type": "Bearer",
    });
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    (200, body)
}

fn with_bearer(
    request: &Request,
    state: &mut State,
    handler: fn(&Request, &mut State) -> (u16, Value),
) -> (u16, Value) {
    let token = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    match state.access_tokens.get(token) {
        Some(AccessToken { expired: false }) => handler(request, state),
        _ => api_error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        ),
    }
}

fn query(request: &Request) -> Form {
    Form::parse(
        request
            .target
            .split_once('?')
            .map_or("", |(_, q)| q)
            .as_bytes(),
    )
}

fn time(raw: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn list_events(request: &Request, state: &mut State) -> (u16, Value) {
    let query = query(request);
    let Some(from) = time(query.get("timeMin")) else {
        return api_error(
            400,
            "badRequest",
            "Bad Request: timeMin",
            "INVALID_ARGUMENT",
        );
    };
    let max: usize = query
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(250);
    let mut events: Vec<&FakeEvent> = state.events.iter().filter(|e| e.end > from).collect();
    events.sort_by_key(|e| e.start);
    let items: Vec<Value> = events.iter().take(max).map(|e| e.to_json()).collect();
    (
        200,
        json!({
            "kind": "calendar#events",
            "summary": "fake@example.com",
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": items,
        }),
    )
}

fn insert_event(request: &Request, state: &mut State) -> (u16, Value) {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let (Some(start), Some(end)) = (
        time(body["start"]["dateTime"].as_str()),
        time(body["end"]["dateTime"].as_str()),
    ) else {
        return api_error(400, "required", "Missing end time.", "INVALID_ARGUMENT");
    };
    if end <= start {
        return api_error(
            400,
            "timeRangeEmpty",
            "The specified time range is empty.",
            "INVALID_ARGUMENT",
        );
    }
    let id = state.next_id("evt");
    let event = FakeEvent {
        id,
        summary: body["summary"].as_str().map(ToOwned::to_owned),
        description: body["description"].as_str().map(ToOwned::to_owned),
        location: body["location"].as_str().map(ToOwned::to_owned),
        start,
        end,
        time_zone: body["start"]["timeZone"].as_str().map(ToOwned::to_owned),
        attendees: body["attendees"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["email"].as_str().map(ToOwned::to_owned))
            .collect(),
    };
    let answer = event.to_json();
    state.events.push(event);
    (200, answer)
}

fn free_busy(request: &Request, state: &mut State) -> (u16, Value) {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let (Some(from), Some(to)) = (
        time(body["timeMin"].as_str()),
        time(body["timeMax"].as_str()),
    ) else {
        return api_error(400, "badRequest", "Bad Request", "INVALID_ARGUMENT");
    };
    let mut calendars = serde_json::Map::new();
    for item in body["items"].as_array().into_iter().flatten() {
        let Some(id) = item["id"].as_str() else {
            continue;
        };
        let busy: Vec<Value> = state
            .events
            .iter()
            .filter(|e| e.start < to && e.end > from)
            .map(|e| json!({"start": e.start.max(from).to_rfc3339(), "end": e.end.min(to).to_rfc3339()}))
            .collect();
        calendars.insert(id.to_owned(), json!({"busy": busy}));
    }
    (
        200,
        json!({
            "kind": "calendar#freeBusy",
            "timeMin": from.to_rfc3339(),
            "timeMax": to.to_rfc3339(),
            "calendars": calendars,
            "groups": {},
        }),
    )
}
