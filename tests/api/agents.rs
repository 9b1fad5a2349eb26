//! Agents through `/api/v1/agents` and the seeds' `/agents` and `/api/agents`.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::support::{expect_error, expect_json};

const PREFIXES: [&str; 3] = ["/api/v1/agents", "/agents", "/api/agents"];

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    token: &str,
) -> anyhow::Result<reqwest::Response> {
    let mut request = app.request(method, path).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    Ok(request.send().await?)
}

fn id(body: &Value) -> anyhow::Result<String> {
    body["id"]
        .as_str()
        .map(ToOwned::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no id in {body}"))
}

#[tokio::test]
async fn agents_round_trip_through_every_prefix() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    for prefix in PREFIXES {
        let created = send(
            &app,
            Method::POST,
            prefix,
            Some(&json!({
                "name": "Ava",
                "description": "Front desk",
                "system_prompt": "You answer the phone for Acme.",
                "first_message": "Hi {customer_name}, this is {agent_name} from {company}.",
                "language": "en-US",
                "voice": {"provider": "elevenlabs", "voice_id": "voice-1", "speed": 1.1},
                "llm": {"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.3, "max_tokens": 300},
                "stt": {"provider": "deepgram", "model": "nova-2", "language": "en-US"},
                "tools": [
                    {"type": "builtin", "name": "end_call"},
                    {"type": "http", "name": "check_order", "description": "Finds an order",
                     "url": "https://shop.example.com/orders",
                     "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}
                ],
                "end_call_phrases": ["goodbye", "talk soon"],
                "max_call_duration_secs": 600,
                "webhook_url": "https://hooks.example.com/calls"
            })),
            &token,
        )
        .await?;
        let agent = expect_json(created, 201).await?;
        assert_eq!(agent["name"], "Ava");
        assert_eq!(agent["status"], "active");
        assert_eq!(
            agent["voice"],
            json!({"provider": "elevenlabs", "voice_id": "voice-1", "speed": 1.1})
        );
        assert_eq!(agent["voice_id"], "voice-1");
        assert_eq!(agent["model"], "gpt-4o-mini");
        assert_eq!(
            agent["settings"],
            json!({"temperature": 0.3, "max_tokens": 300, "tts_speed": 1.1})
        );
        assert_eq!(
            agent["stats"],
            json!({
                "calls_handled": 0,
                "avg_latency": 0.0,
                "p50_latency": 0,
                "p90_latency": 0,
                "success_rate": 0.0
            })
        );
        assert_eq!(agent["tools"][1]["name"], "check_order");
        assert_eq!(agent["end_call_phrases"], json!(["goodbye", "talk soon"]));
        let agent_id = id(&agent)?;
        let path = format!("{prefix}/{agent_id}");

        let fetched = expect_json(send(&app, Method::GET, &path, None, &token).await?, 200).await?;
        assert_eq!(fetched, agent);

        // Only what is sent changes, with PUT and PATCH alike; seed 001's flat fields work too.
        let updated = send(&app, Method::PUT, &path, Some(&json!({"description": "Night shift", "model": "gpt-4o", "settings": {"temperature": 1.2}})), &token).await?;
        let updated = expect_json(updated, 200).await?;
        assert_eq!(updated["description"], "Night shift");
        assert_eq!(updated["llm"]["model"], "gpt-4o");
        assert_eq!(updated["llm"]["temperature"], 1.2);
        assert_eq!(updated["name"], "Ava");
        assert_eq!(updated["webhook_url"], "https://hooks.example.com/calls");
        let patched = send(
            &app,
            Method::PATCH,
            &path,
            Some(&json!({"voice": "voice-2", "first_message": ""})),
            &token,
        )
        .await?;
        let patched = expect_json(patched, 200).await?;
        assert_eq!(patched["voice"]["voice_id"], "voice-2");
        assert_eq!(patched["first_message"], Value::Null);

        let paused = expect_json(
            send(&app, Method::POST, &format!("{path}/pause"), None, &token).await?,
            200,
        )
        .await?;
        assert_eq!(paused["status"], "paused");
        let resumed = expect_json(
            send(&app, Method::POST, &format!("{path}/resume"), None, &token).await?,
            200,
        )
        .await?;
        assert_eq!(resumed["status"], "active");

        expect_json(send(&app, Method::DELETE, &path, None, &token).await?, 200).await?;
        expect_error(send(&app, Method::GET, &path, None, &token).await?, 404).await?;
        expect_error(send(&app, Method::DELETE, &path, None, &token).await?, 404).await?;
    }
    Ok(())
}

#[tokio::test]
async fn lists_page_filter_and_differ_in_envelope_by_prefix() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    for n in 0..5 {
        let status = if n % 2 == 0 { "active" } else { "paused" };
        let body = json!({"name": format!("Agent {n}"), "status": status});
        expect_json(
            send(&app, Method::POST, "/api/v1/agents", Some(&body), &token).await?,
            201,
        )
        .await?;
    }
    let page = expect_json(
        app.get("/api/v1/agents?page=2&page_size=2", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(page["total"], 5);
    assert_eq!(page["page"], 2);
    assert_eq!(page["page_size"], 2);
    let names: Vec<&str> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["Agent 2", "Agent 1"], "newest first");

    let paused = expect_json(
        app.get("/api/v1/agents?status=paused", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(paused["total"], 2);

    for prefix in ["/agents", "/api/agents"] {
        let response = app.get(prefix, Some(&token)).await?;
        assert_eq!(
            response
                .headers()
                .get("x-total-count")
                .map(|v| v.as_bytes()),
            Some(&b"5"[..])
        );
        let array = expect_json(response, 200).await?;
        assert_eq!(array.as_array().map(Vec::len), Some(5));
    }
    expect_error(app.get("/api/v1/agents?page=0", Some(&token)).await?, 422).await?;
    expect_error(
        app.get("/api/v1/agents?page_size=101", Some(&token))
            .await?,
        422,
    )
    .await?;
    expect_error(
        app.get("/api/v1/agents?status=sleeping", Some(&token))
            .await?,
        422,
    )
    .await?;
    expect_error(app.get("/api/v1/agents?page=abc", Some(&token)).await?, 422).await?;
    Ok(())
}

#[tokio::test]
async fn invalid_agents_name_every_bad_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let response = send(
        &app,
        Method::POST,
        "/api/v1/agents",
        Some(&json!({
            "name": "",
            "llm": {"provider": "skynet", "temperature": 2.5, "max_tokens": 20000},
            "voice": {"provider": "acme"},
            "stt": {"provider": "ears"},
            "tools": [{"type": "http", "name": "lookup", "url": "https://x.example", "parameters": {"type": "array"}}]
        })),
        &token,
    )
    .await?;
    let body = expect_error(response, 422).await?;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "voice.provider",
            "llm.provider",
            "llm.temperature",
            "llm.max_tokens",
            "stt.provider",
            "tools[0].parameters.type"
        ]
    );
    let missing = send(
        &app,
        Method::POST,
        "/agents",
        Some(&json!({"description": "no name"})),
        &token,
    )
    .await?;
    let body = expect_error(missing, 422).await?;
    assert_eq!(body["errors"][0]["field"], "name");
    let wrong_type = send(
        &app,
        Method::POST,
        "/agents",
        Some(&json!({"name": "A", "llm": {"temperature": "warm"}})),
        &token,
    )
    .await?;
    let body = expect_error(wrong_type, 422).await?;
    assert_eq!(body["errors"][0]["field"], "llm.temperature");
    Ok(())
}

#[tokio::test]
async fn another_organisation_sees_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let owner = app.signed_in_user().await?;
    let stranger = app.signed_in_user().await?;
    let agent = expect_json(
        send(
            &app,
            Method::POST,
            "/api/v1/agents",
            Some(&json!({"name": "Private"})),
            &owner,
        )
        .await?,
        201,
    )
    .await?;
    let path = format!("/api/v1/agents/{}", id(&agent)?);
    for (method, suffix, body) in [
        (Method::GET, "", None),
        (Method::PUT, "", Some(json!({"name": "Stolen"}))),
        (Method::PATCH, "", Some(json!({"name": "Stolen"}))),
        (Method::POST, "/pause", None),
        (Method::POST, "/resume", None),
        (Method::GET, "/flow", None),
        (
            Method::PUT,
            "/flow",
            Some(json!({"nodes": [], "edges": []})),
        ),
        (Method::DELETE, "", None),
    ] {
        let response = send(
            &app,
            method.clone(),
            &format!("{path}{suffix}"),
            body.as_ref(),
            &stranger,
        )
        .await?;
        expect_error(response, 404).await?;
    }
    for prefix in PREFIXES {
        let listed = expect_json(app.get(prefix, Some(&stranger)).await?, 200).await?;
        let empty = listed
            .as_array()
            .map(Vec::is_empty)
            .unwrap_or_else(|| listed["total"] == 0);
        assert!(empty, "{prefix}: {listed}");
    }
    let still = expect_json(send(&app, Method::GET, &path, None, &owner).await?, 200).await?;
    assert_eq!(still["name"], "Private");
    assert_eq!(still["status"], "active");
    // Without a token nothing answers but 401.
    expect_error(app.get("/api/v1/agents", None).await?, 401).await?;
    Ok(())
}

fn sales_flow() -> Value {
    json!({
        "nodes": [
            {"id": "greet", "type": "message", "start": true, "position": {"x": 0.0, "y": 0.0},
             "data": {"text": "Hi {customer_name}, this is {agent_name}.", "label": "Greeting"}},
            {"id": "ask", "type": "question", "data": {"text": "Is now a good time to talk?"}},
            {"id": "pitch", "type": "message", "data": {"text": "Great, here is the short version."}},
            {"id": "bye", "type": "end", "data": {"text": "Thanks, goodbye!"}}
        ],
        "edges": [
            {"id": "e1", "source": "greet", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "pitch", "condition": {"type": "keywords", "any": ["yes", "sure"]}},
            {"id": "e3", "source": "ask", "target": "bye", "condition": {"type": "else"}},
            {"id": "e4", "source": "pitch", "target": "bye"}
        ]
    })
}

#[tokio::test]
async fn call_flows_are_validated_as_a_whole_and_round_trip() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = expect_json(
        send(
            &app,
            Method::POST,
            "/api/agents",
            Some(&json!({"name": "Flowy"})),
            &token,
        )
        .await?,
        201,
    )
    .await?;
    let path = format!("/api/agents/{}/flow", id(&agent)?);
    let empty = expect_json(send(&app, Method::GET, &path, None, &token).await?, 200).await?;
    assert_eq!(empty, json!({"nodes": [], "edges": []}));

    let stored = expect_json(
        send(&app, Method::PUT, &path, Some(&sales_flow()), &token).await?,
        200,
    )
    .await?;
    assert_eq!(
        stored,
        sales_flow(),
        "the flow round-trips, extra fields included"
    );
    let fetched = expect_json(send(&app, Method::GET, &path, None, &token).await?, 200).await?;
    assert_eq!(fetched, sales_flow());
    let canonical = format!("/api/v1/agents/{}", id(&agent)?);
    let agent_view = expect_json(
        send(&app, Method::GET, &canonical, None, &token).await?,
        200,
    )
    .await?;
    assert_eq!(agent_view["call_flow"], sales_flow());

    // Several problems at once: two start nodes, an edge to nowhere, a question without else,
    // a bad regex, and a node nobody reaches.
    let broken = json!({
        "nodes": [
            {"id": "a", "type": "message", "start": true, "data": {"text": "Hi"}},
            {"id": "b", "type": "question", "start": true, "data": {"text": "Yes?"}},
            {"id": "island", "type": "message", "data": {"text": "Nobody comes here"}},
            {"id": "end", "type": "end", "data": {"text": "Bye"}}
        ],
        "edges": [
            {"id": "e1", "source": "a", "target": "b"},
            {"id": "e2", "source": "b", "target": "end", "condition": {"type": "regex", "pattern": "(unclosed"}},
            {"id": "e3", "source": "b", "target": "ghost", "condition": {"type": "keywords", "any": ["no"]}},
            {"id": "e4", "source": "island", "target": "end"}
        ]
    });
    let refused = send(&app, Method::PUT, &path, Some(&broken), &token).await?;
    let body = expect_error(refused, 422).await?;
    let messages: Vec<String> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {}",
                e["field"].as_str().unwrap_or_default(),
                e["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let all = messages.join("\n").to_lowercase();
    for expected in ["start", "ghost", "else", "regex", "island"] {
        assert!(
            all.contains(expected),
            "no problem mentions {expected:?}:\n{all}"
        );
    }
    assert!(messages.len() >= 5, "{messages:#?}");
    // A refused flow changes nothing.
    let unchanged = expect_json(send(&app, Method::GET, &path, None, &token).await?, 200).await?;
    assert_eq!(unchanged, sales_flow());

    // Removing the flow.
    let cleared = expect_json(
        send(&app, Method::PUT, &path, Some(&Value::Null), &token).await?,
        200,
    )
    .await?;
    assert_eq!(cleared, json!({"nodes": [], "edges": []}));
    // The flow can also be sent with the agent.
    let with_agent = send(
        &app,
        Method::PUT,
        &canonical,
        Some(&json!({"call_flow": {"nodes": "bad"}})),
        &token,
    )
    .await?;
    let body = expect_error(with_agent, 422).await?;
    assert_eq!(body["errors"][0]["field"], "call_flow");
    Ok(())
}

#[tokio::test]
async fn turn_taking_round_trips_and_invalid_values_name_the_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;

    // Without the section an agent gets the defaults.
    let plain = send(
        &app,
        Method::POST,
        "/api/v1/agents",
        Some(&json!({"name": "Plain"})),
        &token,
    )
    .await?;
    let plain = expect_json(plain, 201).await?;
    assert_eq!(plain["turn_taking"]["min_interruption_words"], 1);
    assert_eq!(plain["turn_taking"]["silence_reprompt_after_ms"], 8000);
    assert!(
        plain["turn_taking"]["backchannel_words"]
            .as_array()
            .is_some_and(|words| words.iter().any(|w| w == "uh-huh"))
    );

    let turn_taking = json!({
        "min_interruption_words": 2,
        "min_interruption_ms": 600,
        "false_interruption_timeout_ms": 2000,
        "backchannel_words": ["yeah", "uh-huh", "I see"],
        "filler_after_ms": 1500,
        "filler_line": "Let me look that up.",
        "silence_reprompt_after_ms": 10000,
        "silence_reprompts_max": 1,
        "silence_reprompt_line": "Hello, are you there?",
        "silence_goodbye_line": "",
        "dtmf_timeout_ms": 3000
    });
    let created = send(
        &app,
        Method::POST,
        "/api/v1/agents",
        Some(&json!({"name": "Patient", "turn_taking": turn_taking})),
        &token,
    )
    .await?;
    let created = expect_json(created, 201).await?;
    assert_eq!(created["turn_taking"], turn_taking);
    let path = format!("/api/v1/agents/{}", id(&created)?);
    let fetched = expect_json(send(&app, Method::GET, &path, None, &token).await?, 200).await?;
    assert_eq!(fetched["turn_taking"], turn_taking);

    // An update changes only the fields it sends.
    let patched = send(
        &app,
        Method::PATCH,
        &path,
        Some(&json!({"turn_taking": {"filler_after_ms": 0}})),
        &token,
    )
    .await?;
    let patched = expect_json(patched, 200).await?;
    let mut expected = turn_taking.clone();
    expected["filler_after_ms"] = json!(0);
    assert_eq!(patched["turn_taking"], expected);

    let refused = send(
        &app,
        Method::POST,
        "/api/v1/agents",
        Some(&json!({"name": "Broken", "turn_taking": {
            "min_interruption_ms": -5,
            "backchannel_words": ["ok", " "],
            "filler_after_ms": 100,
            "silence_reprompts_max": 9,
            "dtmf_timeout_ms": 60000
        }})),
        &token,
    )
    .await?;
    let body = expect_error(refused, 422).await?;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "turn_taking.min_interruption_ms",
            "turn_taking.backchannel_words[1]",
            "turn_taking.filler_after_ms",
            "turn_taking.silence_reprompts_max",
            "turn_taking.dtmf_timeout_ms"
        ]
    );
    let wrong_type = send(
        &app,
        Method::PATCH,
        &path,
        Some(&json!({"turn_taking": {"dtmf_timeout_ms": "soon"}})),
        &token,
    )
    .await?;
    let body = expect_error(wrong_type, 422).await?;
    assert_eq!(body["errors"][0]["field"], "turn_taking.dtmf_timeout_ms");
    // Nothing was changed by the refused update.
    let unchanged = expect_json(send(&app, Method::GET, &path, None, &token).await?, 200).await?;
    assert_eq!(unchanged["turn_taking"], expected);
    Ok(())
}
