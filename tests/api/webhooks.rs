//! Outbound webhooks: subscriptions receive a call's events signed and exactly as documented,
//! failures are retried and logged, persistent failure and 410 disable a subscription, a
//! receiver that hangs never slows a call, queued deliveries survive a restart, secrets are
//! shown only once, and organisations never see each other's webhooks.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard_testkit::{Behaviour, ReceivedWebhook, TestApp, TestAppBuilder, WebhookReceiver};

use crate::support::{expect_error, expect_json, get_until};

const WAIT: Duration = Duration::from_secs(15);

/// Fast retries and polls, so failures are retried within milliseconds.
fn builder() -> TestAppBuilder {
    TestApp::builder()
        .env("SCHEDULER_POLL_MS", "20")
        .env("WEBHOOK_RETRY_BASE_MS", "30")
        .env("WEBHOOK_RETRY_MAX_MS", "200")
}

fn flow() -> Value {
    json!({
        "nodes": [
            {"id": "greet", "type": "message", "start": true, "data": {"text": "Hello!"}},
            {"id": "ask", "type": "question", "data": {"text": "How can I help?"}},
            {"id": "ack", "type": "message", "data": {"text": "Noted."}},
            {"id": "bye", "type": "end", "data": {"text": "Goodbye!"}}
        ],
        "edges": [
            {"id": "e1", "source": "greet", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "bye", "condition": {"type": "keywords", "any": ["bye"]}},
            {"id": "e3", "source": "ask", "target": "ack", "condition": {"type": "else"}},
            {"id": "e4", "source": "ack", "target": "ask"}
        ]
    })
}

async fn agent(app: &TestApp, token: &str) -> anyhow::Result<String> {
    let body = json!({"name": "Desk", "call_flow": flow()});
    let agent = expect_json(
        app.post_json("/api/v1/agents", &body, Some(token)).await?,
        201,
    )
    .await?;
    Ok(text(&agent, "id"))
}

fn text(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_default().to_owned()
}

async fn subscribe(
    app: &TestApp,
    token: &str,
    receiver: &WebhookReceiver,
    events: &[&str],
) -> anyhow::Result<Value> {
    expect_json(
        app.post_json(
            "/api/v1/webhooks",
            &json!({"url": receiver.url(), "events": events, "description": "CRM"}),
            Some(token),
        )
        .await?,
        201,
    )
    .await
}

/// A text call: started, one line from the caller that ends it, ended.
async fn text_call(app: &TestApp, token: &str, agent: &str) -> anyhow::Result<String> {
    let call = expect_json(
        app.post_json(
            "/api/v1/calls",
            &json!({"channel": "text", "agent_id": agent}),
            Some(token),
        )
        .await?,
        201,
    )
    .await?;
    let id = text(&call, "id");
    let turn = expect_json(
        app.post_json(
            &format!("/api/v1/calls/{id}/messages"),
            &json!({"message": "That is all, bye"}),
            Some(token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(turn["should_end_call"], true);
    Ok(id)
}

/// Checks a delivery's signature as docs/webhooks.md tells receivers to, independently of the
/// server's own code.
fn verify(secret: &str, request: &ReceivedWebhook) -> anyhow::Result<()> {
    let header = request
        .header("switchboard-signature")
        .ok_or_else(|| anyhow::anyhow!("no signature header"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>()?),
            Some(("v1", v)) => signatures.push(hex::decode(v)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| anyhow::anyhow!("no t= in {header}"))?;
    anyhow::ensure!(
        (chrono::Utc::now().timestamp() - timestamp).abs() <= 300,
        "signed {timestamp}, outside five minutes"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(format!("{timestamp}.{}", request.body).as_bytes());
    let expected = mac.finalize().into_bytes().to_vec();
    anyhow::ensure!(
        signatures.contains(&expected),
        "no v1 signature matches in {header}"
    );
    Ok(())
}

fn kinds(received: &[ReceivedWebhook]) -> Vec<String> {
    received.iter().map(|r| text(&r.json(), "type")).collect()
}

fn has(kind: &'static str) -> impl Fn(&[ReceivedWebhook]) -> bool {
    move |received| kinds(received).iter().any(|k| k == kind)
}

/// Polls the delivery log until `done` holds for it; the log, or an error at the deadline.
async fn log_until(
    app: &TestApp,
    token: &str,
    webhook: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let path = format!("/api/v1/webhooks/{webhook}/deliveries");
    get_until(app, &path, token, WAIT, "the delivery log's change", done).await
}

async fn webhook_until(
    app: &TestApp,
    token: &str,
    webhook: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let path = format!("/api/v1/webhooks/{webhook}");
    get_until(app, &path, token, WAIT, "the webhook's change", done).await
}

async fn patch(
    app: &TestApp,
    path: &str,
    body: &Value,
    token: &str,
) -> reqwest::Result<reqwest::Response> {
    app.request(Method::PATCH, path)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
}

#[tokio::test]
async fn a_text_call_is_delivered_signed_with_unique_event_ids() -> anyhow::Result<()> {
    let app = builder().spawn().await?;
    let token = app.signed_in_user().await?;
    let receiver = WebhookReceiver::start().await?;
    let webhook = subscribe(
        &app,
        &token,
        &receiver,
        &["call.started", "transcript.turn", "call.ended"],
    )
    .await?;
    let secret = text(&webhook, "secret");
    assert!(secret.starts_with("whsec_"), "{webhook}");
    let agent = agent(&app, &token).await?;
    let call = text_call(&app, &token, &agent).await?;

    assert!(
        receiver.wait_until(has("call.ended"), WAIT).await,
        "{:?}",
        kinds(&receiver.received())
    );
    let received = receiver.received();
    let mut ids = BTreeSet::new();
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/hooks");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(
            request
                .header("user-agent")
                .is_some_and(|ua| ua.starts_with("Switchboard-Webhooks/")),
            "{:?}",
            request.headers
        );
        verify(&secret, request)?;
        let body = request.json();
        assert_eq!(request.header("switchboard-event-id"), body["id"].as_str());
        assert_eq!(
            request.header("switchboard-event-type"),
            body["type"].as_str()
        );
        assert_eq!(body["call_id"], call.as_str());
        assert!(body["occurred_at"].is_string() && body["organization_id"].is_string());
        assert!(
            ids.insert(text(&body, "id")),
            "event ids are unique: {body}"
        );
    }
    // agent.updated (the agent was created) is not among what was asked for.
    let kinds = kinds(&received);
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("call.started"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("call.ended"),
        "{kinds:?}"
    );
    let turns = kinds.iter().filter(|k| *k == "transcript.turn").count();
    assert!(
        turns >= 2,
        "the greeting and the caller's line at least: {kinds:?}"
    );
    assert_eq!(turns + 2, kinds.len(), "{kinds:?}");

    let log = log_until(&app, &token, &text(&webhook, "id"), |log| {
        log["total"] == kinds.len()
            && log["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|d| d["status"] == "delivered"))
    })
    .await?;
    for delivery in log["items"].as_array().into_iter().flatten() {
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["last_status_code"], 200);
        assert!(ids.contains(&text(delivery, "event_id")));
    }
    Ok(())
}

#[tokio::test]
async fn each_subscription_gets_only_the_types_it_asked_for() -> anyhow::Result<()> {
    let app = builder().spawn().await?;
    let token = app.signed_in_user().await?;
    let ends = WebhookReceiver::start().await?;
    let agents = WebhookReceiver::start().await?;
    subscribe(&app, &token, &ends, &["call.ended"]).await?;
    subscribe(&app, &token, &agents, &["agent.updated"]).await?;
    let agent = agent(&app, &token).await?;
    text_call(&app, &token, &agent).await?;
    text_call(&app, &token, &agent).await?;

    assert!(ends.wait_for(2, WAIT).await);
    assert!(agents.wait_for(1, WAIT).await);
    // A ping sent after everything else is the last request each gets: nothing else is queued.
    for receiver in [&ends, &agents] {
        let list = expect_json(app.get("/api/v1/webhooks", Some(&token)).await?, 200).await?;
        let id = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|w| w["url"] == receiver.url())
            .map(|w| text(w, "id"))
            .unwrap_or_default();
        expect_json(
            app.post_json(
                &format!("/api/v1/webhooks/{id}/test"),
                &json!({}),
                Some(&token),
            )
            .await?,
            202,
        )
        .await?;
        assert!(receiver.wait_until(has("ping"), WAIT).await);
    }
    assert_eq!(
        kinds(&ends.received()),
        ["call.ended", "call.ended", "ping"]
    );
    assert_eq!(kinds(&agents.received()), ["agent.updated", "ping"]);
    Ok(())
}

#[tokio::test]
async fn failed_attempts_are_retried_with_the_same_event_id_and_logged() -> anyhow::Result<()> {
    let app = builder().spawn().await?;
    let token = app.signed_in_user().await?;
    let receiver = WebhookReceiver::start().await?;
    receiver.fail_next(2, 500);
    let webhook = subscribe(&app, &token, &receiver, &["call.ended"]).await?;
    let id = text(&webhook, "id");
    let ping = expect_json(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/test"),
            &json!({}),
            Some(&token),
        )
        .await?,
        202,
    )
    .await?;
    assert_eq!(ping["event_type"], "ping");
    assert_eq!(ping["status"], "pending");

    assert!(receiver.wait_for(3, WAIT).await);
    let received = receiver.received();
    let events: BTreeSet<_> = received
        .iter()
        .map(|r| {
            r.header("switchboard-event-id")
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(events.len(), 1, "every attempt carries the same event id");
    assert!(events.contains(&text(&ping, "event_id")));
    let log = log_until(&app, &token, &id, |log| {
        log["items"][0]["status"] == "delivered"
    })
    .await?;
    let delivery = &log["items"][0];
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status_code"], 200);
    assert!(delivery["delivered_at"].is_string());
    assert_eq!(delivery["payload"]["type"], "ping");
    Ok(())
}

#[tokio::test]
async fn a_receiver_failing_every_attempt_is_disabled_until_enabled_again() -> anyhow::Result<()> {
    let app = builder().env("WEBHOOK_MAX_ATTEMPTS", "3").spawn().await?;
    let token = app.signed_in_user().await?;
    let receiver = WebhookReceiver::start().await?;
    receiver.always(Behaviour::Answer(503));
    let webhook = subscribe(&app, &token, &receiver, &["call.ended"]).await?;
    let id = text(&webhook, "id");
    let ping = expect_json(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/test"),
            &json!({}),
            Some(&token),
        )
        .await?,
        202,
    )
    .await?;

    let log = log_until(&app, &token, &id, |log| {
        log["items"][0]["status"] == "failed"
    })
    .await?;
    assert_eq!(log["items"][0]["attempts"], 3);
    assert_eq!(log["items"][0]["last_status_code"], 503);
    assert!(text(&log["items"][0], "last_error").contains("503"));
    let disabled = webhook_until(&app, &token, &id, |w| w["enabled"] == false).await?;
    assert!(
        text(&disabled, "disabled_reason").contains("3 attempts"),
        "{disabled}"
    );
    assert!(disabled["disabled_at"].is_string());
    assert_eq!(receiver.received().len(), 3);
    let failed = expect_json(
        app.get(
            &format!("/api/v1/webhooks/{id}/deliveries?status=failed"),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(failed["total"], 1);

    // Disabled, it takes nothing: not a test event, and no event of a call.
    expect_error(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/test"),
            &json!({}),
            Some(&token),
        )
        .await?,
        409,
    )
    .await?;
    let agent = agent(&app, &token).await?;
    text_call(&app, &token, &agent).await?;

    // Enabled again and retried by hand, the failed delivery gets through.
    receiver.always(Behaviour::Answer(200));
    let enabled = expect_json(
        patch(
            &app,
            &format!("/api/v1/webhooks/{id}"),
            &json!({"enabled": true}),
            &token,
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);
    let retried = expect_json(
        app.post_json(
            &format!(
                "/api/v1/webhooks/{id}/deliveries/{}/retry",
                text(&ping, "id")
            ),
            &json!({}),
            Some(&token),
        )
        .await?,
        202,
    )
    .await?;
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["attempts"], 0);
    let log = log_until(&app, &token, &id, |log| {
        log["items"][0]["status"] == "delivered"
    })
    .await?;
    assert_eq!(
        log["total"], 1,
        "nothing of the call was queued while disabled: {log}"
    );
    assert_eq!(kinds(&receiver.received()), ["ping"; 4]);
    Ok(())
}

#[tokio::test]
async fn gone_disables_the_subscription_at_once() -> anyhow::Result<()> {
    let app = builder().spawn().await?;
    let token = app.signed_in_user().await?;
    let receiver = WebhookReceiver::start().await?;
    receiver.always(Behaviour::Answer(410));
    let webhook = subscribe(&app, &token, &receiver, &["call.ended"]).await?;
    let id = text(&webhook, "id");
    app.post_json(
        &format!("/api/v1/webhooks/{id}/test"),
        &json!({}),
        Some(&token),
    )
    .await?;

    let disabled = webhook_until(&app, &token, &id, |w| w["enabled"] == false).await?;
    assert!(
        text(&disabled, "disabled_reason").contains("410"),
        "{disabled}"
    );
    let log = log_until(&app, &token, &id, |log| {
        log["items"][0]["status"] == "failed"
    })
    .await?;
    assert_eq!(log["items"][0]["attempts"], 1);
    assert_eq!(log["items"][0]["last_status_code"], 410);
    assert_eq!(receiver.received().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_hanging_receiver_never_slows_a_call() -> anyhow::Result<()> {
    let app = builder().env("WEBHOOK_TIMEOUT_MS", "60000").spawn().await?;
    let token = app.signed_in_user().await?;
    let receiver = WebhookReceiver::start().await?;
    receiver.always(Behaviour::Hang);
    subscribe(
        &app,
        &token,
        &receiver,
        &["call.started", "transcript.turn", "call.ended"],
    )
    .await?;
    let agent = agent(&app, &token).await?;

    let first = text_call(&app, &token, &agent).await?;
    assert!(
        receiver.wait_for(1, WAIT).await,
        "the receiver holds a delivery"
    );
    // Every delivery of the first call is stuck in the receiver; a second call runs as fast.
    let started = Instant::now();
    let second =
        tokio::time::timeout(Duration::from_secs(5), text_call(&app, &token, &agent)).await??;
    assert!(started.elapsed() < Duration::from_secs(5));
    for call in [&first, &second] {
        let stored = expect_json(
            app.get(&format!("/api/v1/calls/{call}"), Some(&token))
                .await?,
            200,
        )
        .await?;
        assert_eq!(stored["status"], "completed", "{stored}");
    }
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.behaviour == Behaviour::Hang),
        "nothing has been answered yet"
    );

    receiver.release();
    let ended_twice = |received: &[ReceivedWebhook]| {
        kinds(received)
            .iter()
            .filter(|k| *k == "call.ended")
            .count()
            == 2
    };
    assert!(receiver.wait_until(ended_twice, WAIT).await);
    Ok(())
}

#[tokio::test]
async fn queued_deliveries_survive_a_restart() -> anyhow::Result<()> {
    let receiver = WebhookReceiver::start().await?;
    receiver.always(Behaviour::Answer(503));
    // The first attempt fails and the next is due a second later: the server stops before.
    let mut first = builder()
        .env("WEBHOOK_RETRY_BASE_MS", "1000")
        .env("WEBHOOK_RETRY_MAX_MS", "1000")
        .spawn()
        .await?;
    let token = first.signed_in_user().await?;
    let webhook = subscribe(&first, &token, &receiver, &["call.ended"]).await?;
    let id = text(&webhook, "id");
    let ping = expect_json(
        first
            .post_json(
                &format!("/api/v1/webhooks/{id}/test"),
                &json!({}),
                Some(&token),
            )
            .await?,
        202,
    )
    .await?;
    assert!(receiver.wait_for(1, WAIT).await);
    first.stop().await;
    assert_eq!(receiver.received().len(), 1);

    receiver.always(Behaviour::Answer(200));
    let second = builder().same_database_as(&first).spawn().await?;
    assert!(
        receiver.wait_for(2, WAIT).await,
        "the new server sends what the old one queued"
    );
    let log = log_until(&second, &token, &id, |log| {
        log["items"][0]["status"] == "delivered"
    })
    .await?;
    assert_eq!(log["items"][0]["id"], ping["id"]);
    assert_eq!(log["items"][0]["attempts"], 2);
    let ids: BTreeSet<_> = receiver
        .received()
        .iter()
        .map(|r| {
            r.header("switchboard-event-id")
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    Ok(())
}

#[tokio::test]
async fn secrets_are_shown_only_when_created_or_rotated() -> anyhow::Result<()> {
    let app = builder().spawn().await?;
    let token = app.signed_in_user().await?;
    let receiver = WebhookReceiver::start().await?;
    let chosen = "my-own-secret-that-is-long-enough";
    let webhook = expect_json(
        app.post_json(
            "/api/v1/webhooks",
            &json!({"url": receiver.url(), "events": ["call.ended"], "secret": chosen}),
            Some(&token),
        )
        .await?,
        201,
    )
    .await?;
    assert_eq!(webhook["secret"], chosen);
    let id = text(&webhook, "id");
    for path in [
        "/api/v1/webhooks".to_owned(),
        format!("/api/v1/webhooks/{id}"),
    ] {
        let answer = app.get(&path, Some(&token)).await?.text().await?;
        assert!(!answer.contains(chosen), "{path}: {answer}");
        assert!(!answer.contains("\"secret\""), "{path}: {answer}");
    }
    let updated = patch(
        &app,
        &format!("/api/v1/webhooks/{id}"),
        &json!({"description": "x"}),
        &token,
    )
    .await?
    .text()
    .await?;
    assert!(!updated.contains(chosen), "{updated}");

    let rotated = expect_json(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &json!({}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    let secret = text(&rotated, "secret");
    assert!(secret.starts_with("whsec_") && secret != chosen);
    app.post_json(
        &format!("/api/v1/webhooks/{id}/test"),
        &json!({}),
        Some(&token),
    )
    .await?;
    assert!(receiver.wait_for(1, WAIT).await);
    verify(&secret, &receiver.received()[0])?;
    assert!(verify(chosen, &receiver.received()[0]).is_err());
    Ok(())
}

#[tokio::test]
async fn another_organisation_can_neither_see_nor_touch_a_webhook() -> anyhow::Result<()> {
    let app = builder().spawn().await?;
    let owner = app.signed_in_user().await?;
    let stranger = app.signed_in_user().await?;
    let receiver = WebhookReceiver::start().await?;
    let webhook = subscribe(&app, &owner, &receiver, &["call.ended"]).await?;
    let id = text(&webhook, "id");
    let ping = expect_json(
        app.post_json(
            &format!("/api/v1/webhooks/{id}/test"),
            &json!({}),
            Some(&owner),
        )
        .await?,
        202,
    )
    .await?;
    let delivery = text(&ping, "id");

    let list = expect_json(app.get("/api/v1/webhooks", Some(&stranger)).await?, 200).await?;
    assert_eq!(list["total"], 0);
    expect_error(
        app.get(&format!("/api/v1/webhooks/{id}"), Some(&stranger))
            .await?,
        404,
    )
    .await?;
    expect_error(
        app.get(
            &format!("/api/v1/webhooks/{id}/deliveries"),
            Some(&stranger),
        )
        .await?,
        404,
    )
    .await?;
    expect_error(
        patch(
            &app,
            &format!("/api/v1/webhooks/{id}"),
            &json!({"enabled": false}),
            &stranger,
        )
        .await?,
        404,
    )
    .await?;
    for action in [
        "rotate-secret",
        "test",
        &format!("deliveries/{delivery}/retry"),
    ] {
        expect_error(
            app.post_json(
                &format!("/api/v1/webhooks/{id}/{action}"),
                &json!({}),
                Some(&stranger),
            )
            .await?,
            404,
        )
        .await?;
    }
    expect_error(
        app.request(Method::DELETE, &format!("/api/v1/webhooks/{id}"))
            .bearer_auth(&stranger)
            .send()
            .await?,
        404,
    )
    .await?;
    expect_error(app.get("/api/v1/webhooks", None).await?, 401).await?;

    let mine = expect_json(
        app.get(&format!("/api/v1/webhooks/{id}"), Some(&owner))
            .await?,
        200,
    )
    .await?;
    assert_eq!(mine["enabled"], true);
    let deleted = app
        .request(Method::DELETE, &format!("/api/v1/webhooks/{id}"))
        .bearer_auth(&owner)
        .send()
        .await?;
    assert_eq!(deleted.status(), 200);
    expect_error(
        app.get(&format!("/api/v1/webhooks/{id}"), Some(&owner))
            .await?,
        404,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn bad_subscriptions_are_refused_naming_their_fields() -> anyhow::Result<()> {
    let app = builder().spawn().await?;
    let token = app.signed_in_user().await?;
    let refused = |body: Value| {
        let app = &app;
        let token = &token;
        async move {
            expect_error(
                app.post_json("/api/v1/webhooks", &body, Some(token))
                    .await?,
                422,
            )
            .await
        }
    };
    let missing = refused(json!({})).await?;
    let detail = text(&missing, "detail");
    assert!(
        detail.contains("url") && detail.contains("events"),
        "{missing}"
    );
    for (body, field) in [
        (
            json!({"url": "ftp://example.com/x", "events": ["call.ended"]}),
            "url",
        ),
        (
            json!({"url": "https://user:pw@example.com/x", "events": ["call.ended"]}),
            "url",
        ),
        (json!({"url": "/relative", "events": ["call.ended"]}), "url"),
        (
            json!({"url": "https://example.com/x", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://example.com/x", "events": ["call.exploded"]}),
            "events",
        ),
        (
            json!({"url": "https://example.com/x", "events": ["call.ended"], "secret": "short"}),
            "secret",
        ),
    ] {
        let error = refused(body.clone()).await?;
        assert!(text(&error, "detail").contains(field), "{body} -> {error}");
    }
    expect_error(
        app.request(Method::POST, "/api/v1/webhooks")
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await?,
        400,
    )
    .await?;

    for n in 0..20 {
        let url = format!("https://hooks.example.com/{n}");
        expect_json(
            app.post_json(
                "/api/v1/webhooks",
                &json!({"url": url, "events": ["call.ended"]}),
                Some(&token),
            )
            .await?,
            201,
        )
        .await?;
    }
    expect_error(
        app.post_json(
            "/api/v1/webhooks",
            &json!({"url": "https://hooks.example.com/21", "events": ["call.ended"]}),
            Some(&token),
        )
        .await?,
        409,
    )
    .await?;
    let list = expect_json(
        app.get("/api/v1/webhooks?page_size=5", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(
        (
            list["total"].as_u64(),
            list["items"].as_array().map(Vec::len)
        ),
        (Some(20), Some(5))
    );
    let id = text(&list["items"][0], "id");
    let error = expect_error(
        app.get(
            &format!("/api/v1/webhooks/{id}/deliveries?status=lost"),
            Some(&token),
        )
        .await?,
        422,
    )
    .await?;
    assert!(text(&error, "detail").contains("status"));
    expect_error(
        app.post_json(
            &format!(
                "/api/v1/webhooks/{id}/deliveries/{}/retry",
                uuid::Uuid::new_v4()
            ),
            &json!({}),
            Some(&token),
        )
        .await?,
        404,
    )
    .await?;
    let error = expect_error(
        patch(
            &app,
            &format!("/api/v1/webhooks/{id}"),
            &json!({"secret": "another-long-enough-secret!"}),
            &token,
        )
        .await?,
        422,
    )
    .await?;
    assert!(text(&error, "detail").contains("rotate-secret"), "{error}");
    expect_error(
        app.get("/api/v1/webhooks/not-an-id", Some(&token)).await?,
        404,
    )
    .await?;
    Ok(())
}
