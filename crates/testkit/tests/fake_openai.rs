//! `FakeOpenAi` on its own, spoken to with a plain HTTP client: the parts of the wire format the
//! adapter tests do not reach (non-streamed completions, errors for bad requests and paths),
//! and `TestApp::with_openai`.

use reqwest::Client;
use serde_json::{Value, json};
use switchboard_testkit::{FakeOpenAi, Reply, TestApp};

type TestResult = anyhow::Result<()>;

async fn post(
    fake: &FakeOpenAi,
    path: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let response = Client::builder()
        .no_proxy()
        .build()?
        .post(format!("{}{path}", fake.base_url()))
        .bearer_auth(key)
        .json(body)
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await?))
}

fn ask(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "hi there"}]})
}

#[tokio::test]
async fn non_streamed_completions_carry_text_or_tool_calls() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    fake.enqueue(Reply::tool_call("book_slot", json!({"time": "15:00"})));

    let (status, body) = post(&fake, "/chat/completions", &fake.api_key(), &ask(false)).await?;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "book_slot");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap_or_default())?,
        json!({"time": "15:00"})
    );

    let (status, body) = post(&fake, "/chat/completions", &fake.api_key(), &ask(false)).await?;
    assert_eq!(status, 200);
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from the fake model."
    );
    assert!(
        body["usage"]["total_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    assert_eq!(fake.chat_requests().len(), 2);
    Ok(())
}

#[tokio::test]
async fn wrong_keys_bad_requests_and_unknown_paths_get_openais_errors() -> TestResult {
    let fake = FakeOpenAi::start().await?;

    let (status, body) = post(
        &fake,
        "/chat/completions",
        "sk-wrong-key-123456",
        &ask(true),
    )
    .await?;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Incorrect API key provided"),
        "{message}"
    );
    assert!(!message.contains("sk-wrong-key-123456"), "{message}");

    let orphan = json!({"model": "m", "messages": [{"role": "tool", "content": "booked"}]});
    let (status, body) = post(&fake, "/chat/completions", &fake.api_key(), &orphan).await?;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("tool_call_id"))
    );

    let (status, _) = post(
        &fake,
        "/embeddings",
        &fake.api_key(),
        &json!({"model": "m", "input": [""]}),
    )
    .await?;
    assert_eq!(status, 400);

    let (status, body) = post(&fake, "/models", &fake.api_key(), &json!({})).await?;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].is_string());

    // Every request is recorded, refused ones included; a scripted reply was not used up.
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(
        fake.requests()[0].authorization.as_deref(),
        Some("Bearer sk-wrong-key-123456")
    );
    Ok(())
}

#[tokio::test]
async fn a_test_server_can_be_pointed_at_the_fake() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let app = TestApp::builder().with_openai(&fake).spawn().await?;

    let body: Value = app.get("/health", None).await?.json().await?;

    assert_eq!(body["providers"]["openai"]["status"], "configured");
    assert!(
        body["llm_service_details"]
            .as_str()
            .is_some_and(|d| d.contains("127.0.0.1"))
    );
    Ok(())
}
