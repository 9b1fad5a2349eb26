//! Reading calls: the canonical filtered list and the seeds' lists and details.

use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::support::{expect_error, expect_json};

fn text(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_default().to_owned()
}

/// Three calls with a flow agent: one ended ("bye"), one about a refund, one plain.
async fn calls(app: &TestApp, token: &str) -> anyhow::Result<(String, Vec<String>)> {
    let flow = json!({
        "nodes": [
            {"id": "ask", "type": "question", "start": true, "data": {"text": "How can I help?"}},
            {"id": "ack", "type": "message", "data": {"text": "Noted."}},
            {"id": "bye", "type": "end", "data": {"text": "Goodbye!"}}
        ],
        "edges": [
            {"id": "e1", "source": "ask", "target": "bye", "condition": {"type": "keywords", "any": ["bye"]}},
            {"id": "e2", "source": "ask", "target": "ack", "condition": {"type": "else"}},
            {"id": "e3", "source": "ack", "target": "ask"}
        ]
    });
    let agent = expect_json(
        app.post_json(
            "/api/v1/agents",
            &json!({"name": "Desk", "call_flow": flow}),
            Some(token),
        )
        .await?,
        201,
    )
    .await?;
    let agent_id = text(&agent, "id");
    let mut ids = Vec::new();
    for (customer, said) in [
        ("Ann", "bye"),
        ("Bob", "Where is my REFUND?"),
        ("Cy", "Just browsing"),
    ] {
        let body = json!({"agent_id": agent_id, "customer_name": customer});
        let call = expect_json(
            app.post_json("/api/v1/calls", &body, Some(token)).await?,
            201,
        )
        .await?;
        let id = text(&call, "id");
        expect_json(
            app.post_json(
                &format!("/api/v1/calls/{id}/messages"),
                &json!({"message": said}),
                Some(token),
            )
            .await?,
            200,
        )
        .await?;
        ids.push(id);
    }
    Ok((agent_id, ids))
}

fn listed(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| text(c, "id"))
        .collect()
}

#[tokio::test]
async fn the_canonical_list_filters_searches_sorts_and_pages() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let (agent, ids) = calls(&app, &token).await?;
    let all = expect_json(app.get("/api/v1/calls", Some(&token)).await?, 200).await?;
    assert_eq!(all["total"], 3);
    assert_eq!(
        listed(&all, "items"),
        [ids[2].clone(), ids[1].clone(), ids[0].clone()],
        "newest first"
    );
    let oldest = expect_json(
        app.get("/api/v1/calls?sort=oldest&page=2&page_size=2", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(listed(&oldest, "items"), [ids[2].clone()]);
    assert_eq!(oldest["total"], 3);
    let completed = expect_json(
        app.get("/api/v1/calls?status=completed", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(listed(&completed, "items"), [ids[0].clone()]);
    let refund = expect_json(
        app.get("/api/v1/calls?search=refund", Some(&token)).await?,
        200,
    )
    .await?;
    assert_eq!(listed(&refund, "items"), [ids[1].clone()]);
    assert_eq!(refund["total"], 1);
    let by_name = expect_json(app.get("/api/v1/calls?q=cy", Some(&token)).await?, 200).await?;
    assert_eq!(listed(&by_name, "items"), [ids[2].clone()]);
    let today = chrono::Utc::now().date_naive();
    let window = format!(
        "/api/v1/calls?agent_id={agent}&channel=text&direction=inbound&date_from={today}&date_to={today}"
    );
    assert_eq!(
        expect_json(app.get(&window, Some(&token)).await?, 200).await?["total"],
        3
    );
    let tomorrow = today.succ_opt().unwrap_or(today);
    let future = expect_json(
        app.get(&format!("/api/v1/calls?date_from={tomorrow}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(future["total"], 0);
    for bad in [
        "status=exploded",
        "direction=sideways",
        "channel=fax",
        "agent_id=nope",
        "date_from=yesterday",
        "sort=random",
        "page_size=101",
        "page=0",
    ] {
        expect_error(
            app.get(&format!("/api/v1/calls?{bad}"), Some(&token))
                .await?,
            422,
        )
        .await?;
    }
    let stranger = app.signed_in_user().await?;
    assert_eq!(
        expect_json(app.get("/api/v1/calls", Some(&stranger)).await?, 200).await?["total"],
        0
    );
    Ok(())
}

#[tokio::test]
async fn seed_envelopes_list_and_detail_calls() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let (agent, ids) = calls(&app, &token).await?;

    // Seed 004.
    let voice = expect_json(
        app.get("/api/v1/voice/calls?page_size=2", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(voice["total"], 3);
    assert_eq!(voice["page"], 1);
    assert_eq!(voice["page_size"], 2);
    assert_eq!(voice["calls"].as_array().map(Vec::len), Some(2));
    let first = &voice["calls"][0];
    for field in ["id", "vapi_call_id", "started_at", "status", "agent_type"] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }
    assert_eq!(first["agent_type"], "Desk");
    let positive = expect_json(
        app.get("/api/v1/voice/calls?sentiment=positive", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(positive["total"], 0, "no caller said anything positive");
    expect_error(
        app.get("/api/v1/voice/calls?page_size=101", Some(&token))
            .await?,
        422,
    )
    .await?;
    let detail = expect_json(
        app.get(&format!("/api/v1/voice/calls/{}", ids[0]), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(detail["transcript"].as_array().map(Vec::len), Some(3));
    // The ended call's analysis may or may not be done by now; the live ones have none.
    assert!(
        detail["analytics"].is_null() || detail["analytics"]["overall_sentiment"].is_string(),
        "{detail}"
    );
    let live = expect_json(
        app.get(&format!("/api/v1/voice/calls/{}", ids[1]), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(live["analytics"], Value::Null);
    assert_eq!(live["analysis_status"], Value::Null);
    assert_eq!(detail["recording_url"], Value::Null);
    assert!(detail["duration_seconds"].is_i64());

    // Seed 000.
    let logs = expect_json(
        app.get(
            &format!("/calls/logs?page=1&limit=2&time_range=7d&agent_id={agent}"),
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(logs["total"], 3);
    assert_eq!(logs["limit"], 2);
    assert_eq!(listed(&logs, "calls").len(), 2);
    let searched = expect_json(
        app.get(
            "/calls/logs?search=browsing&status=in_progress",
            Some(&token),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(listed(&searched, "calls"), [ids[2].clone()]);
    expect_error(
        app.get("/calls/logs?time_range=1y", Some(&token)).await?,
        422,
    )
    .await?;
    let log = expect_json(
        app.get(&format!("/calls/{}", ids[1]), Some(&token)).await?,
        200,
    )
    .await?;
    assert_eq!(log["transcript"][1]["text"], "Where is my REFUND?");

    // Seed 001.
    let response = app.get("/api/calls", Some(&token)).await?;
    assert_eq!(
        response
            .headers()
            .get("x-total-count")
            .map(|v| v.as_bytes()),
        Some(&b"3"[..])
    );
    let seed = expect_json(response, 200).await?;
    let newest = &seed[0];
    assert_eq!(newest["id"], ids[2].as_str());
    assert_eq!(newest["agent_id"], agent.as_str());
    assert_eq!(newest["direction"], "inbound");
    assert_eq!(newest["transcript"].as_array().map(Vec::len), Some(3));
    assert!(newest["latency"].is_f64(), "{newest}");
    assert!(newest["timestamp"].is_string());
    let one = expect_json(
        app.get(&format!("/api/calls/{}", ids[0]), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(one["status"], "completed");
    assert!(one["duration"].is_i64());

    let stranger = app.signed_in_user().await?;
    for path in [
        format!("/api/v1/voice/calls/{}", ids[0]),
        format!("/calls/{}", ids[0]),
        format!("/api/calls/{}", ids[0]),
    ] {
        expect_error(app.get(&path, Some(&stranger)).await?, 404).await?;
    }
    assert_eq!(
        expect_json(app.get("/api/calls", Some(&stranger)).await?, 200).await?,
        json!([])
    );
    Ok(())
}

#[tokio::test]
async fn seed_001_logs_a_call_made_elsewhere_without_losing_anything() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = expect_json(
        app.post_json("/api/agents", &json!({"name": "Ava"}), Some(&token))
            .await?,
        201,
    )
    .await?;
    let agent_id = text(&agent, "id");
    let logged = json!({
        "agent_id": agent_id,
        "phone_number": "+14155550123",
        "direction": "outbound",
        "duration": 95,
        "status": "completed",
        "sentiment": "positive",
        "latency": 820.5,
        "transcript": [
            {"speaker": "agent", "text": "Hi, this is Ava.", "timestamp": "2026-11-20T10:00:00Z"},
            {"speaker": "user", "text": "Hello!", "timestamp": "2026-11-20T10:00:03Z"}
        ],
        "recording_url": "https://recordings.example.com/r/1.wav",
        "daily_room_url": "https://rooms.example.com/abc",
        "metadata": {"campaign": "autumn"},
        "timestamp": "2026-11-20T10:00:00Z"
    });
    let stored = expect_json(
        app.post_json("/api/calls", &logged, Some(&token)).await?,
        201,
    )
    .await?;
    assert_eq!(stored["agent_id"], agent_id.as_str());
    assert_eq!(stored["direction"], "outbound");
    assert_eq!(stored["duration"], 95);
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["sentiment"], "positive");
    assert_eq!(
        stored["recording_url"],
        "https://recordings.example.com/r/1.wav"
    );
    assert_eq!(stored["timestamp"], "2026-11-20T10:00:00Z");
    assert_eq!(
        stored["metadata"],
        json!({"campaign": "autumn", "sentiment": "positive", "latency": 820.5, "daily_room_url": "https://rooms.example.com/abc"})
    );
    let lines: Vec<(String, String)> = stored["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (text(t, "speaker"), text(t, "text")))
        .collect();
    assert_eq!(
        lines,
        [
            ("agent".to_owned(), "Hi, this is Ava.".to_owned()),
            ("customer".to_owned(), "Hello!".to_owned())
        ]
    );

    let id = text(&stored, "id");
    let again = expect_json(
        app.get(&format!("/api/calls/{id}"), Some(&token)).await?,
        200,
    )
    .await?;
    // The analysis goes on in the background (tests/api/analysis.rs); the rest is as stored.
    let without_analysis = |call: &Value| {
        let mut call = call.clone();
        if let Some(fields) = call.as_object_mut() {
            fields.remove("analysis_status");
            fields.remove("analysis");
        }
        call
    };
    assert_eq!(stored["analysis_status"], "pending");
    assert_eq!(
        without_analysis(&again),
        without_analysis(&stored),
        "read back as it was stored"
    );
    assert_eq!(again["sentiment"], "positive", "the logged sentiment stays");
    let listed = expect_json(
        app.get("/api/v1/calls?channel=phone&status=completed", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(listed["total"], 1);
    let voice = expect_json(
        app.get(&format!("/api/v1/voice/calls/{id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(
        voice["recording_url"],
        "https://recordings.example.com/r/1.wav"
    );
    assert_eq!(voice["duration_seconds"], 95);

    let stranger = app.signed_in_user().await?;
    let foreign = app
        .post_json(
            "/api/calls",
            &json!({"agent_id": agent_id}),
            Some(&stranger),
        )
        .await?;
    let body = expect_error(foreign, 422).await?;
    assert_eq!(body["errors"][0]["field"], "agent_id");
    let bad = json!({
        "direction": "sideways", "status": "exploded", "duration": -5, "recording_url": "ftp://x",
        "metadata": [1], "transcript": [{"speaker": "narrator", "text": " "}]
    });
    let body = expect_error(app.post_json("/api/calls", &bad, Some(&token)).await?, 422).await?;
    let fields: Vec<String> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| text(e, "field"))
        .collect();
    assert_eq!(
        fields,
        [
            "direction",
            "status",
            "recording_url",
            "duration",
            "metadata",
            "transcript[0].speaker",
            "transcript[0].text"
        ]
    );
    let minimal = expect_json(
        app.post_json("/api/calls", &json!({}), Some(&token))
            .await?,
        201,
    )
    .await?;
    assert_eq!(minimal["status"], "completed");
    assert_eq!(minimal["transcript"], json!([]));
    Ok(())
}
