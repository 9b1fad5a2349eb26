//! Google Calendar end to end against `FakeGoogle`: the OAuth flow (consent URL, callback,
//! redirects to the frontend on success and on every failure), events, token refresh on expiry
//! and on a refused token, revoked access, and calendar-aware calls that check availability and
//! book appointments.

use std::time::Duration;

use chrono::{DateTime, Duration as Span, TimeZone as _, Utc};
use reqwest::Url;
use serde_json::{Value, json};
use switchboard_testkit::{
    FAKE_GOOGLE_CLIENT_ID, FAKE_GOOGLE_CLIENT_SECRET, FAKE_GOOGLE_REDIRECT_URI, FakeElevenLabs,
    FakeGoogle, FakeOpenAi, FakeTwilio, Reply, TestApp, TestAppBuilder,
};

use crate::support::{expect_error, expect_json};

const FRONTEND: &str = "http://localhost:5173";
const CUSTOMER: &str = "+14155550123";

struct Connected {
    app: TestApp,
    google: FakeGoogle,
    token: String,
}

async fn calendar_app(
    configure: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> anyhow::Result<(TestApp, FakeGoogle)> {
    let google = FakeGoogle::start().await?;
    let builder = TestApp::builder()
        .with_google(&google)
        .env("FRONTEND_URL", FRONTEND);
    let app = configure(builder).spawn().await?;
    Ok((app, google))
}

/// A client that shows redirects instead of following them, as a test of a redirect needs.
fn browser() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// The consent URL `GET /google-calendar/auth` answers for `token`.
async fn consent_url(app: &TestApp, token: &str) -> anyhow::Result<Url> {
    let body = expect_json(app.get("/google-calendar/auth", Some(token)).await?, 200).await?;
    Ok(Url::parse(
        body["authorization_url"].as_str().unwrap_or_default(),
    )?)
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Calls the callback with `query` and returns where it redirects.
async fn callback(app: &TestApp, query: &[(&str, &str)]) -> anyhow::Result<Url> {
    let response = browser()?
        .get(app.url("/google-calendar/callback"))
        .query(query)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 303,
        "the callback answered {}",
        response.status()
    );
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok(Url::parse(&location)?)
}

/// Asserts `redirect` is the frontend's failure page, and returns its message.
fn failure_message(redirect: &Url) -> anyhow::Result<String> {
    anyhow::ensure!(
        redirect
            .as_str()
            .starts_with(&format!("{FRONTEND}/scheduled-meetings?")),
        "redirected to {redirect}"
    );
    anyhow::ensure!(
        param(redirect, "error").as_deref() == Some("calendar_connection_failed"),
        "no error in {redirect}"
    );
    anyhow::ensure!(param(redirect, "success").is_none());
    param(redirect, "message")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| anyhow::anyhow!("no message in {redirect}"))
}

/// Connects `token`'s organisation through the whole flow.
async fn connect(app: &TestApp, google: &FakeGoogle, token: &str) -> anyhow::Result<()> {
    let url = consent_url(app, token).await?;
    let state = param(&url, "state").unwrap_or_default();
    let code = google.consent();
    let redirect = callback(app, &[("code", &code), ("state", &state)]).await?;
    anyhow::ensure!(
        redirect.as_str()
            == format!("{FRONTEND}/scheduled-meetings?success=true&connected=calendar"),
        "redirected to {redirect}"
    );
    Ok(())
}

async fn connected(
    configure: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> anyhow::Result<Connected> {
    let (app, google) = calendar_app(configure).await?;
    let token = app.signed_in_user().await?;
    connect(&app, &google, &token).await?;
    Ok(Connected { app, google, token })
}

async fn status(app: &TestApp, token: &str) -> anyhow::Result<Value> {
    expect_json(app.get("/google-calendar/status", Some(token)).await?, 200).await
}

fn at(hours_from_now: i64) -> DateTime<Utc> {
    Utc::now() + Span::hours(hours_from_now)
}

#[tokio::test]
async fn the_oauth_flow_connects_the_calendar_and_lists_its_events() -> anyhow::Result<()> {
    let (app, google) = calendar_app(|b| b).await?;
    let token = app.signed_in_user().await?;
    assert_eq!(status(&app, &token).await?["status"], "not_connected");

    let url = consent_url(&app, &token).await?;
    assert_eq!(
        url.as_str().split('?').next(),
        Some(format!("{}/o/oauth2/v2/auth", google.oauth_base_url()).as_str())
    );
    assert_eq!(
        param(&url, "client_id").as_deref(),
        Some(FAKE_GOOGLE_CLIENT_ID)
    );
    assert_eq!(
        param(&url, "redirect_uri").as_deref(),
        Some(FAKE_GOOGLE_REDIRECT_URI)
    );
    assert_eq!(param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&url, "access_type").as_deref(), Some("offline"));
    assert_eq!(param(&url, "prompt").as_deref(), Some("consent"));
    assert!(
        param(&url, "scope")
            .is_some_and(|s| s.contains("https://www.googleapis.com/auth/calendar")),
        "{url}"
    );
    let state = param(&url, "state").unwrap_or_default();
    assert!(state.len() > 40, "{state}");
    assert!(!url.as_str().contains(FAKE_GOOGLE_CLIENT_SECRET));

    let code = google.consent();
    let redirect = callback(&app, &[("code", &code), ("state", &state), ("scope", "x")]).await?;
    assert_eq!(
        redirect.as_str(),
        format!("{FRONTEND}/scheduled-meetings?success=true&connected=calendar")
    );
    let exchange = google.token_requests("authorization_code");
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0].form.get("code"), Some(code.as_str()));
    assert_eq!(
        exchange[0].form.get("redirect_uri"),
        Some(FAKE_GOOGLE_REDIRECT_URI)
    );
    assert_eq!(exchange[0].answered, 200);

    let connection = status(&app, &token).await?;
    assert_eq!(connection["connected"], true);
    assert_eq!(connection["status"], "connected");
    assert_eq!(connection["provider"], "google");
    assert_eq!(connection["calendar_id"], "primary");
    assert!(!connection.to_string().contains("ya29"), "{connection}");

    google.add_event("Yesterday's meeting", at(-26), at(-25));
    google.add_event("Dentist", at(50), at(51));
    google.add_event("Team Meeting", at(2), at(3));
    let events = expect_json(
        app.get("/google-calendar/events?max_results=10", Some(&token))
            .await?,
        200,
    )
    .await?;
    let events = events.as_array().cloned().unwrap_or_default();
    let titles: Vec<&str> = events
        .iter()
        .filter_map(|e| e["summary"].as_str())
        .collect();
    assert_eq!(titles, ["Team Meeting", "Dentist"]);
    for field in ["id", "start", "end"] {
        assert!(events[0][field].is_string(), "{field} in {}", events[0]);
    }
    assert!(DateTime::parse_from_rfc3339(events[0]["start"].as_str().unwrap_or_default()).is_ok());
    let listed = google
        .requests()
        .into_iter()
        .filter(|r| r.path == "/calendar/v3/calendars/primary/events")
        .collect::<Vec<_>>();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].query.get("singleEvents"), Some("true"));
    assert_eq!(listed[0].query.get("orderBy"), Some("startTime"));
    assert!(
        listed[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ya29."))
    );

    // The canonical path serves the same; the bounds of max_results hold.
    let one = expect_json(
        app.get("/api/v1/google-calendar/events?max_results=1", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    for bad in ["0", "251", "-3"] {
        expect_error(
            app.get(
                &format!("/google-calendar/events?max_results={bad}"),
                Some(&token),
            )
            .await?,
            422,
        )
        .await?;
    }

    // Another organisation sees nothing of this calendar.
    let stranger = app.signed_in_user().await?;
    expect_error(
        app.get("/google-calendar/events", Some(&stranger)).await?,
        409,
    )
    .await?;

    // Disconnecting forgets the tokens.
    let removed = app
        .request(reqwest::Method::DELETE, "/google-calendar/connection")
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(removed.status(), 204);
    assert_eq!(status(&app, &token).await?["status"], "not_connected");
    let again = app
        .request(reqwest::Method::DELETE, "/google-calendar/connection")
        .bearer_auth(&token)
        .send()
        .await?;
    expect_error(again, 404).await?;
    Ok(())
}

#[tokio::test]
async fn every_failed_callback_redirects_to_the_frontend_with_an_error() -> anyhow::Result<()> {
    let (app, google) = calendar_app(TestAppBuilder::with_manual_clock).await?;
    let token = app.signed_in_user().await?;
    let other = app.signed_in_user().await?;
    let state = param(&consent_url(&app, &token).await?, "state").unwrap_or_default();
    let other_state = param(&consent_url(&app, &other).await?, "state").unwrap_or_default();

    // Tampered: one character of the signature changed.
    let mut tampered = state.clone();
    let last = tampered.pop().unwrap_or('0');
    tampered.push(if last == '0' { '1' } else { '0' });
    let code = google.consent();
    failure_message(&callback(&app, &[("code", &code), ("state", &tampered)]).await?)?;

    // Another user's state with this user's identity swapped in: the signature breaks.
    let parts: Vec<&str> = state.split('.').collect();
    let other_parts: Vec<&str> = other_state.split('.').collect();
    let swapped = [
        parts[0],
        parts[1],
        other_parts[2],
        other_parts[3],
        other_parts[4],
    ]
    .join(".");
    failure_message(&callback(&app, &[("code", &code), ("state", &swapped)]).await?)?;
    let forged = [
        other_parts[0],
        parts[1],
        other_parts[2],
        other_parts[3],
        other_parts[4],
    ]
    .join(".");
    failure_message(&callback(&app, &[("code", &code), ("state", &forged)]).await?)?;

    // No state, no code, the user declining, the token endpoint failing or refusing the code.
    failure_message(&callback(&app, &[("code", &code)]).await?)?;
    failure_message(&callback(&app, &[("state", &state)]).await?)?;
    let denied =
        failure_message(&callback(&app, &[("error", "access_denied"), ("state", &state)]).await?)?;
    assert!(denied.contains("denied"), "{denied}");
    google.fail_next_token_request(500, "internal_failure");
    failure_message(&callback(&app, &[("code", &code), ("state", &state)]).await?)?;
    failure_message(&callback(&app, &[("code", "4/0A-never-issued"), ("state", &state)]).await?)?;
    // Nothing was connected, for either user.
    assert_eq!(status(&app, &token).await?["status"], "not_connected");
    assert_eq!(status(&app, &other).await?["status"], "not_connected");
    assert_eq!(google.token_requests("authorization_code").len(), 2);

    // A state past its ten minutes no longer works, even with a good code.
    app.clock().advance(Span::minutes(11));
    let expired = failure_message(&callback(&app, &[("code", &code), ("state", &state)]).await?)?;
    assert!(expired.contains("expired"), "{expired}");
    assert_eq!(status(&app, &token).await?["status"], "not_connected");

    // A fresh state works with the same code, so the refusals above were about the state.
    let fresh = param(&consent_url(&app, &token).await?, "state").unwrap_or_default();
    let redirect = callback(&app, &[("code", &code), ("state", &fresh)]).await?;
    assert_eq!(param(&redirect, "success").as_deref(), Some("true"));
    assert_eq!(status(&app, &token).await?["status"], "connected");
    Ok(())
}

fn bearer_of_last_list(google: &FakeGoogle) -> Option<String> {
    google
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/events") && r.method == "GET")
        .and_then(|r| r.authorization)
}

#[tokio::test]
async fn access_tokens_are_refreshed_when_refused_and_before_they_expire() -> anyhow::Result<()> {
    let c = connected(|b| b).await?;
    c.google.add_event("Standup", at(1), at(2));
    expect_json(
        c.app.get("/google-calendar/events", Some(&c.token)).await?,
        200,
    )
    .await?;
    let first = bearer_of_last_list(&c.google);
    assert!(c.google.token_requests("refresh_token").is_empty());

    // Refused: refreshed once, and the list retried with the new token.
    c.google.expire_access_tokens();
    let events = expect_json(
        c.app.get("/google-calendar/events", Some(&c.token)).await?,
        200,
    )
    .await?;
    assert_eq!(events[0]["summary"], "Standup");
    let refreshes = c.google.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].answered, 200);
    assert!(
        refreshes[0]
            .form
            .get("refresh_token")
            .is_some_and(|t| t.starts_with("1//"))
    );
    let second = bearer_of_last_list(&c.google);
    assert_ne!(first, second);

    // About to expire: refreshed before the call, with no refused request first.
    c.google.set_expires_in(30);
    c.google.expire_access_tokens();
    expect_json(
        c.app.get("/google-calendar/events", Some(&c.token)).await?,
        200,
    )
    .await?;
    let refused_before = c
        .google
        .requests()
        .iter()
        .filter(|r| r.answered == 401)
        .count();
    expect_json(
        c.app.get("/google-calendar/events", Some(&c.token)).await?,
        200,
    )
    .await?;
    assert_eq!(c.google.token_requests("refresh_token").len(), 3);
    let refused_after = c
        .google
        .requests()
        .iter()
        .filter(|r| r.answered == 401)
        .count();
    assert_eq!(refused_before, refused_after);
    Ok(())
}

#[tokio::test]
async fn revoked_access_disconnects_the_calendar_with_a_clear_error() -> anyhow::Result<()> {
    let c = connected(|b| b).await?;
    c.google.revoke_refresh_tokens();
    c.google.expire_access_tokens();
    let error = expect_error(
        c.app.get("/google-calendar/events", Some(&c.token)).await?,
        409,
    )
    .await?;
    let detail = error["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("connect Google Calendar again"), "{detail}");
    let connection = status(&c.app, &c.token).await?;
    assert_eq!(connection["connected"], false);
    assert_eq!(connection["status"], "disconnected");
    // Disconnected: Google is not asked again until the user reconnects.
    let asked = c.google.requests().len();
    expect_error(
        c.app.get("/google-calendar/events", Some(&c.token)).await?,
        409,
    )
    .await?;
    assert_eq!(c.google.requests().len(), asked);

    connect(&c.app, &c.google, &c.token).await?;
    expect_json(
        c.app.get("/google-calendar/events", Some(&c.token)).await?,
        200,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn without_google_settings_the_routes_say_which_are_missing() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("FRONTEND_URL", FRONTEND)
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    for path in [
        "/google-calendar/auth",
        "/google-calendar/events",
        "/google-calendar/status",
    ] {
        let error = expect_error(app.get(path, Some(&token)).await?, 503).await?;
        assert!(
            error["detail"]
                .as_str()
                .is_some_and(|d| d.contains("GOOGLE_CLIENT_ID")),
            "{error}"
        );
    }
    expect_error(app.get("/google-calendar/auth", None).await?, 401).await?;
    failure_message(&callback(&app, &[("code", "c"), ("state", "s")]).await?)?;
    Ok(())
}

/// A text call whose agent books through the calendar tools, scripted on the model's side.
#[tokio::test]
async fn a_calendar_aware_call_checks_availability_and_books() -> anyhow::Result<()> {
    let openai = FakeOpenAi::start().await?;
    let c = connected(|b| b.with_openai(&openai)).await?;
    let busy_start = Utc
        .with_ymd_and_hms(2031, 3, 4, 15, 0, 0)
        .single()
        .unwrap_or_default();
    c.google
        .add_event("Board review", busy_start, busy_start + Span::hours(1));
    let agent = expect_json(
        c.app
            .post_json(
                "/api/v1/agents",
                &json!({
                    "name": "Ava",
                    "system_prompt": "You book dental appointments.",
                    "first_message": "Hi, this is Ava from the clinic.",
                    "tools": [
                        {"type": "builtin", "name": "check_availability"},
                        {"type": "builtin", "name": "book_appointment"},
                    ],
                }),
                Some(&c.token),
            )
            .await?,
        201,
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    openai.enqueue(Reply::tool_call(
        "check_availability",
        json!({"start": "2031-03-04T14:00:00Z", "end": "2031-03-04T18:00:00Z"}),
    ));
    openai.enqueue(Reply::tool_call(
        "book_appointment",
        json!({
            "summary": "Cleaning - John",
            "start": "2031-03-04T16:00:00Z",
            "duration_minutes": 45,
            "attendee_email": "john@example.com",
            "description": "Booked on the phone",
        }),
    ));
    openai.enqueue(Reply::text("You are booked for 4 pm on March 4th."));
    let call = expect_json(
        c.app
            .post_json(
                "/api/v1/calls",
                &json!({"agent_id": agent, "customer_name": "John"}),
                Some(&c.token),
            )
            .await?,
        201,
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let turn = expect_json(
        c.app
            .post_json(
                &format!("/api/v1/calls/{call}/messages"),
                &json!({"message": "Can I come in on March 4th in the afternoon?"}),
                Some(&c.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(
        turn["tools_called"],
        json!(["check_availability", "book_appointment"])
    );

    let booked: Vec<_> = c
        .google
        .events()
        .into_iter()
        .filter(|e| e.summary.as_deref() == Some("Cleaning - John"))
        .collect();
    assert_eq!(booked.len(), 1, "{:?}", c.google.events());
    assert_eq!(booked[0].start, busy_start + Span::hours(1));
    assert_eq!(booked[0].end, busy_start + Span::minutes(105));
    assert_eq!(booked[0].attendees, ["john@example.com"]);
    assert_eq!(
        booked[0].description.as_deref(),
        Some("Booked on the phone")
    );

    let requests = openai.chat_requests();
    assert_eq!(requests.len(), 3);
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(offered, ["check_availability", "book_appointment"]);
    // The availability the model was told names the busy hour, in the organisation's zone.
    let told: Vec<String> = requests[2].body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        told[0].contains("busy") && told[0].contains("15:00"),
        "{told:?}"
    );
    assert!(told[1].starts_with("Booked"), "{told:?}");
    // The upcoming events were in the system prompt.
    let system = requests[0].body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(system.contains("Board review"), "{system}");
    assert!(system.contains("book appointments"), "{system}");
    Ok(())
}

/// An agent listing calendar tools, in an organisation without a calendar, is not offered them.
#[tokio::test]
async fn calendar_tools_are_not_offered_without_a_connected_calendar() -> anyhow::Result<()> {
    let openai = FakeOpenAi::start().await?;
    let (app, google) = calendar_app(|b| b.with_openai(&openai)).await?;
    let token = app.signed_in_user().await?;
    let agent = expect_json(
        app.post_json(
            "/api/v1/agents",
            &json!({
                "name": "Ava",
                "first_message": "Hi.",
                "tools": [{"type": "builtin", "name": "book_appointment"}, {"type": "builtin", "name": "end_call"}],
            }),
            Some(&token),
        )
        .await?,
        201,
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    openai.enqueue(Reply::text("Sure."));
    let call = expect_json(
        app.post_json("/api/v1/calls", &json!({"agent_id": agent}), Some(&token))
            .await?,
        201,
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    expect_json(
        app.post_json(
            &format!("/api/v1/calls/{call}/messages"),
            &json!({"message": "Book me in."}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    let offered: Vec<String> = openai.chat_requests()[0].body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(ToOwned::to_owned))
        .collect();
    assert_eq!(offered, ["end_call"]);
    assert!(google.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn the_calendar_call_route_places_a_calendar_aware_call() -> anyhow::Result<()> {
    let openai = FakeOpenAi::start().await?;
    let elevenlabs = FakeElevenLabs::start().await?;
    let twilio = FakeTwilio::start().await?;
    let c = connected(|b| {
        b.with_openai(&openai)
            .with_elevenlabs(&elevenlabs)
            .with_twilio_rest(&twilio)
            .env("PUBLIC_URL", "https://switchboard.example.com")
    })
    .await?;
    c.google.add_event("Lunch", at(3), at(4));
    let made = expect_json(
        c.app
            .get(
                &format!("/make-calendar-call-scenario/{CUSTOMER}"),
                Some(&c.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(made["status"], "success");
    assert_eq!(made["message"], "Calendar call initiated");
    assert_eq!(made["calendar_connected"], true);
    assert!(twilio.wait_for_dials(1, Duration::from_secs(10)).await);
    assert_eq!(twilio.dials()[0].form.get("To"), Some(CUSTOMER));
    // The call read the calendar when it started.
    assert!(
        c.google
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/events") && r.answered == 200)
    );

    // Without a connected calendar the call is placed all the same, and says so.
    let removed = c
        .app
        .request(reqwest::Method::DELETE, "/google-calendar/connection")
        .bearer_auth(&c.token)
        .send()
        .await?;
    assert_eq!(removed.status(), 204);
    let plain = expect_json(
        c.app
            .get(
                &format!("/make-calendar-call-scenario/{CUSTOMER}"),
                Some(&c.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(plain["calendar_connected"], false);
    assert!(twilio.wait_for_dials(2, Duration::from_secs(10)).await);
    Ok(())
}

/// Without `FRONTEND_URL` there is no page to return to: the callback tells the outcome itself,
/// with whatever Google's parameters said escaped.
#[tokio::test]
async fn without_a_frontend_the_callback_answers_a_page() -> anyhow::Result<()> {
    let google = FakeGoogle::start().await?;
    let app = TestApp::builder().with_google(&google).spawn().await?;
    let token = app.signed_in_user().await?;
    let state = param(&consent_url(&app, &token).await?, "state").unwrap_or_default();
    let response = browser()?
        .get(app.url("/google-calendar/callback"))
        .query(&[("error", "<script>alert(1)</script>"), ("state", &state)])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let page = response.text().await?;
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");

    let code = google.consent();
    let response = browser()?
        .get(app.url("/google-calendar/callback"))
        .query(&[("code", code.as_str()), ("state", &state)])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert!(response.text().await?.contains("connected"));
    assert_eq!(status(&app, &token).await?["status"], "connected");
    Ok(())
}
