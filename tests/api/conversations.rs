//! Conversations with a language model, end to end: the server talks to the loopback OpenAI fake
//! over the real wire format, and to a loopback HTTP tool.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use switchboard_testkit::{FakeOpenAi, Reply, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{expect_error, expect_json};

fn text(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_default().to_owned()
}

async fn agent(app: &TestApp, token: &str, body: Value) -> anyhow::Result<String> {
    let agent = expect_json(
        app.post_json("/api/v1/agents", &body, Some(token)).await?,
        201,
    )
    .await?;
    Ok(text(&agent, "id"))
}

async fn start(app: &TestApp, token: &str, agent: &str) -> anyhow::Result<String> {
    let body = json!({"agent_id": agent, "customer_name": "John", "phone_number": "+14155550123"});
    let call = expect_json(
        app.post_json("/api/v1/calls", &body, Some(token)).await?,
        201,
    )
    .await?;
    Ok(text(&call, "id"))
}

async fn say(
    app: &TestApp,
    token: &str,
    call: &str,
    message: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .post_json(
            &format!("/api/v1/calls/{call}/messages"),
            &json!({"message": message}),
            Some(token),
        )
        .await?)
}

/// The messages of a recorded chat request, as (role, content) pairs.
fn messages(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (text(m, "role"), text(m, "content")))
        .collect()
}

#[tokio::test]
async fn a_multi_turn_sales_conversation() -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await?;
    let app = TestApp::builder().with_openai(&fake).spawn().await?;
    let token = app.signed_in_user().await?;
    let id = agent(
        &app,
        &token,
        json!({
            "name": "Alex",
            "system_prompt": "You sell the AI Mastery Bootcamp.",
            "first_message": "Hi {customer_name}, this is {agent_name}. Is now a good time?",
            "llm": {"model": "gpt-4o-mini", "temperature": 0.4}
        }),
    )
    .await?;
    fake.enqueue(Reply::text(
        "Great! It's a 12-week program covering LLMs and MLOps.",
    ));
    fake.enqueue(Reply::text("The special offer price is $299."));
    let body = json!({"agent_id": id, "customer_name": "John", "phone_number": "+14155550123"});
    let call = expect_json(
        app.post_json("/api/v1/calls", &body, Some(&token)).await?,
        201,
    )
    .await?;
    assert_eq!(
        call["first_message"],
        "Hi John, this is Alex. Is now a good time?"
    );
    let call_id = text(&call, "id");

    let first = expect_json(
        say(&app, &token, &call_id, "Yes, tell me more.").await?,
        200,
    )
    .await?;
    assert_eq!(
        first["reply"],
        "Great! It's a 12-week program covering LLMs and MLOps."
    );
    assert!(first["latency"]["first_token_ms"].is_u64(), "{first}");
    let second = expect_json(say(&app, &token, &call_id, "How much is it?").await?, 200).await?;
    assert_eq!(second["reply"], "The special offer price is $299.");

    let requests = fake.chat_requests();
    assert_eq!(requests.len(), 2);
    let last = &requests[1].body;
    assert_eq!(last["model"], "gpt-4o-mini");
    assert_eq!(last["temperature"], 0.4);
    assert_eq!(last["stream"], true);
    let sent = messages(last);
    assert_eq!(sent[0].0, "system");
    for part in [
        "You sell the AI Mastery Bootcamp.",
        "The caller's name is John.",
        "+14155550123",
        "You are Alex",
    ] {
        assert!(
            sent[0].1.contains(part),
            "system prompt lacks {part:?}: {}",
            sent[0].1
        );
    }
    let dialogue: Vec<(&str, &str)> = sent[1..]
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        dialogue,
        [
            ("assistant", "Hi John, this is Alex. Is now a good time?"),
            ("user", "Yes, tell me more."),
            (
                "assistant",
                "Great! It's a 12-week program covering LLMs and MLOps."
            ),
            ("user", "How much is it?"),
        ]
    );
    let stored = expect_json(
        app.get(&format!("/api/v1/calls/{call_id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(stored["transcript"].as_array().map(Vec::len), Some(5));
    Ok(())
}

#[tokio::test]
async fn an_agent_without_a_greeting_lets_the_model_greet() -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await?;
    let app = TestApp::builder().with_openai(&fake).spawn().await?;
    let token = app.signed_in_user().await?;
    let id = agent(&app, &token, json!({"name": "Alex"})).await?;
    fake.enqueue(Reply::text("Hello John, Alex here. How can I help?"));
    let body = json!({"agent_id": id, "customer_name": "John"});
    let call = expect_json(
        app.post_json("/api/v1/calls", &body, Some(&token)).await?,
        201,
    )
    .await?;
    assert_eq!(
        call["first_message"],
        "Hello John, Alex here. How can I help?"
    );
    Ok(())
}

#[tokio::test]
async fn knowledge_questions_go_through_the_search_tool() -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await?;
    let app = TestApp::builder().with_openai(&fake).spawn().await?;
    let token = app.signed_in_user().await?;
    let id = agent(
        &app,
        &token,
        json!({"name": "Sam", "first_message": "Hi!", "tools": [{"type": "builtin", "name": "search_knowledge_base"}]}),
    )
    .await?;
    let form = Form::new().text("agent_id", id.clone()).part(
        "files",
        Part::bytes(b"Returns are free within thirty days of delivery.".to_vec())
            .file_name("returns.txt")
            .mime_str("text/plain")?,
    );
    let upload = app
        .request(reqwest::Method::POST, "/api/v1/knowledge/documents")
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await?;
    expect_json(upload, 201).await?;

    fake.enqueue(Reply::tool_call(
        "search_knowledge_base",
        json!({"query": "return policy"}),
    ));
    fake.enqueue(Reply::text("You can return it free within thirty days."));
    let call = start(&app, &token, &id).await?;
    let turn = expect_json(
        say(&app, &token, &call, "Can I return my order?").await?,
        200,
    )
    .await?;
    assert_eq!(turn["reply"], "You can return it free within thirty days.");
    assert_eq!(turn["tools_called"], json!(["search_knowledge_base"]));
    assert!(
        turn["chunks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["document_name"] == "returns.txt")),
        "{turn}"
    );

    let requests = fake.chat_requests();
    assert_eq!(requests.len(), 2);
    let tools = &requests[0].body["tools"];
    assert_eq!(tools[0]["function"]["name"], "search_knowledge_base");
    // The tool result reached the model, answering the call it made.
    let answer = requests[1].body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap_or_default();
    assert!(
        text(&answer, "content").contains("Returns are free within thirty days"),
        "{answer}"
    );
    assert!(!text(&answer, "tool_call_id").is_empty());
    Ok(())
}

/// A loopback HTTP tool: answers every POST with `answer` and keeps the bodies it received.
async fn tool_server(answer: &'static str) -> anyhow::Result<(String, Arc<Mutex<Vec<Value>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/orders", listener.local_addr()?);
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = Vec::new();
            let mut chunk = [0_u8; 4096];
            // Read until the headers and the declared body have arrived.
            while let Ok(n) = stream.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buffer).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        if let Ok(json) = serde_json::from_str::<Value>(body) {
                            seen.lock().map(|mut s| s.push(json)).ok();
                        }
                        break;
                    }
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    Ok((url, received))
}

#[tokio::test]
async fn custom_http_tools_receive_the_arguments_and_their_answer_reaches_the_model()
-> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await?;
    let (url, received) = tool_server(r#"{"status": "shipped", "eta": "tomorrow"}"#).await?;
    let app = TestApp::builder().with_openai(&fake).spawn().await?;
    let token = app.signed_in_user().await?;
    let tool = json!({"type": "http", "name": "check_order", "description": "Finds an order's status", "url": url,
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}});
    let id = agent(
        &app,
        &token,
        json!({"name": "Sam", "first_message": "Hi!", "tools": [tool]}),
    )
    .await?;
    fake.enqueue(Reply::tool_call("check_order", json!({"order_id": "A17"})));
    fake.enqueue(Reply::text("Your order ships tomorrow."));
    let call = start(&app, &token, &id).await?;
    let turn = expect_json(say(&app, &token, &call, "Where is order A17?").await?, 200).await?;
    assert_eq!(turn["reply"], "Your order ships tomorrow.");
    assert_eq!(
        *received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?,
        [json!({"order_id": "A17"})]
    );
    let requests = fake.chat_requests();
    let result = requests[1].body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap_or_default();
    assert!(text(&result, "content").contains("shipped"), "{result}");
    Ok(())
}

#[tokio::test]
async fn end_call_ends_the_call() -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await?;
    let app = TestApp::builder().with_openai(&fake).spawn().await?;
    let token = app.signed_in_user().await?;
    let id = agent(&app, &token, json!({"name": "Sam", "first_message": "Hi!", "tools": [{"type": "builtin", "name": "end_call"}]})).await?;
    fake.enqueue(Reply::tool_call(
        "end_call",
        json!({"reason": "caller is done"}),
    ));
    fake.enqueue(Reply::text("Thanks for calling, goodbye!"));
    let call = start(&app, &token, &id).await?;
    let turn = expect_json(
        say(&app, &token, &call, "That's everything, thanks.").await?,
        200,
    )
    .await?;
    assert_eq!(turn["reply"], "Thanks for calling, goodbye!");
    assert_eq!(turn["should_end_call"], true);
    assert_eq!(turn["end_reason"], "agent_ended");
    assert_eq!(turn["status"], "completed");
    expect_error(say(&app, &token, &call, "Hello?").await?, 404).await?;
    Ok(())
}

#[tokio::test]
async fn provider_errors_are_retried_then_answered_with_503_and_nothing_is_lost()
-> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await?;
    let app = TestApp::builder()
        .with_openai(&fake)
        .env("OPENAI_MAX_RETRIES", "2")
        .env("OPENAI_STREAM_TIMEOUT_MS", "2000")
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let id = agent(&app, &token, json!({"name": "Sam", "first_message": "Hi!"})).await?;
    let call = start(&app, &token, &id).await?;

    // 429 with Retry-After, then success: the caller never sees the 429.
    fake.enqueue(Reply::openai_error(
        429,
        "Rate limit reached",
        Some(Duration::from_millis(50)),
    ));
    fake.enqueue(Reply::text("Here I am."));
    let before = fake.chat_requests().len();
    let turn = expect_json(say(&app, &token, &call, "Hello?").await?, 200).await?;
    assert_eq!(turn["reply"], "Here I am.");
    assert_eq!(fake.chat_requests().len() - before, 2);

    // 500 on every attempt: 503 after the retries, the caller's words kept, the call goes on.
    for _ in 0..3 {
        fake.enqueue(Reply::openai_error(500, "The server had an error", None));
    }
    let failed = expect_error(say(&app, &token, &call, "Are you there?").await?, 503).await?;
    assert!(text(&failed, "detail").contains("unavailable"), "{failed}");
    // A first token that never comes in time: 503 too (a timeout is not retried: its wait has
    // been spent already).
    fake.enqueue(Reply::slow_first_token(Duration::from_secs(6), "too late"));
    expect_error(say(&app, &token, &call, "Hello again?").await?, 503).await?;

    fake.enqueue(Reply::text("Sorry about that, I'm back."));
    let recovered = expect_json(say(&app, &token, &call, "OK, now?").await?, 200).await?;
    assert_eq!(recovered["reply"], "Sorry about that, I'm back.");
    let stored = expect_json(
        app.get(&format!("/api/v1/calls/{call}"), Some(&token))
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
    let customer: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| s == "customer")
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        customer,
        ["Hello?", "Are you there?", "Hello again?", "OK, now?"]
    );
    assert_eq!(stored["status"], "in_progress");
    Ok(())
}

#[tokio::test]
async fn a_failing_model_fails_the_start_with_503_and_records_the_call() -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await?;
    let app = TestApp::builder()
        .with_openai(&fake)
        .env("OPENAI_MAX_RETRIES", "0")
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let id = agent(&app, &token, json!({"name": "Sam"})).await?;
    fake.enqueue(Reply::openai_error(503, "overloaded", None));
    let response = app
        .post_json(
            "/api/v1/sales/start-call",
            &json!({"phone_number": "1", "customer_name": "Jo", "agent_id": id}),
            Some(&token),
        )
        .await?;
    expect_error(response, 503).await?;
    Ok(())
}

#[tokio::test]
async fn a_hundred_concurrent_conversations_keep_their_own_turns() -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await?;
    fake.set_default_reply(Reply::text("Understood."));
    let app = TestApp::builder().with_openai(&fake).spawn().await?;
    let token = app.signed_in_user().await?;
    let id = agent(&app, &token, json!({"name": "Sam", "first_message": "Hi!"})).await?;
    let conversations = (0..100).map(|n| {
        let (app, token, id) = (&app, token.clone(), id.clone());
        async move {
            let call = start(app, &token, &id).await?;
            for turn in 0..2 {
                let reply = expect_json(
                    say(app, &token, &call, &format!("caller {n} says {turn}")).await?,
                    200,
                )
                .await?;
                anyhow::ensure!(reply["reply"] == "Understood.", "{reply}");
            }
            anyhow::Ok((n, call))
        }
    });
    let results = futures_util::future::join_all(conversations).await;
    for result in results {
        let (n, call) = result?;
        let stored = expect_json(
            app.get(&format!("/api/v1/calls/{call}"), Some(&token))
                .await?,
            200,
        )
        .await?;
        let lines: Vec<String> = stored["transcript"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| text(t, "text"))
            .collect();
        assert_eq!(
            lines,
            [
                "Hi!".to_owned(),
                format!("caller {n} says 0"),
                "Understood.".to_owned(),
                format!("caller {n} says 1"),
                "Understood.".to_owned()
            ]
        );
    }
    assert_eq!(fake.chat_requests().len(), 200);
    Ok(())
}
