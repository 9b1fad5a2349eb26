//! The OpenAPI document: valid, complete, and matching what the server serves.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use switchboard_testkit::TestApp;

use crate::support::expect_json;

/// Every route of this server: canonical ones and the seed aliases.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("get", "/api/v1/users/me"),
    ("post", "/auth/register"),
    ("post", "/auth/signup"),
    ("post", "/auth/login"),
    ("post", "/auth/refresh"),
    ("post", "/auth/logout"),
    ("get", "/auth/me"),
    ("get", "/users/me"),
    ("get", "/health"),
    ("get", "/health/ready"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/metrics"),
    ("post", "/api/v1/calls"),
    ("get", "/api/v1/calls"),
    ("get", "/api/v1/voice/calls"),
    ("get", "/api/v1/voice/calls/{call_id}"),
    ("get", "/calls/logs"),
    ("get", "/calls/{call_id}"),
    ("get", "/api/calls"),
    ("post", "/api/calls"),
    ("get", "/api/calls/{call_id}"),
    ("get", "/api/v1/calls/{call_id}"),
    ("post", "/api/v1/calls/{call_id}/messages"),
    ("post", "/api/v1/calls/{call_id}/end"),
    ("get", "/api/v1/calls/{call_id}/recording"),
    ("post", "/api/v1/sales/respond-audio/{call_id}"),
    ("get", "/api/v1/sales/ws/voice-chat/{call_id}"),
    ("post", "/conversations/{session_id}/audio"),
    ("post", "/api/test/create-room"),
    ("get", "/ws"),
    ("get", "/ws/calls/{call_id}"),
    ("get", "/ws/voice/{call_id}"),
    ("get", "/ws/voice-chat/{call_id}"),
    ("post", "/telephony/twilio/voice"),
    ("post", "/api/v1/vapi/webhook"),
    ("post", "/api/v1/vapi/function"),
    ("post", "/telephony/twilio/status"),
    ("post", "/telephony/twilio/amd"),
    ("get", "/make-call/{phone_number}/{scenario}"),
    ("post", "/make-call/{phone_number}/{scenario}"),
    ("get", "/make-custom-call/{phone_number}/{scenario_id}"),
    ("get", "/make-calendar-call-scenario/{phone_number}"),
    ("get", "/google-calendar/auth"),
    ("get", "/google-calendar/callback"),
    ("get", "/google-calendar/events"),
    ("get", "/google-calendar/status"),
    ("delete", "/google-calendar/connection"),
    ("get", "/api/v1/google-calendar/auth"),
    ("get", "/api/v1/google-calendar/callback"),
    ("get", "/api/v1/google-calendar/events"),
    ("get", "/api/v1/google-calendar/status"),
    ("delete", "/api/v1/google-calendar/connection"),
    ("post", "/api/calls/start"),
    ("post", "/api/calls/end"),
    ("get", "/telephony/twilio/media"),
    ("get", "/media-stream/{scenario}"),
    ("post", "/api/v1/sales/start-call"),
    ("post", "/api/v1/sales/respond/{call_id}"),
    ("get", "/api/v1/sales/conversation/{call_id}"),
    ("post", "/conversations/{session_id}/message"),
    ("post", "/api/test/agent/{agent_id}"),
    ("get", "/api/v1/knowledge/documents"),
    ("post", "/api/v1/knowledge/documents"),
    ("get", "/api/v1/knowledge/documents/{document_id}"),
    ("delete", "/api/v1/knowledge/documents/{document_id}"),
    ("post", "/api/v1/knowledge/search"),
    ("get", "/api/v1/onboarding/status"),
    ("post", "/api/v1/onboarding/company"),
    ("post", "/api/v1/onboarding/agent"),
    ("post", "/api/v1/onboarding/knowledge"),
    ("post", "/api/v1/onboarding/voice"),
    ("post", "/api/v1/onboarding/channels"),
    ("post", "/api/v1/onboarding/deploy"),
    ("get", "/onboarding/status"),
    ("post", "/onboarding/company"),
    ("post", "/onboarding/agent"),
    ("post", "/onboarding/knowledge"),
    ("post", "/onboarding/voice"),
    ("post", "/onboarding/channels"),
    ("post", "/onboarding/deploy"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agents"),
    ("get", "/api/v1/agents/{agent_id}"),
    ("put", "/api/v1/agents/{agent_id}"),
    ("patch", "/api/v1/agents/{agent_id}"),
    ("delete", "/api/v1/agents/{agent_id}"),
    ("post", "/api/v1/agents/{agent_id}/pause"),
    ("post", "/api/v1/agents/{agent_id}/resume"),
    ("get", "/api/v1/agents/{agent_id}/flow"),
    ("put", "/api/v1/agents/{agent_id}/flow"),
    ("get", "/api/v1/agents/{agent_id}/stats"),
    ("get", "/api/v1/analytics/dashboard"),
    ("get", "/api/v1/analytics/overview"),
    ("get", "/analytics/overview"),
    ("get", "/analytics/metrics"),
    ("get", "/agents"),
    ("post", "/agents"),
    ("get", "/agents/{agent_id}"),
    ("put", "/agents/{agent_id}"),
    ("patch", "/agents/{agent_id}"),
    ("delete", "/agents/{agent_id}"),
    ("post", "/agents/{agent_id}/pause"),
    ("post", "/agents/{agent_id}/resume"),
    ("get", "/agents/{agent_id}/flow"),
    ("put", "/agents/{agent_id}/flow"),
    ("get", "/agents/{agent_id}/stats"),
    ("get", "/api/agents"),
    ("post", "/api/agents"),
    ("get", "/api/agents/{agent_id}"),
    ("put", "/api/agents/{agent_id}"),
    ("patch", "/api/agents/{agent_id}"),
    ("delete", "/api/agents/{agent_id}"),
    ("post", "/api/agents/{agent_id}/pause"),
    ("post", "/api/agents/{agent_id}/resume"),
    ("get", "/api/agents/{agent_id}/flow"),
    ("put", "/api/agents/{agent_id}/flow"),
    ("get", "/api/agents/{agent_id}/stats"),
    ("get", "/api/v1/phone-numbers"),
    ("post", "/api/v1/phone-numbers"),
    ("get", "/api/v1/phone-numbers/{number_id}"),
    ("put", "/api/v1/phone-numbers/{number_id}"),
    ("patch", "/api/v1/phone-numbers/{number_id}"),
    ("delete", "/api/v1/phone-numbers/{number_id}"),
    ("get", "/api/phone-numbers"),
    ("post", "/api/phone-numbers"),
    ("get", "/api/phone-numbers/{number_id}"),
    ("put", "/api/phone-numbers/{number_id}"),
    ("patch", "/api/phone-numbers/{number_id}"),
    ("delete", "/api/phone-numbers/{number_id}"),
    ("get", "/api/v1/scenarios"),
    ("post", "/api/v1/scenarios"),
    ("get", "/api/v1/scenarios/builtin"),
    ("get", "/api/v1/scenarios/{scenario_id}"),
    ("put", "/api/v1/scenarios/{scenario_id}"),
    ("delete", "/api/v1/scenarios/{scenario_id}"),
    ("post", "/realtime/custom-scenario"),
    ("get", "/custom-scenarios"),
    ("put", "/custom-scenarios/{scenario_id}"),
    ("delete", "/custom-scenarios/{scenario_id}"),
    ("post", "/schedule-call"),
    ("post", "/store-transcript/{sid}"),
    ("get", "/stored-twilio-transcripts"),
    ("get", "/stored-twilio-transcripts/{sid}"),
    ("get", "/api/enhanced-transcripts/"),
    ("get", "/api/enhanced-transcripts/{sid}"),
    ("post", "/api/v1/scheduled-calls"),
    ("get", "/api/v1/scheduled-calls"),
    ("get", "/api/v1/scheduled-calls/{scheduled_call_id}"),
    ("delete", "/api/v1/scheduled-calls/{scheduled_call_id}"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{webhook_id}"),
    ("patch", "/api/v1/webhooks/{webhook_id}"),
    ("delete", "/api/v1/webhooks/{webhook_id}"),
    ("post", "/api/v1/webhooks/{webhook_id}/rotate-secret"),
    ("post", "/api/v1/webhooks/{webhook_id}/test"),
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"),
    (
        "post",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    ),
];

fn collect_refs(value: &Value, refs: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                refs.insert(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_and_documents_every_route() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let doc = expect_json(app.get("/openapi.json", None).await?, 200).await?;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .flat_map(|(path, item)| {
                    item.as_object()
                        .into_iter()
                        .flat_map(|ops| ops.keys())
                        .filter(|m| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
                        .map(move |m| (m.clone(), path.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);

    // Every reference resolves, every operation has a unique id and answers.
    let mut refs = BTreeSet::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| anyhow::anyhow!("external reference {reference}"))?;
        assert!(doc.pointer(pointer).is_some(), "dangling {reference}");
    }
    let mut ids = BTreeSet::new();
    for (method, path) in &documented {
        let operation = &doc["paths"][path][method];
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(ids.insert(id.clone()), "operationId {id:?} repeats");
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
    }
    assert!(doc.pointer("/components/schemas/ErrorBody").is_some());
    assert!(doc.pointer("/components/securitySchemes/bearer").is_some());
    Ok(())
}

#[tokio::test]
async fn every_documented_route_is_served() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    for (method, path) in ROUTES {
        let method = Method::from_bytes(method.to_uppercase().as_bytes())?;
        let response = app.request(method.clone(), path).send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        assert!(
            !(status == 405 || (status == 404 && body.contains("no route"))),
            "{method} {path} is documented but not served: {status} {body}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_docs_page_renders_the_document() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let page = app.get("/docs", None).await?;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    );
    assert!(page.text().await?.contains("/openapi.json"));
    Ok(())
}
