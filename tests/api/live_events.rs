//! The live feeds end to end: `WS /ws` shows an organisation's calls, lines and counts as they
//! happen and nothing of another organisation; `WS /ws/calls/{id}` shows one call's snapshot,
//! lines and end; bad credentials are refused; and with Redis, a client of one instance sees
//! the calls another instance holds.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use switchboard_testkit::{TestApp, TestDatabaseKind};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::support::expect_json;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(15);

fn ws_url(app: &TestApp, path: &str) -> String {
    app.url(path).replacen("http://", "ws://", 1)
}

async fn connect(app: &TestApp, path: &str) -> anyhow::Result<Socket> {
    let (socket, _) = connect_async(ws_url(app, path)).await?;
    Ok(socket)
}

/// The next text message as JSON.
async fn next(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the socket closed"))??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Close(frame) => anyhow::bail!("the socket closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Messages until one that `wanted` accepts, which is returned with those before it.
async fn until(
    socket: &mut Socket,
    wanted: impl Fn(&Value) -> bool,
) -> anyhow::Result<(Vec<Value>, Value)> {
    let mut before = Vec::new();
    loop {
        let message = next(socket).await?;
        if wanted(&message) {
            return Ok((before, message));
        }
        before.push(message);
    }
}

/// The close frame's code and reason, after any messages.
async fn closed(socket: &mut Socket) -> anyhow::Result<(CloseCode, String)> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the socket ended without a close frame"))??;
        if let Message::Close(frame) = message {
            let frame = frame.ok_or_else(|| anyhow::anyhow!("a close frame without a code"))?;
            return Ok((frame.code, frame.reason.to_string()));
        }
    }
}

fn is_event(kind: &str, call: &str) -> impl Fn(&Value) -> bool {
    let kind = kind.to_owned();
    let call = call.to_owned();
    move |m| m["type"] == kind.as_str() && m["call_id"] == call.as_str()
}

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
            {"id": "e2", "source": "ask", "target": "bye", "condition": {"type": "keywords", "any": ["bye"]}},
            {"id": "e3", "source": "ask", "target": "ack", "condition": {"type": "else"}},
            {"id": "e4", "source": "ack", "target": "ask"}
        ]
    })
}

/// An agent that runs on its call flow (no language model needed); its id.
async fn flow_agent(app: &TestApp, token: &str) -> anyhow::Result<String> {
    let body = json!({"name": "Desk", "call_flow": desk_flow()});
    let agent = expect_json(
        app.post_json("/api/v1/agents", &body, Some(token)).await?,
        201,
    )
    .await?;
    Ok(agent["id"].as_str().unwrap_or_default().to_owned())
}

/// Starts a text call with the agent; its id.
async fn start_call(app: &TestApp, token: &str, agent: &str) -> anyhow::Result<String> {
    let start = json!({"channel": "text", "agent_id": agent, "customer_name": "Maya"});
    let call = expect_json(
        app.post_json("/api/v1/calls", &start, Some(token)).await?,
        201,
    )
    .await?;
    Ok(call["id"].as_str().unwrap_or_default().to_owned())
}

async fn say(app: &TestApp, token: &str, call: &str, message: &str) -> anyhow::Result<()> {
    expect_json(
        app.post_json(
            &format!("/api/v1/calls/{call}/messages"),
            &json!({"message": message}),
            Some(token),
        )
        .await?,
        200,
    )
    .await?;
    Ok(())
}

async fn end(app: &TestApp, token: &str, call: &str) -> anyhow::Result<()> {
    expect_json(
        app.post_json(
            &format!("/api/v1/calls/{call}/end"),
            &json!({}),
            Some(token),
        )
        .await?,
        200,
    )
    .await?;
    Ok(())
}

/// The organisation of the user with `token`.
async fn organization(app: &TestApp, token: &str) -> anyhow::Result<String> {
    let me = expect_json(app.get("/api/v1/users/me", Some(token)).await?, 200).await?;
    let id = me["organization_id"]
        .as_str()
        .or_else(|| me["organization"]["id"].as_str())
        .unwrap_or_default();
    Ok(id.to_owned())
}

/// The kinds and speakers of a call's events, in order: `call.started`,
/// `transcript.turn:agent`, ...
fn story(events: &[Value], call: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["call_id"] == call)
        .map(|e| match e["data"]["speaker"].as_str() {
            Some(speaker) => format!("{}:{speaker}", e["type"].as_str().unwrap_or_default()),
            None => e["type"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn the_activity_feed_shows_a_text_call_as_it_happens_and_only_to_its_organisation()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let other = app.signed_in_user().await?;
    let org = organization(&app, &token).await?;
    let mut feed = connect(&app, &format!("/ws?token={token}")).await?;
    let ready = next(&mut feed).await?;
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["organization_id"], org.as_str());
    let mut outsider = connect(&app, &format!("/ws?token={other}")).await?;
    assert_eq!(next(&mut outsider).await?["type"], "ready");

    let agent = flow_agent(&app, &token).await?;
    let call = start_call(&app, &token, &agent).await?;
    say(&app, &token, &call, "My order is late").await?;
    end(&app, &token, &call).await?;

    let (before, ended) = until(&mut feed, is_event("call.ended", &call)).await?;
    let events: Vec<Value> = before
        .iter()
        .filter(|m| m["type"] != "metrics")
        .cloned()
        .chain([ended.clone()])
        .collect();
    assert_eq!(
        story(&events, &call),
        [
            "call.started",
            "transcript.turn:agent",
            "transcript.turn:customer",
            "transcript.turn:agent",
            "call.ended"
        ]
    );
    assert!(events.iter().all(|e| e["organization_id"] == org.as_str()));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "agent.updated" && e["data"]["change"] == "created")
    );
    let started = events
        .iter()
        .find(|e| is_event("call.started", &call)(e))
        .ok_or_else(|| anyhow::anyhow!("no call.started"))?;
    assert_eq!(started["data"]["id"], call.as_str());
    assert_eq!(started["data"]["status"], "in_progress");
    assert_eq!(started["data"]["channel"], "text");
    assert_eq!(ended["data"]["status"], "completed");
    assert_eq!(ended["data"]["end_reason"], "ended_by_client");
    let lines: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "transcript.turn")
        .collect();
    assert_eq!(lines[1]["data"]["text"], "My order is late");
    assert!(lines[2]["data"]["latency"]["total_ms"].is_u64());

    // The counts catch up: the call was made today and is no longer live.
    let (_, counts) = until(&mut feed, |m| {
        m["type"] == "metrics" && m["data"]["calls_today"] == 1 && m["data"]["active_calls"] == 0
    })
    .await?;
    assert!(counts["occurred_at"].is_string());

    // The other organisation's feed: its own agent's event arrives, and nothing of the call
    // came before it (one bus, in order).
    flow_agent(&app, &other).await?;
    let (before, own) = until(&mut outsider, |m| m["type"] == "agent.updated").await?;
    assert_ne!(own["organization_id"], org.as_str());
    assert!(
        before.iter().all(|m| m["type"] == "metrics"),
        "another organisation's events leaked: {before:?}"
    );
    assert!(before.iter().all(|m| m["data"]["calls_today"] == 0));
    Ok(())
}

#[tokio::test]
async fn the_call_feed_sends_the_snapshot_then_lines_and_the_end() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = flow_agent(&app, &token).await?;
    let call = start_call(&app, &token, &agent).await?;
    say(&app, &token, &call, "Where is my parcel?").await?;

    // The token as a first message this time.
    let mut feed = connect(&app, &format!("/ws/calls/{call}")).await?;
    feed.send(Message::text(
        json!({"type": "auth", "token": token}).to_string(),
    ))
    .await?;
    let snapshot = next(&mut feed).await?;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["call"]["id"], call.as_str());
    assert_eq!(snapshot["call"]["status"], "in_progress");
    let transcript = snapshot["transcript"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let speakers: Vec<&str> = transcript
        .iter()
        .map(|t| t["speaker"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(speakers, ["agent", "customer", "agent"]);
    assert_eq!(transcript[1]["text"], "Where is my parcel?");

    // A heartbeat the client asks for is answered.
    feed.send(Message::text(r#"{"type":"ping"}"#)).await?;
    assert_eq!(next(&mut feed).await?["type"], "pong");

    say(&app, &token, &call, "Thanks, bye").await?;
    let (lines, ended) = until(&mut feed, is_event("call.ended", &call)).await?;
    assert_eq!(
        story(&lines, &call),
        ["transcript.turn:customer", "transcript.turn:agent"]
    );
    assert_eq!(lines[0]["data"]["text"], "Thanks, bye");
    assert_eq!(lines[1]["data"]["text"], "Goodbye!");
    assert_eq!(ended["data"]["status"], "completed");
    assert!(ended["data"]["duration_secs"].is_i64());
    Ok(())
}

#[tokio::test]
async fn feeds_refuse_bad_tokens_and_other_organisations_calls() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let other = app.signed_in_user().await?;
    let agent = flow_agent(&app, &token).await?;
    let call = start_call(&app, &token, &agent).await?;

    let mut bad = connect(&app, "/ws?token=not-a-token").await?;
    let error = next(&mut bad).await?;
    assert_eq!(error["type"], "error");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("not authenticated"))
    );
    assert_eq!(closed(&mut bad).await?.0, CloseCode::from(4401));

    // Without a token, a first message that is not `auth` is refused too.
    let mut silent = connect(&app, &format!("/ws/calls/{call}")).await?;
    silent.send(Message::text(r#"{"type":"hello"}"#)).await?;
    assert_eq!(closed(&mut silent).await?.0, CloseCode::from(4401));

    let mut foreign = connect(&app, &format!("/ws/calls/{call}?token={other}")).await?;
    let error = next(&mut foreign).await?;
    assert_eq!(error["message"], "call not found");
    let (code, reason) = closed(&mut foreign).await?;
    assert_eq!(code, CloseCode::from(4404));
    assert_eq!(reason, "call not found");

    // An id that is no call's is refused before the upgrade.
    let refused = connect_async(ws_url(&app, &format!("/ws/calls/nope?token={token}"))).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404);
        }
        other => anyhow::bail!("expected a 404 before the upgrade, got {other:?}"),
    }
    Ok(())
}

/// Redis at its usual local address, or `None` (after saying so) outside CI when none answers.
async fn local_redis() -> anyhow::Result<Option<String>> {
    match TcpStream::connect("127.0.0.1:6379").await {
        Ok(_) => Ok(Some("redis://127.0.0.1:6379".to_owned())),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            anyhow::bail!("Redis must be running in CI: {e}")
        }
        Err(_) => {
            eprintln!("skipped: no Redis on 127.0.0.1:6379");
            Ok(None)
        }
    }
}

#[tokio::test]
async fn a_client_of_one_instance_sees_a_call_held_by_another_through_redis() -> anyhow::Result<()>
{
    let Some(redis) = local_redis().await? else {
        return Ok(());
    };
    // A channel of this test's own, so parallel tests and runs never hear each other.
    let channel = format!("switchboard:test:{}", uuid::Uuid::new_v4().simple());
    let first = TestApp::builder()
        .database(TestDatabaseKind::Postgres)
        .env("REDIS_URL", &redis)
        .env("EVENTS_CHANNEL", &channel)
        .spawn()
        .await?;
    if first.database_kind != TestDatabaseKind::Postgres {
        eprintln!("skipped: two instances share a PostgreSQL database, and none is reachable");
        return Ok(());
    }
    let second = TestApp::builder()
        .same_database_as(&first)
        .env("REDIS_URL", &redis)
        .env("EVENTS_CHANNEL", &channel)
        .spawn()
        .await?;
    let token = first.signed_in_user().await?;
    let mut on_first = connect(&first, &format!("/ws?token={token}")).await?;
    assert_eq!(next(&mut on_first).await?["type"], "ready");
    let mut on_second = connect(&second, &format!("/ws?token={token}")).await?;
    assert_eq!(next(&mut on_second).await?["type"], "ready");

    // The call lives on the second instance.
    let agent = flow_agent(&second, &token).await?;
    let call = start_call(&second, &token, &agent).await?;
    say(&second, &token, &call, "Hello there").await?;
    end(&second, &token, &call).await?;

    let expected = [
        "call.started",
        "transcript.turn:agent",
        "transcript.turn:customer",
        "transcript.turn:agent",
        "call.ended",
    ];
    for feed in [&mut on_first, &mut on_second] {
        let (before, ended) = until(feed, is_event("call.ended", &call)).await?;
        let events: Vec<Value> = before.into_iter().chain([ended]).collect();
        // Each event once: the holder's own copy is not doubled by its echo from Redis.
        assert_eq!(story(&events, &call), expected);
        let agents = events
            .iter()
            .filter(|e| e["type"] == "agent.updated")
            .count();
        assert_eq!(agents, 1);
    }
    // The feed on the first instance keeps going: a call there reaches both.
    let call = start_call(&first, &token, &agent).await?;
    until(&mut on_second, is_event("call.started", &call)).await?;
    until(&mut on_first, is_event("call.started", &call)).await?;
    Ok(())
}
