//! Post-call analysis seen from outside: calls that end are analysed in the background (by the
//! language model when one is configured, else by the lexicon analyser), the analysis shows in
//! every call view, the seeds' sentiment and category filters find it, and a model that keeps
//! failing leaves the call whole with `analysis_status: failed`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_testkit::{FakeOpenAi, Reply, TestApp, TestAppBuilder};

use crate::support::{expect_error, expect_json};

/// How long a test waits for the worker; it polls every 20 ms, so this is generous.
const DEADLINE: Duration = Duration::from_secs(20);

fn text(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_default().to_owned()
}

/// A server whose worker polls often and retries at once.
fn quick_worker() -> TestAppBuilder {
    TestApp::builder()
        .env("SCHEDULER_POLL_MS", "20")
        .env("ANALYSIS_RETRY_BASE_MS", "1")
}

/// Reads the call until its analysis is no longer pending.
async fn analysed(app: &TestApp, token: &str, id: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let call = expect_json(
            app.get(&format!("/api/v1/calls/{id}"), Some(token)).await?,
            200,
        )
        .await?;
        if call["analysis_status"] != "pending" {
            return Ok(call);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the call's analysis was still pending after {DEADLINE:?}: {call}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn post(
    app: &TestApp,
    path: &str,
    body: &Value,
    token: &str,
    status: u16,
) -> anyhow::Result<Value> {
    expect_json(app.post_json(path, body, Some(token)).await?, status).await
}

async fn get(app: &TestApp, path: &str, token: &str) -> anyhow::Result<Value> {
    expect_json(app.get(path, Some(token)).await?, 200).await
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| text(c, "id"))
        .collect()
}

#[tokio::test]
async fn a_call_ended_over_the_api_is_analysed_by_the_model_and_found_by_its_sentiment()
-> anyhow::Result<()> {
    let model = FakeOpenAi::start().await?;
    let app = quick_worker().with_openai(&model).spawn().await?;
    let token = app.signed_in_user().await?;

    let bad = app
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Ava", "analysis_schema": {"type": "object", "properties": {"n": {"type": "float"}}}}),
            Some(&token),
        )
        .await?;
    let body = expect_error(bad, 422).await?;
    assert_eq!(
        body["errors"][0]["field"],
        "analysis_schema.properties.n.type"
    );

    let schema = json!({
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "wants_refund": {"type": "boolean"}},
        "required": ["order_id"]
    });
    let agent = post(
        &app,
        "/api/v1/agents",
        &json!({"name": "Ava", "first_message": "Acme support, how can I help?", "analysis_schema": schema}),
        &token,
        201,
    )
    .await?;
    assert_eq!(agent["analysis_schema"], schema);
    let call = post(
        &app,
        "/api/v1/calls",
        &json!({"agent_id": text(&agent, "id")}),
        &token,
        201,
    )
    .await?;
    let id = text(&call, "id");
    assert_eq!(
        call["analysis_status"],
        Value::Null,
        "a live call has no analysis"
    );

    model.enqueue(Reply::text("I am sorry. I will send a replacement today."));
    post(
        &app,
        &format!("/api/v1/calls/{id}/messages"),
        &json!({"message": "My order A-17 never arrived and I am really upset."}),
        &token,
        200,
    )
    .await?;
    let analysis = json!({
        "summary": "Order A-17 never arrived; the agent promised a replacement.",
        "sentiment": "negative",
        "sentiment_score": -0.6,
        "category": "Order Status",
        "resolution": "resolved",
        "key_topics": ["missing order", "replacement"],
        "action_items": ["Ship a replacement for order A-17"],
        "extracted": {"order_id": "A-17", "wants_refund": false}
    });
    model.enqueue(Reply::text(analysis.to_string()));
    let ended = post(
        &app,
        &format!("/api/v1/calls/{id}/end"),
        &json!({}),
        &token,
        200,
    )
    .await?;
    assert_eq!(ended["status"], "completed");
    assert_eq!(ended["analysis_status"], "pending");

    let done = analysed(&app, &token, &id).await?;
    assert_eq!(done["analysis_status"], "completed", "{done}");
    let found = &done["analysis"];
    assert_eq!(found["sentiment"], "negative");
    assert_eq!(found["sentiment_score"], -0.6);
    assert_eq!(found["category"], "order_status");
    assert_eq!(found["resolution"], "resolved");
    assert_eq!(found["analyzer"], "llm");
    assert_eq!(
        found["extracted"],
        json!({"order_id": "A-17", "wants_refund": false})
    );
    assert_eq!(
        found["action_items"],
        json!(["Ship a replacement for order A-17"])
    );
    assert_eq!(done["transcript"].as_array().map(Vec::len), Some(3));

    // The model was asked once, with the transcript and the agent's schema.
    let asked = model.chat_requests();
    assert_eq!(asked.len(), 2, "one turn and one analysis");
    let prompt = asked[1].body["messages"].to_string();
    assert!(
        prompt.contains("Customer: My order A-17 never arrived"),
        "{prompt}"
    );
    assert!(prompt.contains("wants_refund"), "{prompt}");

    // Seed 004: filters in the database, the analysis under `analytics`.
    let negative = get(&app, "/api/v1/voice/calls?sentiment=negative", &token).await?;
    assert_eq!(ids(&negative, "calls"), std::slice::from_ref(&id));
    assert_eq!(negative["total"], 1);
    assert_eq!(negative["calls"][0]["sentiment"], "negative");
    assert_eq!(negative["calls"][0]["category"], "order_status");
    assert_eq!(negative["calls"][0]["resolution"], "resolved");
    let positive = get(&app, "/api/v1/voice/calls?sentiment=positive", &token).await?;
    assert_eq!(positive["total"], 0);
    let category = get(
        &app,
        "/api/v1/voice/calls?category=Order%20Status&resolution=resolved",
        &token,
    )
    .await?;
    assert_eq!(ids(&category, "calls"), std::slice::from_ref(&id));
    expect_error(
        app.get("/api/v1/voice/calls?sentiment=furious", Some(&token))
            .await?,
        422,
    )
    .await?;
    let detail = get(&app, &format!("/api/v1/voice/calls/{id}"), &token).await?;
    assert_eq!(detail["analysis_status"], "completed");
    assert_eq!(detail["analytics"]["overall_sentiment"], "negative");
    assert_eq!(detail["analytics"]["primary_category"], "order_status");
    assert_eq!(detail["analytics"]["resolution_status"], "resolved");
    assert_eq!(detail["analytics"]["sentiment_score"], -0.6);
    assert_eq!(detail["analytics"]["extracted"]["order_id"], "A-17");

    // The canonical list, seed 000's log and seed 001's call.
    let canonical = get(
        &app,
        "/api/v1/calls?sentiment=negative&category=order_status",
        &token,
    )
    .await?;
    assert_eq!(
        (ids(&canonical, "items"), canonical["total"].clone()),
        (vec![id.clone()], json!(1))
    );
    assert_eq!(
        canonical["items"][0]["analysis"]["summary"],
        found["summary"]
    );
    let log = get(&app, &format!("/calls/{id}"), &token).await?;
    assert_eq!(log["analysis"]["sentiment"], "negative");
    let seed = get(&app, &format!("/api/calls/{id}"), &token).await?;
    assert_eq!(seed["sentiment"], "negative");
    assert_eq!(seed["analysis_status"], "completed");

    // Nobody else sees it.
    let stranger = app.signed_in_user().await?;
    let theirs = get(&app, "/api/v1/voice/calls?sentiment=negative", &stranger).await?;
    assert_eq!(theirs["total"], 0);
    Ok(())
}

#[tokio::test]
async fn without_a_model_the_lexicon_analyser_runs() -> anyhow::Result<()> {
    let app = quick_worker().spawn().await?;
    let token = app.signed_in_user().await?;
    let flow = json!({
        "nodes": [
            {"id": "ask", "type": "question", "start": true, "data": {"text": "How can I help?"}},
            {"id": "ack", "type": "message", "data": {"text": "I will look into it."}},
            {"id": "bye", "type": "end", "data": {"text": "Goodbye!"}}
        ],
        "edges": [
            {"id": "e1", "source": "ask", "target": "bye", "condition": {"type": "keywords", "any": ["bye"]}},
            {"id": "e2", "source": "ask", "target": "ack", "condition": {"type": "else"}},
            {"id": "e3", "source": "ack", "target": "ask"}
        ]
    });
    let agent = post(
        &app,
        "/api/v1/agents",
        &json!({"name": "Desk", "call_flow": flow}),
        &token,
        201,
    )
    .await?;
    let call = post(
        &app,
        "/api/v1/calls",
        &json!({"agent_id": text(&agent, "id")}),
        &token,
        201,
    )
    .await?;
    let id = text(&call, "id");
    post(
        &app,
        &format!("/api/v1/calls/{id}/messages"),
        &json!({"message": "I was charged twice on my bill and this is unacceptable."}),
        &token,
        200,
    )
    .await?;
    post(
        &app,
        &format!("/api/v1/calls/{id}/end"),
        &json!({}),
        &token,
        200,
    )
    .await?;
    let done = analysed(&app, &token, &id).await?;
    assert_eq!(done["analysis_status"], "completed", "{done}");
    let found = &done["analysis"];
    assert_eq!(found["analyzer"], "local");
    assert_eq!(found["sentiment"], "negative");
    assert_eq!(found["category"], "billing");
    assert_eq!(found["action_items"], json!(["I will look into it."]));
    assert!(text(found, "summary").contains("charged twice"), "{found}");
    let billing = get(&app, "/api/v1/voice/calls?category=billing", &token).await?;
    assert_eq!(ids(&billing, "calls"), std::slice::from_ref(&id));

    // A call logged by a client (seed 001) is analysed too; without a sentiment of its own, the
    // analysis gives it one.
    let logged = post(
        &app,
        "/api/calls",
        &json!({
            "transcript": [
                {"speaker": "agent", "text": "Hello, Bright Dental."},
                {"speaker": "user", "text": "I'd like to book an appointment. Great, thanks a lot!"}
            ]
        }),
        &token,
        201,
    )
    .await?;
    let logged_id = text(&logged, "id");
    assert_eq!(logged["analysis_status"], "pending");
    let done = analysed(&app, &token, &logged_id).await?;
    assert_eq!(done["analysis"]["category"], "scheduling", "{done}");
    let seed = get(&app, &format!("/api/calls/{logged_id}"), &token).await?;
    assert_eq!(seed["sentiment"], "positive");
    Ok(())
}

#[tokio::test]
async fn a_failing_model_leaves_the_call_intact_with_its_analysis_failed() -> anyhow::Result<()> {
    let model = FakeOpenAi::start().await?;
    let app = quick_worker()
        .with_openai(&model)
        .env("ANALYSIS_MAX_ATTEMPTS", "3")
        .env("OPENAI_MAX_RETRIES", "0")
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let call = post(
        &app,
        "/api/v1/calls",
        &json!({"scenario": "support"}),
        &token,
        201,
    )
    .await?;
    let id = text(&call, "id");
    model.enqueue(Reply::text("Let me check that for you."));
    post(
        &app,
        &format!("/api/v1/calls/{id}/messages"),
        &json!({"message": "Where is my parcel?"}),
        &token,
        200,
    )
    .await?;
    let before = model.chat_requests().len();
    model.set_default_reply(Reply::openai_error(500, "The server had an error", None));
    post(
        &app,
        &format!("/api/v1/calls/{id}/end"),
        &json!({}),
        &token,
        200,
    )
    .await?;

    let done = analysed(&app, &token, &id).await?;
    assert_eq!(done["analysis_status"], "failed", "{done}");
    assert_eq!(done["analysis"], Value::Null);
    assert_eq!(done["status"], "completed", "the call itself is kept");
    assert_eq!(done["end_reason"], "ended_by_client");
    let lines: Vec<String> = done["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| text(t, "text"))
        .collect();
    assert!(
        lines.contains(&"Where is my parcel?".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"Let me check that for you.".to_owned()),
        "{lines:?}"
    );
    assert_eq!(
        model.chat_requests().len() - before,
        3,
        "one request per attempt, then no more"
    );
    let voice = get(&app, &format!("/api/v1/voice/calls/{id}"), &token).await?;
    assert_eq!(voice["analysis_status"], "failed");
    assert_eq!(voice["analytics"], Value::Null);
    assert_eq!(voice["sentiment"], Value::Null);
    Ok(())
}
