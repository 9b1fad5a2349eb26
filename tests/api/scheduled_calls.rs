//! Scheduled calls: seed 003's `POST /schedule-call` and `/api/v1/scheduled-calls` (one call or
//! a campaign, list, read, cancel), and the worker acting on due calls.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::{Value, json};
use switchboard_testkit::{
    FAKE_TWILIO_PHONE_NUMBER, FakeElevenLabs, FakeOpenAi, FakeTwilio, TestApp, TestAppBuilder,
    TestDatabaseKind, TwilioCall, TwimlStream, twilio_signature,
};

use crate::support::{expect_error, expect_json, get_until};

const NUMBER: &str = "+14155550123";
/// Generous: the worker polls every 20 ms in these tests, but the machine may be loaded.
const WAIT: StdDuration = StdDuration::from_secs(20);
/// Where Twilio reaches the servers of these tests; nothing listens there, the tests stand in.
const PUBLIC_URL: &str = "https://switchboard.test";

/// A server whose scheduler polls often, on a clock the test moves, with tokens that outlive
/// the moves.
async fn scheduling_app() -> anyhow::Result<TestApp> {
    TestApp::builder()
        .with_manual_clock()
        .env("SCHEDULER_POLL_MS", "20")
        .env("ACCESS_TOKEN_TTL_SECS", "86400")
        .spawn()
        .await
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339()
}

fn parse_time(value: &Value) -> anyhow::Result<DateTime<Utc>> {
    let raw = value
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("not a time: {value}"))?;
    Ok(DateTime::parse_from_rfc3339(raw)?.with_timezone(&Utc))
}

async fn schedule(app: &TestApp, token: &str, body: &Value) -> anyhow::Result<Value> {
    expect_json(
        app.post_json("/api/v1/scheduled-calls", body, Some(token))
            .await?,
        201,
    )
    .await
}

async fn scheduled_call(app: &TestApp, token: &str, id: &str) -> anyhow::Result<Value> {
    expect_json(
        app.get(&format!("/api/v1/scheduled-calls/{id}"), Some(token))
            .await?,
        200,
    )
    .await
}

/// This instance's finished scheduler passes, from `/metrics`.
async fn scheduler_passes(app: &TestApp) -> anyhow::Result<u64> {
    let text = app.get("/metrics", None).await?.text().await?;
    text.lines()
        .find_map(|line| line.strip_prefix("scheduler_passes_total "))
        .ok_or_else(|| anyhow::anyhow!("no scheduler_passes_total in /metrics"))?
        .trim()
        .parse()
        .map_err(Into::into)
}

/// Waits for two more finished scheduler passes: the second began after this was called, so
/// the worker has looked at everything stored before.
async fn two_scheduler_passes(app: &TestApp) -> anyhow::Result<()> {
    let seen = scheduler_passes(app).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while scheduler_passes(app).await? < seen + 2 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the scheduler made no two passes"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    Ok(())
}

/// Polls the scheduled call until `done` holds for it, and returns it.
async fn wait_for(
    app: &TestApp,
    token: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let path = format!("/api/v1/scheduled-calls/{id}");
    get_until(app, &path, token, WAIT, what, done).await
}

fn fields(error: &Value) -> Vec<String> {
    error["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(ToOwned::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn scheduling_names_every_invalid_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let post = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.post_json("/api/v1/scheduled-calls", &body, Some(&token))
                .await
        }
    };

    let error = expect_error(
        post(json!({
            "phone_number": "555-0123",
            "scheduled_time": "next tuesday",
            "scenario": "no-such-scenario",
            "window": {"time_zone": "Mars/Olympus", "days": ["mon", "funday"], "start": "17:00", "end": "09:00"},
            "max_attempts": 0,
            "retry_delay_minutes": 5000,
        }))
        .await?,
        422,
    )
    .await?;
    let named = fields(&error);
    for field in [
        "phone_number",
        "scheduled_time",
        "scenario",
        "window.time_zone",
        "window.days",
        "window.end",
        "max_attempts",
        "retry_delay_minutes",
    ] {
        assert!(
            named.iter().any(|f| f == field),
            "{field} not named in {error}"
        );
    }

    let far = time(Utc::now() + Duration::days(400));
    let error = expect_error(
        post(json!({"phone_number": NUMBER, "scheduled_time": far, "agent_id": "not-an-agent"}))
            .await?,
        422,
    )
    .await?;
    assert_eq!(fields(&error), ["scheduled_time", "agent_id"]);

    let error = expect_error(
        post(json!({"phone_number": NUMBER, "window": {"days": ["mon"]}})).await?,
        422,
    )
    .await?;
    assert_eq!(fields(&error), ["window.start", "window.end"]);

    let error = expect_error(post(json!({"scenario": "sales"})).await?, 422).await?;
    assert_eq!(fields(&error), ["phone_number"]);
    let error = expect_error(
        post(json!({"phone_number": NUMBER, "numbers": [NUMBER]})).await?,
        422,
    )
    .await?;
    assert_eq!(fields(&error), ["numbers"]);
    let error = expect_error(
        post(json!({"numbers": ["+14155550100", "nope", {"phone_number": "+1 (415) 555-0100"}]}))
            .await?,
        422,
    )
    .await?;
    assert_eq!(
        fields(&error),
        ["numbers[1].phone_number", "numbers[2].phone_number"],
        "a bad number and a repeated one: {error}"
    );
    expect_error(post(json!({"numbers": []})).await?, 422).await?;
    expect_error(post(json!({"phone_number": 14155550123_u64})).await?, 422).await?;

    // Nothing was stored by any of these.
    let list = expect_json(app.get("/api/v1/scheduled-calls", Some(&token)).await?, 200).await?;
    assert_eq!(list["total"], 0);
    // And nobody schedules without signing in.
    expect_error(
        app.post_json("/schedule-call", &json!({"phone_number": NUMBER}), None)
            .await?,
        401,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn seed_003_schedules_a_call_that_only_its_organisation_sees() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let at = (Utc::now() + Duration::days(1))
        .with_nanosecond(0)
        .unwrap_or_default();
    let answer = expect_json(
        app.post_json(
            "/schedule-call",
            &json!({
                "phone_number": NUMBER,
                "scenario": "sales",
                "scheduled_time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            }),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(answer["message"], "Call scheduled successfully");
    assert_eq!(answer["status"], "pending");
    assert_eq!(answer["phone_number"], NUMBER);
    assert_eq!(answer["scenario"], "sales");
    assert_eq!(parse_time(&answer["scheduled_time"])?, at);
    let id = answer["id"].as_str().unwrap_or_default().to_owned();

    let call = scheduled_call(&app, &token, &id).await?;
    assert_eq!(call["status"], "pending");
    assert_eq!(parse_time(&call["due_at"])?, at);
    // The seed sets no window: none applies.
    assert!(call["window"].is_null(), "{call}");
    assert_eq!(call["max_attempts"], 1);
    assert_eq!(call["attempts"], json!([]));

    // A time in the past means now.
    let past = expect_json(
        app.post_json(
            "/schedule-call",
            &json!({"phone_number": NUMBER, "scenario": "support", "scheduled_time": "2024-01-15T14:00:00Z"}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    let scheduled_for = parse_time(&past["scheduled_time"])?;
    assert!(
        (Utc::now() - scheduled_for).num_seconds().abs() < 60,
        "{scheduled_for}"
    );

    // The seed's fields are checked together.
    let error = expect_error(
        app.post_json(
            "/schedule-call",
            &json!({"scenario": "karaoke", "scheduled_time": "soon"}),
            Some(&token),
        )
        .await?,
        422,
    )
    .await?;
    assert_eq!(
        fields(&error),
        ["phone_number", "scheduled_time", "scenario"]
    );

    let stranger = app.signed_in_user().await?;
    expect_error(
        app.get(&format!("/api/v1/scheduled-calls/{id}"), Some(&stranger))
            .await?,
        404,
    )
    .await?;
    expect_error(
        app.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/scheduled-calls/{id}"),
        )
        .bearer_auth(&stranger)
        .send()
        .await?,
        404,
    )
    .await?;
    let theirs = expect_json(
        app.get("/api/v1/scheduled-calls", Some(&stranger)).await?,
        200,
    )
    .await?;
    assert_eq!(theirs["total"], 0);
    expect_error(
        app.get("/api/v1/scheduled-calls/not-an-id", Some(&token))
            .await?,
        404,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn campaigns_list_page_filter_and_cancel_only_pending_calls() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let at = Utc::now() + Duration::hours(3);
    let campaign = schedule(
        &app,
        &token,
        &json!({
            "numbers": ["+14155550101", {"phone_number": "+14155550102", "customer_name": "Ada"}, "+14155550103"],
            "customer_name": "Friend",
            "scenario": "appointment",
            "scheduled_time": time(at),
            "max_attempts": 3,
            "retry_delay_minutes": 15,
            "window": {"time_zone": "UTC", "start": "00:00", "end": "23:59"},
        }),
    )
    .await?;
    assert_eq!(campaign["total"], 3);
    let campaign_id = campaign["campaign_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let items = campaign["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["customer_name"], "Friend");
    assert_eq!(items[1]["customer_name"], "Ada");
    for item in &items {
        assert_eq!(item["campaign_id"], campaign_id.as_str());
        assert_eq!(item["max_attempts"], 3);
        assert_eq!(item["retry_delay_minutes"], 15);
        assert_eq!(item["window"]["days"].as_array().map(Vec::len), Some(7));
    }
    let single = schedule(
        &app,
        &token,
        &json!({"phone_number": NUMBER, "scheduled_time": time(at - Duration::hours(1))}),
    )
    .await?;
    assert!(single["campaign_id"].is_null());

    let all = expect_json(
        app.get("/api/v1/scheduled-calls?page_size=2", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(all["total"], 4);
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
    // Soonest due first: the single call is an hour earlier.
    assert_eq!(all["items"][0]["id"], single["id"]);
    let second_page = expect_json(
        app.get("/api/v1/scheduled-calls?page=2&page_size=2", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(second_page["items"].as_array().map(Vec::len), Some(2));
    let of_campaign = expect_json(
        app.get(
            &format!("/api/v1/scheduled-calls?campaign_id={campaign_id}"),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(of_campaign["total"], 3);

    let id = items[0]["id"].as_str().unwrap_or_default();
    let cancel = || {
        app.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/scheduled-calls/{id}"),
        )
        .bearer_auth(&token)
        .send()
    };
    let canceled = expect_json(cancel().await?, 200).await?;
    assert_eq!(canceled["status"], "canceled");
    // Canceling twice answers the same.
    assert_eq!(
        expect_json(cancel().await?, 200).await?["status"],
        "canceled"
    );
    let by_status = |status: &str| {
        app.request(reqwest::Method::GET, "/api/v1/scheduled-calls")
            .query(&[("status", status)])
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(
        expect_json(by_status("canceled").await?, 200).await?["total"],
        1
    );
    assert_eq!(
        expect_json(by_status("pending").await?, 200).await?["total"],
        3
    );
    expect_error(by_status("ringing").await?, 422).await?;
    expect_error(
        app.get("/api/v1/scheduled-calls?campaign_id=nope", Some(&token))
            .await?,
        422,
    )
    .await?;
    expect_error(
        app.get("/api/v1/scheduled-calls?page_size=500", Some(&token))
            .await?,
        422,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_due_call_without_telephony_fails_its_attempts_with_the_reason() -> anyhow::Result<()> {
    let app = scheduling_app().await?;
    let token = app.signed_in_user().await?;
    let now = app.clock().now();
    let call = schedule(
        &app,
        &token,
        &json!({
            "phone_number": NUMBER,
            "scenario": "sales",
            "scheduled_time": time(now + Duration::minutes(5)),
            "max_attempts": 2,
            "retry_delay_minutes": 1,
        }),
    )
    .await?;
    let id = call["id"].as_str().unwrap_or_default().to_owned();
    // Not due yet: the worker leaves it alone however often it looks.
    two_scheduler_passes(&app).await?;
    let waiting = scheduled_call(&app, &token, &id).await?;
    assert_eq!(waiting["status"], "pending");
    assert_eq!(waiting["attempts"], json!([]));

    app.clock().advance(Duration::minutes(5));
    let retried = wait_for(&app, &token, &id, "the first attempt", |c| {
        c["attempts"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await?;
    assert_eq!(retried["status"], "pending", "{retried}");
    let attempt = &retried["attempts"][0];
    assert_eq!(attempt["number"], 1);
    assert_eq!(attempt["outcome"], "failed");
    assert!(
        attempt["detail"].as_str().is_some_and(
            |d| d.contains("telephony not configured") && d.contains("TWILIO_ACCOUNT_SID")
        ),
        "{attempt}"
    );
    assert!(attempt["call_id"].is_null());
    // The retry is a minute after the failure.
    let failed_at = parse_time(&attempt["ended_at"])?;
    assert_eq!(
        parse_time(&retried["due_at"])?,
        failed_at + Duration::minutes(1)
    );

    app.clock().advance(Duration::minutes(1));
    let failed = wait_for(&app, &token, &id, "the last attempt", |c| {
        c["status"] == "failed"
    })
    .await?;
    assert_eq!(failed["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(failed["attempts"][1]["outcome"], "failed");
    // A call that has failed can no longer be canceled.
    expect_error(
        app.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/scheduled-calls/{id}"),
        )
        .bearer_auth(&token)
        .send()
        .await?,
        409,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_call_outside_its_window_waits_for_the_window() -> anyhow::Result<()> {
    let app = scheduling_app().await?;
    let token = app.signed_in_user().await?;
    let now = app.clock().now();
    // An hour of the UTC day that is not now.
    let (start, end) = if now.hour() < 12 {
        ("13:00", "14:00")
    } else {
        ("01:00", "02:00")
    };
    let opening_hour = if now.hour() < 12 { 13 } else { 1 };
    let mut opens = now
        .with_hour(opening_hour)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .ok_or_else(|| anyhow::anyhow!("no such time"))?;
    if opens <= now {
        opens += Duration::days(1);
    }
    let call = schedule(
        &app,
        &token,
        &json!({
            "phone_number": NUMBER,
            "window": {"time_zone": "UTC", "start": start, "end": end},
        }),
    )
    .await?;
    assert_eq!(parse_time(&call["due_at"])?, opens, "{call}");
    let id = call["id"].as_str().unwrap_or_default().to_owned();
    two_scheduler_passes(&app).await?;
    let waiting = scheduled_call(&app, &token, &id).await?;
    assert_eq!(waiting["status"], "pending");
    assert_eq!(waiting["attempts"], json!([]));

    // Once the window opens the worker tries it (and, without telephony, fails it).
    let until_open = opens - now;
    app.clock().advance(until_open);
    let tried = wait_for(&app, &token, &id, "the attempt in the window", |c| {
        c["status"] == "failed"
    })
    .await?;
    assert_eq!(tried["attempts"].as_array().map(Vec::len), Some(1));
    Ok(())
}

/// Speech, a language model and Twilio, all faked; the servers are built by the caller.
struct Providers {
    openai: FakeOpenAi,
    elevenlabs: FakeElevenLabs,
    twilio: FakeTwilio,
}

impl Providers {
    async fn start() -> anyhow::Result<Self> {
        Ok(Self {
            openai: FakeOpenAi::start().await?,
            elevenlabs: FakeElevenLabs::start().await?,
            twilio: FakeTwilio::start().await?,
        })
    }

    /// A server placing calls through the fakes, its scheduler polling often.
    fn server(&self) -> TestAppBuilder {
        TestApp::builder()
            .with_openai(&self.openai)
            .with_elevenlabs(&self.elevenlabs)
            .with_twilio_rest(&self.twilio)
            .env("SCHEDULER_POLL_MS", "20")
            .env("ACCESS_TOKEN_TTL_SECS", "86400")
    }
}

/// An agent that greets by itself.
async fn agent(app: &TestApp, token: &str) -> anyhow::Result<String> {
    let agent = expect_json(
        app.post_json(
            "/api/v1/agents",
            &json!({
                "name": "Ava",
                "system_prompt": "You confirm appointments.",
                "first_message": "Hi, this is Ava from the clinic.",
            }),
            Some(token),
        )
        .await?,
        201,
    )
    .await?;
    Ok(agent["id"].as_str().unwrap_or_default().to_owned())
}

/// Twilio's status callback for `sid`, signed for the address Twilio was given (`PUBLIC_URL`).
async fn report(app: &TestApp, sid: &str, status: &str) -> anyhow::Result<()> {
    let params = [("CallSid", sid), ("CallStatus", status)];
    let signature = twilio_signature(&format!("{PUBLIC_URL}/telephony/twilio/status"), &params);
    let response = app
        .request(reqwest::Method::POST, "/telephony/twilio/status")
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 204,
        "status callback: {}",
        response.status()
    );
    Ok(())
}

#[tokio::test]
async fn a_due_call_is_dialled_through_twilio_retried_when_busy_and_done_when_completed()
-> anyhow::Result<()> {
    let providers = Providers::start().await?;
    let app = providers
        .server()
        .with_manual_clock()
        .env("PUBLIC_URL", PUBLIC_URL)
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let agent = agent(&app, &token).await?;
    let now = app.clock().now();
    let scheduled = schedule(
        &app,
        &token,
        &json!({
            "phone_number": NUMBER,
            "customer_name": "Ada",
            "agent_id": agent,
            "scheduled_time": time(now + Duration::minutes(2)),
            "max_attempts": 2,
            "retry_delay_minutes": 1,
        }),
    )
    .await?;
    let id = scheduled["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(scheduled["agent_id"], agent.as_str());
    two_scheduler_passes(&app).await?;
    assert!(
        providers.twilio.dials().is_empty(),
        "dialled before it was due"
    );

    app.clock().advance(Duration::minutes(2));
    anyhow::ensure!(
        providers.twilio.wait_for_dials(1, WAIT).await,
        "the due call was never dialled"
    );
    let dialing = wait_for(&app, &token, &id, "the first attempt's call", |c| {
        c["status"] == "dialing" && c["call_id"].is_string()
    })
    .await?;
    let call_id = dialing["call_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(dialing["attempts"][0]["call_id"], call_id.as_str());
    assert!(dialing["attempts"][0]["outcome"].is_null());
    let dial = providers.twilio.dials()[0].clone();
    assert_eq!(dial.form.get("To"), Some(NUMBER));
    assert_eq!(dial.form.get("From"), Some(FAKE_TWILIO_PHONE_NUMBER));
    assert_eq!(
        dial.form.get("StatusCallback"),
        Some(format!("{PUBLIC_URL}/telephony/twilio/status").as_str())
    );
    let stream = TwimlStream::from_twiml(dial.twiml().unwrap_or_default())?;
    assert_eq!(stream.url, "wss://switchboard.test/telephony/twilio/media");
    assert_eq!(stream.parameter("call_id"), Some(call_id.as_str()));
    let sid = dial.sid.clone().unwrap_or_default();
    let call = expect_json(
        app.get(&format!("/api/v1/calls/{call_id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(call["provider_call_id"], sid.as_str());
    assert_eq!(call["direction"], "outbound");
    assert_eq!(call["customer_name"], "Ada");

    // Busy: the attempt ends, and the second is due a minute later.
    report(&app, &sid, "busy").await?;
    let retry = wait_for(&app, &token, &id, "the busy attempt settled", |c| {
        c["status"] == "pending"
    })
    .await?;
    assert_eq!(retry["attempts"][0]["outcome"], "busy");
    assert_eq!(providers.twilio.dials().len(), 1);
    app.clock().advance(Duration::minutes(1));
    anyhow::ensure!(
        providers.twilio.wait_for_dials(2, WAIT).await,
        "the retry was never dialled"
    );
    let second = wait_for(&app, &token, &id, "the second attempt's call", |c| {
        c["status"] == "dialing" && c["attempts"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await?;
    let second_call = second["call_id"].as_str().unwrap_or_default().to_owned();
    assert_ne!(second_call, call_id);

    // This time the callee answers: Twilio opens the media stream the dial named (here, at the
    // test server's own address) and the agent greets.
    let dial = providers.twilio.dials()[1].clone();
    let stream = TwimlStream::from_twiml(dial.twiml().unwrap_or_default())?;
    let local = TwimlStream {
        url: format!("ws://127.0.0.1:{}/telephony/twilio/media", app.port),
        parameters: stream.parameters.clone(),
    };
    let sid = dial.sid.clone().unwrap_or_default();
    let mut media = TwilioCall::connect(&local, &sid).await?;
    media.silence(400).await?;
    media
        .wait_for("the greeting", WAIT, |heard| {
            (!heard.marks().is_empty()).then_some(())
        })
        .await?;
    report(&app, &sid, "completed").await?;
    let done = wait_for(&app, &token, &id, "the scheduled call done", |c| {
        c["status"] == "done"
    })
    .await?;
    assert_eq!(done["attempts"][1]["outcome"], "completed");
    assert_eq!(done["call_id"], second_call.as_str());
    assert_eq!(providers.twilio.dials().len(), 2);
    Ok(())
}

#[tokio::test]
async fn without_public_url_a_due_call_fails_saying_so() -> anyhow::Result<()> {
    let providers = Providers::start().await?;
    let app = providers.server().spawn().await?;
    let token = app.signed_in_user().await?;
    agent(&app, &token).await?;
    let scheduled = schedule(&app, &token, &json!({"phone_number": NUMBER})).await?;
    let id = scheduled["id"].as_str().unwrap_or_default().to_owned();
    let failed = wait_for(&app, &token, &id, "the attempt", |c| {
        c["status"] == "failed"
    })
    .await?;
    assert!(
        failed["attempts"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("PUBLIC_URL")),
        "{failed}"
    );
    assert!(providers.twilio.dials().is_empty());
    Ok(())
}

#[tokio::test]
async fn two_instances_on_one_database_dial_each_scheduled_call_once() -> anyhow::Result<()> {
    let providers = Providers::start().await?;
    let first = providers
        .server()
        .database(TestDatabaseKind::Postgres)
        .env("PUBLIC_URL", PUBLIC_URL)
        .env("CALL_CONCURRENCY_PER_ORG", "1000")
        .spawn()
        .await?;
    if first.database_kind != TestDatabaseKind::Postgres {
        eprintln!("skipped: two instances share a PostgreSQL database, and none is reachable");
        return Ok(());
    }
    let second = providers
        .server()
        .same_database_as(&first)
        .env("PUBLIC_URL", PUBLIC_URL)
        .env("CALL_CONCURRENCY_PER_ORG", "1000")
        .spawn()
        .await?;
    let token = first.signed_in_user().await?;
    agent(&first, &token).await?;
    let numbers: Vec<String> = (0..200).map(|i| format!("+1415555{i:04}")).collect();
    let campaign = schedule(&first, &token, &json!({"numbers": numbers})).await?;
    assert_eq!(campaign["total"], 200);
    let campaign_id = campaign["campaign_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Both workers claim from the moment the campaign is stored. Wait until every scheduled
    // call has its placed call (claimed ones are `dialing` before that).
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(90);
    loop {
        let mut placed = 0;
        for page in ["1", "2"] {
            let list = expect_json(
                second
                    .request(reqwest::Method::GET, "/api/v1/scheduled-calls")
                    .query(&[
                        ("campaign_id", campaign_id.as_str()),
                        ("page", page),
                        ("page_size", "100"),
                    ])
                    .bearer_auth(&token)
                    .send()
                    .await?,
                200,
            )
            .await?;
            placed += list["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter(|c| c["status"] == "dialing" && c["call_id"].is_string())
                        .count()
                })
                .unwrap_or(0);
        }
        if placed == 200 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not every call was placed: {placed} placed, {} dials",
            providers.twilio.dials().len()
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    // Placed calls are never claimed again, so the count is final.
    let dials = providers.twilio.dials();
    let dialled: std::collections::BTreeSet<&str> =
        dials.iter().filter_map(|d| d.form.get("To")).collect();
    assert_eq!(dials.len(), 200, "some number was dialled twice");
    assert_eq!(dialled.len(), 200);
    Ok(())
}

#[tokio::test]
async fn a_dialled_attempt_whose_end_twilio_never_reported_is_settled_by_the_reconciler()
-> anyhow::Result<()> {
    let providers = Providers::start().await?;
    let app = providers
        .server()
        .with_manual_clock()
        .env("PUBLIC_URL", PUBLIC_URL)
        .env("CALL_RECONCILE_AFTER_SECS", "600")
        .env("CALL_RECONCILE_POLL_SECS", "1")
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let agent = agent(&app, &token).await?;
    let now = app.clock().now();
    let scheduled = schedule(
        &app,
        &token,
        &json!({
            "phone_number": NUMBER,
            "agent_id": agent,
            "scheduled_time": time(now + Duration::minutes(1)),
            "max_attempts": 2,
        }),
    )
    .await?;
    let id = scheduled["id"].as_str().unwrap_or_default().to_owned();
    app.clock().advance(Duration::minutes(1));
    anyhow::ensure!(
        providers.twilio.wait_for_dials(1, WAIT).await,
        "the due call was never dialled"
    );
    wait_for(&app, &token, &id, "the attempt's call", |c| {
        c["status"] == "dialing" && c["call_id"].is_string()
    })
    .await?;
    // The call is answered and completed at Twilio; its callbacks never arrive.
    let sid = providers.twilio.dials()[0].sid.clone().unwrap_or_default();
    assert!(providers.twilio.update_call(&sid, |call| {
        call.status = "completed".into();
        call.duration_secs = Some(30);
    }));

    app.clock().advance(Duration::minutes(11));
    let done = wait_for(&app, &token, &id, "the attempt settled", |c| {
        c["status"] == "done"
    })
    .await?;
    assert_eq!(done["attempts"][0]["outcome"], "completed");
    assert_eq!(providers.twilio.dials().len(), 1, "never dialled again");
    Ok(())
}
