//! Vapi's server webhooks over HTTP, with the payloads of PROVIDERS.md §7 and seed 004: the
//! shared-secret check, assistant requests, tool and function calls answered from the knowledge
//! base, status updates, and end-of-call reports stored once as the organisation's calls.

use std::time::Duration;

use reqwest::multipart::Form;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::knowledge::{part, upload};
use crate::support::{expect_error, expect_json, get_until};

const SECRET: &str = "vapi-shared-secret";
const WAIT: Duration = Duration::from_secs(10);

/// A server with `VAPI_SECRET` set, a signed-in user, and their organisation's id.
struct Vapi {
    app: TestApp,
    token: String,
    org: String,
}

async fn vapi() -> anyhow::Result<Vapi> {
    let app = TestApp::builder()
        .env("VAPI_SECRET", SECRET)
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let me = expect_json(app.get("/api/v1/auth/me", Some(&token)).await?, 200).await?;
    let org = me["organization_id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no organization_id in {me}"))?
        .to_owned();
    Ok(Vapi { app, token, org })
}

impl Vapi {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Response> {
        Ok(self
            .app
            .request(Method::POST, &format!("{path}?org={}", self.org))
            .header("x-vapi-secret", SECRET)
            .json(body)
            .send()
            .await?)
    }

    async fn webhook(&self, body: &Value) -> anyhow::Result<Value> {
        expect_json(self.post("/api/v1/vapi/webhook", body).await?, 200).await
    }

    async fn upload_refunds(&self) -> anyhow::Result<()> {
        let form = Form::new().part(
            "files",
            part(
                b"Refunds are issued to the original card within five days of receiving the return."
                    .to_vec(),
                "refunds.txt",
                "text/plain",
            )?,
        );
        expect_json(upload(&self.app, &self.token, form).await?, 201).await?;
        Ok(())
    }

    /// The organisation's calls, once at least `count` are listed (or an error at the deadline).
    async fn calls(&self, count: usize) -> anyhow::Result<Vec<Value>> {
        let what = format!("{count} call(s) stored");
        let listed = get_until(
            &self.app,
            "/api/v1/calls",
            &self.token,
            WAIT,
            &what,
            |listed| {
                listed["items"]
                    .as_array()
                    .is_some_and(|items| items.len() >= count)
            },
        )
        .await?;
        Ok(listed["items"].as_array().cloned().unwrap_or_default())
    }
}

fn report(vapi_call_id: &str) -> Value {
    json!({"message": {
        "type": "end-of-call-report",
        "endedReason": "customer-ended-call",
        "timestamp": 1_717_000_100_000_i64,
        "startedAt": "2025-06-01T10:00:00.000Z",
        "endedAt": "2025-06-01T10:04:12.000Z",
        "cost": 0.21,
        "call": {"id": vapi_call_id, "type": "inboundPhoneCall", "status": "ended"},
        "customer": {"number": "+14155550123"},
        "artifact": {
            "transcript": "AI: Hi, how can I help?\nUser: I need an appointment",
            "recordingUrl": "https://storage.vapi.ai/rec-mono.wav",
            "stereoRecordingUrl": "https://storage.vapi.ai/rec-stereo.wav",
            "messages": [
                {"role": "system", "message": "You are a receptionist.", "time": 1_717_000_000_000_i64, "secondsFromStart": 0},
                {"role": "bot", "message": "Hi, how can I help?", "time": 1_717_000_001_000_i64, "endTime": 1_717_000_002_500_i64, "secondsFromStart": 0.8, "duration": 1500},
                {"role": "user", "message": "I need an appointment", "time": 1_717_000_004_000_i64, "endTime": 1_717_000_005_200_i64, "secondsFromStart": 3.1, "duration": 1200},
                {"role": "tool_calls", "message": "", "toolCalls": [], "time": 1_717_000_006_000_i64, "secondsFromStart": 5.0},
                {"role": "tool_call_result", "toolCallId": "x", "name": "f", "result": "ok", "time": 1_717_000_006_500_i64, "secondsFromStart": 5.5}
            ]
        },
        "analysis": {"summary": "The caller wants an appointment.", "successEvaluation": "true"}
    }})
}

#[tokio::test]
async fn without_vapi_secret_the_webhook_is_unavailable() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    for path in ["/api/v1/vapi/webhook", "/api/v1/vapi/function"] {
        let response = app
            .request(Method::POST, path)
            .header("x-vapi-secret", "anything")
            .json(&json!({"message": {"type": "status-update"}}))
            .send()
            .await?;
        let body = expect_error(response, 503).await?;
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("VAPI_SECRET")),
            "{body}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_secret_is_required_in_either_header() -> anyhow::Result<()> {
    let v = vapi().await?;
    let path = format!("/api/v1/vapi/webhook?org={}", v.org);
    let ack =
        json!({"message": {"type": "status-update", "status": "ringing", "call": {"id": "c1"}}});
    let send = |header: Option<(&'static str, String)>| {
        let mut request = v.app.request(Method::POST, &path).json(&ack);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        request.send()
    };
    expect_error(send(None).await?, 401).await?;
    expect_error(send(Some(("x-vapi-secret", "wrong".into()))).await?, 401).await?;
    expect_error(
        send(Some(("x-vapi-secret", format!("{SECRET}x")))).await?,
        401,
    )
    .await?;
    expect_error(
        send(Some(("authorization", "Bearer wrong".into()))).await?,
        401,
    )
    .await?;
    expect_error(send(Some(("authorization", SECRET.into()))).await?, 401).await?;
    for header in [
        ("x-vapi-secret", SECRET.to_owned()),
        ("authorization", format!("Bearer {SECRET}")),
    ] {
        let body = expect_json(send(Some(header)).await?, 200).await?;
        assert_eq!(
            body,
            json!({"status": "ok"}),
            "status-update is acknowledged"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_organisation_and_the_message_must_be_given() -> anyhow::Result<()> {
    let v = vapi().await?;
    let send = |path: String, body: Vec<u8>| {
        v.app
            .request(Method::POST, &path)
            .header("x-vapi-secret", SECRET)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let ok = br#"{"message":{"type":"hang"}}"#.to_vec();
    let missing = expect_error(send("/api/v1/vapi/webhook".into(), ok.clone()).await?, 422).await?;
    assert!(missing.to_string().contains("org"), "{missing}");
    let unknown = format!("/api/v1/vapi/webhook?org={}", uuid::Uuid::new_v4());
    expect_error(send(unknown, ok.clone()).await?, 404).await?;
    expect_error(
        send("/api/v1/vapi/webhook?org=not-a-uuid".into(), ok.clone()).await?,
        404,
    )
    .await?;

    let here = format!("/api/v1/vapi/webhook?org={}", v.org);
    expect_error(send(here.clone(), b"{not json".to_vec()).await?, 400).await?;
    let untyped = expect_error(
        send(here.clone(), br#"{"message":{}}"#.to_vec()).await?,
        422,
    )
    .await?;
    assert!(untyped.to_string().contains("message.type"), "{untyped}");
    expect_error(send(here.clone(), b"[]".to_vec()).await?, 422).await?;
    for kind in ["hang", "speech-update", "transcript", "conversation-update"] {
        let body = expect_json(
            send(
                here.clone(),
                json!({"message": {"type": kind}}).to_string().into_bytes(),
            )
            .await?,
            200,
        )
        .await?;
        assert_eq!(body, json!({}), "{kind}");
    }
    Ok(())
}

#[tokio::test]
async fn an_assistant_request_is_answered_with_the_active_agent() -> anyhow::Result<()> {
    let v = vapi().await?;
    let request = json!({"message": {"type": "assistant-request",
        "call": {"id": "call-1", "type": "inboundPhoneCall"},
        "phoneNumber": {"number": "+14155550199"}, "customer": {"number": "+14155550123"}}});
    let none = v.webhook(&request).await?;
    assert!(
        none["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{none}"
    );
    assert!(none.get("assistant").is_none());

    expect_json(
        v.app
            .post_json(
                "/api/v1/agents",
                &json!({
                    "name": "Ava",
                    "system_prompt": "You book tables at Luigi's.",
                    "first_message": "Hi, this is {agent_name} from Luigi's.",
                    "voice": {"provider": "elevenlabs", "voice_id": "voice-ava"},
                }),
                Some(&v.token),
            )
            .await?,
        201,
    )
    .await?;
    let answer = v.webhook(&request).await?;
    let assistant = &answer["assistant"];
    assert_eq!(assistant["name"], "Ava", "{answer}");
    assert_eq!(assistant["firstMessage"], "Hi, this is Ava from Luigi's.");
    let model = &assistant["model"];
    assert_eq!(model["provider"], "openai");
    assert!(model["model"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        model["messages"],
        json!([{"role": "system", "content": "You book tables at Luigi's."}])
    );
    assert!(model["temperature"].is_number() && model["maxTokens"].is_number());
    assert_eq!(model["tools"][0]["type"], "function");
    assert_eq!(
        model["tools"][0]["function"]["name"],
        "search_knowledge_base"
    );
    assert_eq!(
        model["tools"][0]["function"]["parameters"]["required"],
        json!(["query"])
    );
    assert_eq!(
        assistant["voice"],
        json!({"provider": "11labs", "voiceId": "voice-ava"})
    );
    let transcriber = &assistant["transcriber"];
    assert!(transcriber["provider"].is_string() && transcriber["model"].is_string());
    assert!(transcriber["language"].is_string());
    Ok(())
}

#[tokio::test]
async fn tool_calls_in_every_form_search_the_knowledge_base() -> anyhow::Result<()> {
    let v = vapi().await?;
    v.upload_refunds().await?;
    let question = "How do refunds work?";
    let function = json!({"name": "search_knowledge_base", "arguments": json!({"query": question}).to_string()});
    let body = json!({"message": {
        "type": "tool-calls",
        "timestamp": 1_717_000_000_000_i64,
        "call": {"id": "call-2"},
        "toolCallList": [
            {"id": "call_string", "type": "function", "function": function},
            {"id": "call_object", "type": "function", "function": {"name": "search_knowledge_base", "arguments": {"query": question}}},
            {"id": "call_flat", "name": "search_knowledge_base", "parameters": {"query": question}},
            {"id": "call_unknown", "type": "function", "function": {"name": "book_slot", "arguments": "{\"time\":\"15:00\"}"}},
        ],
        "toolWithToolCallList": [],
    }});
    for path in ["/api/v1/vapi/webhook", "/api/v1/vapi/function"] {
        let answer = expect_json(v.post(path, &body).await?, 200).await?;
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(results.len(), 4, "{answer}");
        for (result, id) in results
            .iter()
            .zip(["call_string", "call_object", "call_flat"])
        {
            assert_eq!(result["toolCallId"], id);
            assert_eq!(result["name"], "search_knowledge_base");
            assert!(
                result["result"]
                    .as_str()
                    .is_some_and(|r| r.contains("original card within five days")),
                "{path} {id}: {result}"
            );
            assert!(result.get("error").is_none());
        }
        assert_eq!(results[3]["toolCallId"], "call_unknown");
        assert_eq!(results[3]["name"], "book_slot");
        assert!(
            results[3]["error"]
                .as_str()
                .is_some_and(|e| e.contains("book_slot"))
        );
        assert!(results[3].get("result").is_none());
    }

    // The spec's other list, used when toolCallList is empty.
    let nested = json!({"message": {"type": "tool-calls", "toolCallList": [],
        "toolWithToolCallList": [{"type": "function", "function": {"name": "search_knowledge_base", "parameters": {}},
            "server": {"url": "https://example.com"}, "messages": [],
            "toolCall": {"id": "call_nested", "type": "function", "function": function}}]}});
    let answer = v.webhook(&nested).await?;
    assert_eq!(
        answer["results"][0]["toolCallId"], "call_nested",
        "{answer}"
    );
    assert!(
        answer["results"][0]["result"]
            .as_str()
            .is_some_and(|r| r.contains("five days"))
    );
    Ok(())
}

#[tokio::test]
async fn a_legacy_function_call_is_answered_with_one_result() -> anyhow::Result<()> {
    let v = vapi().await?;
    v.upload_refunds().await?;
    for path in ["/api/v1/vapi/webhook", "/api/v1/vapi/function"] {
        for parameters in [
            json!({"query": "How do refunds work?"}),
            json!("{\"query\":\"How do refunds work?\"}"),
        ] {
            let body = json!({"message": {"type": "function-call", "call": {"id": "c"},
                "functionCall": {"name": "search_knowledge_base", "parameters": parameters}}});
            let answer = expect_json(v.post(path, &body).await?, 200).await?;
            let result = answer["result"].as_str().unwrap_or_default();
            assert!(
                result.contains("original card within five days"),
                "{path}: {answer}"
            );
        }
        let empty = json!({"message": {"type": "function-call",
            "functionCall": {"name": "search_knowledge_base", "parameters": {}}}});
        let answer = expect_json(v.post(path, &empty).await?, 200).await?;
        assert!(
            answer["result"]
                .as_str()
                .is_some_and(|r| r.contains("more information")),
            "{answer}"
        );
    }
    let not_a_function = json!({"message": {"type": "status-update", "status": "ended"}});
    expect_error(v.post("/api/v1/vapi/function", &not_a_function).await?, 422).await?;
    Ok(())
}

#[tokio::test]
async fn an_end_of_call_report_is_stored_once() -> anyhow::Result<()> {
    let v = vapi().await?;
    let sent = report("vapi-call-42");
    let first = v.webhook(&sent).await?;
    assert_eq!(first, json!({"status": "processing"}));
    let second = v.webhook(&sent).await?;
    assert_eq!(second, first);
    let calls = v.calls(1).await?;
    let id = calls[0]["id"].as_str().unwrap_or_default().to_owned();
    let stored = expect_json(
        v.app
            .get(&format!("/api/calls/{id}"), Some(&v.token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(
        stored["recording_url"], "https://storage.vapi.ai/rec-mono.wav",
        "{stored}"
    );
    assert_eq!(stored["duration"], 252);
    assert_eq!(stored["direction"], "inbound");
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["timestamp"], "2025-06-01T10:00:00Z");
    assert_eq!(stored["metadata"]["vapi_call_id"], "vapi-call-42");
    assert_eq!(stored["metadata"]["cost"], 0.21);
    assert_eq!(stored["metadata"]["endedReason"], "customer-ended-call");
    assert_eq!(
        stored["metadata"]["summary"],
        "The caller wants an appointment."
    );
    let lines: Vec<(&str, &str)> = stored["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["speaker"].as_str().unwrap_or(""),
                t["text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("agent", "Hi, how can I help?"),
            ("customer", "I need an appointment")
        ]
    );

    // A different call is a second call; the repeat above never became one.
    v.webhook(&report("vapi-call-43")).await?;
    let calls = v.calls(2).await?;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.iter().any(|c| c["id"] == id.as_str()));
    Ok(())
}

#[tokio::test]
async fn a_legacy_report_reads_the_top_level_and_many_repeats_store_one_call() -> anyhow::Result<()>
{
    let v = vapi().await?;
    let legacy = json!({"message": {"type": "end-of-call-report",
        "call": {"id": "legacy-1", "startedAt": "2024-05-01T09:00:00Z", "endedAt": "2024-05-01T09:01:00Z"},
        "recordingUrl": "https://legacy.example.com/rec.wav",
        "artifact": {"recordingUrl": "https://artifact.example.com/rec.wav"},
        "summary": "Legacy summary",
        "transcript": "AI: Hello\nUser: Bye",
        "messages": [{"role": "assistant", "message": "Hello"}, {"role": "user", "message": "Bye"}]}});
    // Sent concurrently: the repeats race each other into storage.
    let sends = (0..6).map(|_| v.webhook(&legacy));
    for answer in futures_util::future::join_all(sends).await {
        answer?;
    }
    let calls = v.calls(1).await?;
    let id = calls[0]["id"].as_str().unwrap_or_default().to_owned();
    let stored = expect_json(
        v.app
            .get(&format!("/api/calls/{id}"), Some(&v.token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(
        stored["recording_url"],
        "https://legacy.example.com/rec.wav"
    );
    assert_eq!(stored["duration"], 60);
    assert_eq!(stored["metadata"]["summary"], "Legacy summary");
    assert_eq!(stored["transcript"].as_array().map(Vec::len), Some(2));
    // A marker report queued after the repeats: by the time it is stored, the repeats have at
    // least started, and a second copy of the repeated call would show here.
    v.webhook(&report("marker")).await?;
    let all = v.calls(2).await?;
    assert_eq!(all.len(), 2, "the repeats stored one call: {all:?}");
    Ok(())
}

#[tokio::test]
async fn odd_shapes_are_answered_without_a_server_error() -> anyhow::Result<()> {
    let v = vapi().await?;
    for (body, status) in [
        (json!({"message": "end-of-call-report"}), 422),
        (json!({"message": {"type": 7}}), 422),
        (json!({"type": "tool-calls"}), 422),
        (
            json!({"message": {"type": "tool-calls", "toolCallList": "nope"}}),
            200,
        ),
        (
            json!({"message": {"type": "tool-calls", "toolCallList": [{"id": 1, "function": 5, "arguments": 3}]}}),
            200,
        ),
        (
            json!({"message": {"type": "function-call", "functionCall": "x"}}),
            200,
        ),
        (
            json!({"message": {"type": "assistant-request", "call": []}}),
            200,
        ),
        (
            json!({"message": {"type": "status-update", "status": {"x": 1}, "call": "c"}}),
            200,
        ),
    ] {
        let response = v.post("/api/v1/vapi/webhook", &body).await?;
        assert_eq!(
            response.status().as_u16(),
            status,
            "{body}: {}",
            response.text().await?
        );
    }
    // A report with values the call log refuses still stores the call, without them.
    let odd = json!({"message": {"type": "end-of-call-report", "call": {"id": "odd-1"},
        "startedAt": "2025-06-01T10:00:00Z", "endedAt": "2025-06-03T10:00:00Z",
        "recordingUrl": "ftp://example.com/rec.wav", "customer": {"number": "9".repeat(300)},
        "messages": "not a list", "cost": "free"}});
    assert_eq!(v.webhook(&odd).await?, json!({"status": "processing"}));
    let calls = v.calls(1).await?;
    let id = calls[0]["id"].as_str().unwrap_or_default().to_owned();
    let stored = expect_json(
        v.app
            .get(&format!("/api/calls/{id}"), Some(&v.token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(stored["metadata"]["vapi_call_id"], "odd-1", "{stored}");
    assert_eq!(stored["recording_url"], Value::Null);
    assert_eq!(stored["transcript"], json!([]));
    Ok(())
}
