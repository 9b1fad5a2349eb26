//! Text calls over HTTP with agents that run on their call flow (no language model configured):
//! the canonical routes, seed 002's sales routes, seed 000's chat sessions and seed 001's test
//! turn, plus status, transcripts, isolation and concurrency.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::support::{expect_error, expect_json};

fn desk_flow() -> Value {
    json!({
        "nodes": [
            {"id": "greet", "type": "message", "start": true, "data": {"text": "Hello {customer_name}!"}},
            {"id": "ask", "type": "question", "data": {"text": "How can I help?"}},
            {"id": "ack", "type": "message", "data": {"text": "Noted."}},
            {"id": "bye", "type": "end", "data": {"text": "Goodbye!"}}
        ],
        "edges": [
            {"id": "e1", "source": "greet", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "bye", "condition": {"type": "keywords", "any": ["bye", "goodbye"]}},
            {"id": "e3", "source": "ask", "target": "ack", "condition": {"type": "else"}},
            {"id": "e4", "source": "ack", "target": "ask"}
        ]
    })
}

async fn flow_agent(app: &TestApp, token: &str) -> anyhow::Result<String> {
    let body = json!({"name": "Desk", "call_flow": desk_flow()});
    let agent = expect_json(
        app.post_json("/api/v1/agents", &body, Some(token)).await?,
        201,
    )
    .await?;
    Ok(agent["id"].as_str().unwrap_or_default().to_owned())
}

fn text(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_flow_agent_holds_a_text_call_and_every_turn_is_stored() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = flow_agent(&app, &token).await?;
    let start = json!({"channel": "text", "agent_id": agent, "customer_name": "Maya", "phone_number": "+14155550123"});
    let call = expect_json(
        app.post_json("/api/v1/calls", &start, Some(&token)).await?,
        201,
    )
    .await?;
    assert_eq!(call["first_message"], "Hello Maya! How can I help?");
    assert_eq!(call["status"], "in_progress");
    assert_eq!(call["channel"], "text");
    assert_eq!(call["agent_name"], "Desk");
    let id = text(&call, "id");

    let messages = format!("/api/v1/calls/{id}/messages");
    let turn = expect_json(
        app.post_json(
            &messages,
            &json!({"message": "My order is late"}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(turn["reply"], "Noted. How can I help?");
    assert_eq!(turn["should_end_call"], false);
    assert!(turn["latency"]["total_ms"].is_u64());
    let last = expect_json(
        app.post_json(
            &messages,
            &json!({"message": "That's all, bye!"}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(last["reply"], "Goodbye!");
    assert_eq!(last["should_end_call"], true);
    assert_eq!(last["end_reason"], "flow_ended");
    assert_eq!(last["status"], "completed");

    let stored = expect_json(
        app.get(&format!("/api/v1/calls/{id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    let lines: Vec<(String, String)> = stored["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (text(t, "speaker"), text(t, "text")))
        .collect();
    let expected = [
        ("agent", "Hello Maya! How can I help?"),
        ("customer", "My order is late"),
        ("agent", "Noted. How can I help?"),
        ("customer", "That's all, bye!"),
        ("agent", "Goodbye!"),
    ];
    assert_eq!(lines, expected.map(|(s, t)| (s.to_owned(), t.to_owned())));
    assert!(stored["transcript"][2]["latency"]["total_ms"].is_u64());
    assert_eq!(stored["status"], "completed");
    assert!(stored["ended_at"].is_string());

    let after = app
        .post_json(&messages, &json!({"message": "Hello?"}), Some(&token))
        .await?;
    expect_error(after, 404).await?;
    let ended = expect_json(
        app.post_json(&format!("/api/v1/calls/{id}/end"), &json!({}), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(
        ended["end_reason"], "flow_ended",
        "ending an ended call changes nothing"
    );
    Ok(())
}

#[tokio::test]
async fn without_a_model_an_agent_without_a_flow_cannot_talk() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = expect_json(
        app.post_json("/api/v1/agents", &json!({"name": "Chatty"}), Some(&token))
            .await?,
        201,
    )
    .await?;
    let start = json!({"agent_id": agent["id"]});
    let body = expect_error(
        app.post_json("/api/v1/calls", &start, Some(&token)).await?,
        503,
    )
    .await?;
    assert!(text(&body, "detail").contains("OPENAI_API_KEY"), "{body}");
    let sales = app
        .post_json(
            "/api/v1/sales/start-call",
            &json!({"phone_number": "123", "customer_name": "Jo"}),
            Some(&token),
        )
        .await?;
    expect_error(sales, 503).await?;
    Ok(())
}

#[tokio::test]
async fn seed_002_sales_routes_keep_their_contract() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = flow_agent(&app, &token).await?;
    for bad in [
        json!({"customer_name": "Jo"}),
        json!({"phone_number": "123"}),
        json!({"phone_number": 5, "customer_name": "Jo"}),
    ] {
        let response = app
            .post_json("/api/v1/sales/start-call", &bad, Some(&token))
            .await?;
        expect_error(response, 400).await?;
    }
    let malformed = app
        .request(Method::POST, "/api/v1/sales/start-call")
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await?;
    expect_error(malformed, 400).await?;

    let start =
        json!({"phone_number": "123-456-7890", "customer_name": "John Doe", "agent_id": agent});
    let started = expect_json(
        app.post_json("/api/v1/sales/start-call", &start, Some(&token))
            .await?,
        201,
    )
    .await?;
    assert_eq!(started["first_message"], "Hello John Doe! How can I help?");
    let call_id = text(&started, "call_id");
    let respond = format!("/api/v1/sales/respond/{call_id}");
    expect_error(
        app.post_json(&respond, &json!({"message": "  "}), Some(&token))
            .await?,
        400,
    )
    .await?;
    expect_error(
        app.post_json(&respond, &json!({}), Some(&token)).await?,
        400,
    )
    .await?;
    let unknown = format!("/api/v1/sales/respond/{}", uuid::Uuid::new_v4());
    expect_error(
        app.post_json(&unknown, &json!({"message": "hi"}), Some(&token))
            .await?,
        404,
    )
    .await?;
    let reply = expect_json(
        app.post_json(
            &respond,
            &json!({"message": "I'm interested"}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(
        reply,
        json!({"reply": "Noted. How can I help?", "should_end_call": false})
    );

    let conversation = expect_json(
        app.get(
            &format!("/api/v1/sales/conversation/{call_id}"),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(conversation["call_id"], call_id.as_str());
    assert_eq!(conversation["customer_name"], "John Doe");
    assert_eq!(conversation["phone_number"], "123-456-7890");
    assert_eq!(conversation["is_active"], true);
    assert_eq!(conversation["end_time"], Value::Null);
    assert!(conversation["start_time"].is_string());
    let history = conversation["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(history.len(), 3);
    assert_eq!(history[1]["speaker"], "customer");
    assert!(history.iter().all(|h| h["timestamp"].is_string()));

    let ended = expect_json(
        app.post_json(&respond, &json!({"message": "goodbye"}), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(ended["should_end_call"], true);
    expect_error(
        app.post_json(&respond, &json!({"message": "still there?"}), Some(&token))
            .await?,
        404,
    )
    .await?;
    let closed = expect_json(
        app.get(
            &format!("/api/v1/sales/conversation/{call_id}"),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(closed["is_active"], false);
    assert!(closed["end_time"].is_string());
    Ok(())
}

#[tokio::test]
async fn seed_000_sessions_and_seed_001_test_turns() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = flow_agent(&app, &token).await?;
    let first = expect_json(
        app.post_json(
            "/conversations/session-42/message",
            &json!({"message": "Hi there"}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(first["session_id"], "session-42");
    assert_eq!(first["first_message"], "Hello! How can I help?");
    assert_eq!(first["response"], "Noted. How can I help?");
    assert_eq!(first["response"], first["reply"]);
    assert_eq!(first["chunks"], json!([]));
    let second = expect_json(
        app.post_json(
            "/conversations/session-42/message",
            &json!({"message": "Another thing"}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(
        second["call_id"], first["call_id"],
        "the session continues its call"
    );
    assert_eq!(second["first_message"], Value::Null);
    let other = expect_json(
        app.post_json(
            "/conversations/session-43/message",
            &json!({"message": "Hi"}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_ne!(other["call_id"], first["call_id"]);

    let tried = expect_json(
        app.post_json(
            &format!("/api/test/agent/{agent}"),
            &json!({"message": "Testing"}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(tried["first_message"], "Hello! How can I help?");
    assert_eq!(tried["reply"], "Noted. How can I help?");
    let again = json!({"message": "bye", "call_id": tried["call_id"]});
    let done = expect_json(
        app.post_json(&format!("/api/test/agent/{agent}"), &again, Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(done["should_end_call"], true);
    let greeting_only = app
        .request(Method::POST, &format!("/api/test/agent/{agent}"))
        .bearer_auth(&token)
        .send()
        .await?;
    let greeting_only = expect_json(greeting_only, 200).await?;
    assert_eq!(greeting_only["reply"], Value::Null);
    Ok(())
}

#[tokio::test]
async fn paused_agents_foreign_calls_and_bad_requests() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let stranger = app.signed_in_user().await?;
    let agent = flow_agent(&app, &token).await?;
    expect_json(
        app.post_json(
            &format!("/api/v1/agents/{agent}/pause"),
            &json!({}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    let paused = app
        .post_json("/api/v1/calls", &json!({"agent_id": agent}), Some(&token))
        .await?;
    let body = expect_error(paused, 409).await?;
    assert!(text(&body, "detail").contains("paused"), "{body}");
    expect_json(
        app.post_json(
            &format!("/api/v1/agents/{agent}/resume"),
            &json!({}),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;

    let call = expect_json(
        app.post_json("/api/v1/calls", &json!({"agent_id": agent}), Some(&token))
            .await?,
        201,
    )
    .await?;
    let id = text(&call, "id");
    expect_error(
        app.get(&format!("/api/v1/calls/{id}"), Some(&stranger))
            .await?,
        404,
    )
    .await?;
    let foreign = app
        .post_json(
            &format!("/api/v1/calls/{id}/messages"),
            &json!({"message": "hi"}),
            Some(&stranger),
        )
        .await?;
    expect_error(foreign, 404).await?;
    expect_error(
        app.post_json(
            &format!("/api/v1/calls/{id}/end"),
            &json!({}),
            Some(&stranger),
        )
        .await?,
        404,
    )
    .await?;
    let foreign_agent = app
        .post_json(
            "/api/v1/calls",
            &json!({"agent_id": agent}),
            Some(&stranger),
        )
        .await?;
    expect_error(foreign_agent, 404).await?;
    let bad_channel = app
        .post_json(
            "/api/v1/calls",
            &json!({"agent_id": agent, "channel": "fax"}),
            Some(&token),
        )
        .await?;
    expect_error(bad_channel, 422).await?;
    let unknown_scenario = app
        .post_json("/api/v1/calls", &json!({"scenario": "nope"}), Some(&token))
        .await?;
    expect_error(unknown_scenario, 404).await?;
    let empty = app
        .post_json(
            &format!("/api/v1/calls/{id}/messages"),
            &json!({"message": ""}),
            Some(&token),
        )
        .await?;
    expect_error(empty, 400).await?;
    Ok(())
}

#[tokio::test]
async fn concurrent_conversations_keep_their_own_turns() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = flow_agent(&app, &token).await?;
    let conversations = (0..20).map(|n| {
        let (app, token, agent) = (&app, token.clone(), agent.clone());
        async move {
            let start = json!({"agent_id": agent, "customer_name": format!("Caller {n}")});
            let call = expect_json(
                app.post_json("/api/v1/calls", &start, Some(&token)).await?,
                201,
            )
            .await?;
            let id = text(&call, "id");
            for turn in 0..3 {
                let message = json!({"message": format!("caller {n} turn {turn}")});
                expect_json(
                    app.post_json(
                        &format!("/api/v1/calls/{id}/messages"),
                        &message,
                        Some(&token),
                    )
                    .await?,
                    200,
                )
                .await?;
            }
            anyhow::Ok((n, id))
        }
    });
    for result in futures_util::future::join_all(conversations).await {
        let (n, id) = result?;
        let call = expect_json(
            app.get(&format!("/api/v1/calls/{id}"), Some(&token))
                .await?,
            200,
        )
        .await?;
        let customer: Vec<String> = call["transcript"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["speaker"] == "customer")
            .map(|t| text(t, "text"))
            .collect();
        assert_eq!(
            customer,
            (0..3)
                .map(|t| format!("caller {n} turn {t}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(call["transcript"].as_array().map(Vec::len), Some(7));
    }
    Ok(())
}
