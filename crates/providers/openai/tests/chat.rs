//! `OpenAiChat` against testkit's loopback `FakeOpenAi`, over real sockets: streaming, tool
//! calls, usage, retries, error mapping, timeouts, broken and cancelled streams.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard_domain::ports::{
    ChatEvent, ChatMessage, ChatRequest, ChatRole, ChatStream, FinishReason, LanguageModel,
    LlmError, ToolCall, ToolSpec,
};
use switchboard_openai::{ApiKey, OpenAiChat, OpenAiConfig};
use switchboard_testkit::{FakeOpenAi, Reply};
use url::Url;

type TestResult = anyhow::Result<()>;

/// Fast retries, so tests that exhaust them do not wait.
fn config(fake: &FakeOpenAi) -> anyhow::Result<OpenAiConfig> {
    let mut config = OpenAiConfig::new(
        ApiKey::new(fake.api_key()),
        Url::parse(&fake.base_url())?,
        "gpt-4o-mini",
    );
    config.retry_base = Duration::from_millis(10);
    Ok(config)
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        model: String::new(),
        messages: vec![
            ChatMessage::text(ChatRole::System, "You are a receptionist."),
            ChatMessage::text(ChatRole::User, text),
        ],
        tools: vec![],
        temperature: None,
        max_tokens: None,
    }
}

async fn events(stream: ChatStream) -> Vec<Result<ChatEvent, LlmError>> {
    stream.collect().await
}

/// Every event, failing the test on an error item.
async fn ok_events(stream: ChatStream) -> anyhow::Result<Vec<ChatEvent>> {
    events(stream)
        .await
        .into_iter()
        .map(|e| e.map_err(anyhow::Error::from))
        .collect()
}

fn tokens(events: &[ChatEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Token(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn tool_calls(events: &[ChatEvent]) -> Vec<&ToolCall> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::ToolCall(call) => Some(call),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn streamed_text_arrives_as_several_tokens_in_order() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let text = "Sure, I can book you in for three o'clock tomorrow.";
    fake.enqueue(Reply::text(text).with_usage(52, 18));
    let chat = OpenAiChat::new(config(&fake)?)?;

    let events = ok_events(chat.stream(ask("Book me for 3pm")).await?).await?;

    let tokens = tokens(&events);
    assert!(tokens.len() >= 5, "{tokens:?}");
    assert_eq!(tokens.concat(), text);
    assert_eq!(
        events[events.len() - 2..],
        [
            ChatEvent::Usage {
                prompt_tokens: 52,
                completion_tokens: 18
            },
            ChatEvent::Finished(FinishReason::Stop)
        ]
    );
    let requests = fake.chat_requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are a receptionist."},
            {"role": "user", "content": "Book me for 3pm"}
        ])
    );
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(format!("Bearer {}", fake.api_key()).as_str())
    );
    Ok(())
}

#[tokio::test]
async fn crlf_keepalives_and_events_split_across_writes_change_nothing() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let text = "One moment while I check the calendar.";
    fake.enqueue(
        Reply::text(text)
            .with_crlf()
            .with_keepalives()
            .with_split_events(),
    );
    let chat = OpenAiChat::new(config(&fake)?)?;

    let events = ok_events(chat.stream(ask("Is 3pm free?")).await?).await?;

    assert_eq!(tokens(&events).concat(), text);
    assert_eq!(
        events.last(),
        Some(&ChatEvent::Finished(FinishReason::Stop))
    );
    Ok(())
}

#[tokio::test]
async fn a_tool_call_split_across_chunks_comes_out_whole_and_its_result_goes_back() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let arguments = json!({"time": "15:00", "name": "Ada Lovelace", "notes": "first visit"});
    fake.enqueue(Reply::tool_call("book_slot", arguments.clone()));
    let chat = OpenAiChat::new(config(&fake)?)?;
    let book_slot = ToolSpec {
        name: "book_slot".into(),
        description: "Book a slot".into(),
        parameters: json!({"type": "object", "properties": {"time": {"type": "string"}}, "required": ["time"]}),
    };
    let mut request = ask("Book me for 3pm");
    request.tools = vec![book_slot];

    let events = ok_events(chat.stream(request.clone()).await?).await?;

    let calls = tool_calls(&events);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "book_slot");
    assert!(!calls[0].id.is_empty());
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].arguments)?,
        arguments
    );
    assert_eq!(
        events.last(),
        Some(&ChatEvent::Finished(FinishReason::ToolCalls))
    );
    assert_eq!(
        fake.chat_requests()[0].body["tools"],
        json!([{"type": "function", "function": {
            "name": "book_slot", "description": "Book a slot",
            "parameters": {"type": "object", "properties": {"time": {"type": "string"}}, "required": ["time"]}
        }}])
    );

    // The caller answers the call; the assistant's request and the result reach the server.
    let call = calls[0].clone();
    request.messages.push(ChatMessage {
        role: ChatRole::Assistant,
        content: None,
        tool_calls: vec![call.clone()],
        tool_call_id: None,
    });
    request
        .messages
        .push(ChatMessage::tool_result(&call.id, "booked"));
    fake.enqueue(Reply::text("You're booked for 3pm."));
    let events = ok_events(chat.stream(request).await?).await?;
    assert_eq!(tokens(&events).concat(), "You're booked for 3pm.");
    let messages = fake.chat_requests()[1].body["messages"].clone();
    assert_eq!(
        messages[2],
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": call.id, "type": "function",
            "function": {"name": "book_slot", "arguments": call.arguments}
        }]})
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": call.id, "content": "booked"})
    );
    Ok(())
}

#[tokio::test]
async fn two_tool_calls_in_one_reply_come_in_order() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    fake.enqueue(Reply::tool_calls([
        ("check_availability", json!({"date": "2025-03-01"})),
        (
            "send_sms",
            json!({"to": "+15550100", "body": "See you at 3pm"}),
        ),
    ]));
    let chat = OpenAiChat::new(config(&fake)?)?;

    let events = ok_events(chat.stream(ask("Book and text me")).await?).await?;

    let calls = tool_calls(&events);
    let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["check_availability", "send_sms"]);
    assert_ne!(calls[0].id, calls[1].id);
    assert_eq!(
        serde_json::from_str::<Value>(&calls[1].arguments)?,
        json!({"to": "+15550100", "body": "See you at 3pm"})
    );
    assert!(matches!(events[events.len() - 2], ChatEvent::Usage { .. }));
    Ok(())
}

#[tokio::test]
async fn the_request_names_its_model_and_organization() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let mut config = config(&fake)?;
    config.organization = Some("org-switchboard".into());
    let chat = OpenAiChat::new(config)?;
    assert_eq!(chat.name(), "gpt-4o-mini");
    let mut request = ask("hi");
    request.model = "gpt-4o".into();
    request.temperature = Some(0.2);
    request.max_tokens = Some(120);

    ok_events(chat.stream(request).await?).await?;

    let recorded = &fake.chat_requests()[0];
    assert_eq!(recorded.body["model"], "gpt-4o");
    assert_eq!(recorded.body["temperature"], 0.2);
    assert_eq!(recorded.body["max_completion_tokens"], 120);
    assert_eq!(recorded.organization.as_deref(), Some("org-switchboard"));
    Ok(())
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_as_retry_after_says() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    fake.enqueue(Reply::openai_error(
        429,
        "Rate limit reached for gpt-4o-mini",
        Some(Duration::from_secs(1)),
    ));
    let chat = OpenAiChat::new(config(&fake)?)?;

    let events = ok_events(chat.stream(ask("hi")).await?).await?;

    assert_eq!(tokens(&events).concat(), "Hello from the fake model.");
    let requests = fake.chat_requests();
    assert_eq!(requests.len(), 2);
    // The backoff alone would be about 10 ms; the server asked for a second.
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    Ok(())
}

#[tokio::test]
async fn rate_limits_beyond_the_retries_are_reported_with_the_servers_wait() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    for _ in 0..2 {
        fake.enqueue(Reply::openai_error(
            429,
            "Rate limit reached",
            Some(Duration::from_secs(30)),
        ));
    }
    let mut config = config(&fake)?;
    config.max_retries = 1;
    // Nobody on a call waits 30 s; the adapter waits at most this before trying again.
    config.max_retry_wait = Duration::from_millis(50);
    let chat = OpenAiChat::new(config)?;

    let started = Instant::now();
    let result = chat.stream(ask("hi")).await;

    assert!(
        matches!(
            result,
            Err(LlmError::RateLimited {
                retry_after: Some(wait)
            }) if wait == Duration::from_secs(30)
        ),
        "{:?}",
        result.err()
    );
    assert_eq!(fake.chat_requests().len(), 2);
    assert!(started.elapsed() < Duration::from_secs(5));
    Ok(())
}

#[tokio::test]
async fn server_errors_exhaust_the_retries_then_the_model_is_unavailable() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    for _ in 0..3 {
        fake.enqueue(Reply::openai_error(500, "The server had an error", None));
    }
    let mut config = config(&fake)?;
    // Three attempts: the first and two retries.
    config.max_retries = 2;
    let chat = OpenAiChat::new(config)?;

    let result = chat.stream(ask("hi")).await;

    match result {
        Err(LlmError::Unavailable(message)) => {
            assert!(message.contains("The server had an error"), "{message}");
        }
        other => panic!("expected Unavailable, got {:?}", other.err()),
    }
    assert_eq!(fake.chat_requests().len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_wrong_key_is_rejected_without_retry_and_never_shown() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let wrong = "sk-wrong-0123456789-secret";
    let mut config = config(&fake)?;
    config.api_key = ApiKey::new(wrong);
    let chat = OpenAiChat::new(config.clone())?;

    let error = match chat.stream(ask("hi")).await {
        Err(error) => error,
        Ok(_) => anyhow::bail!("a wrong key was accepted"),
    };

    assert!(matches!(error, LlmError::Rejected(_)), "{error:?}");
    assert!(error.to_string().contains("Incorrect API key"), "{error}");
    assert_eq!(fake.chat_requests().len(), 1);
    for printed in [
        error.to_string(),
        format!("{error:?}"),
        format!("{config:?}"),
        format!("{chat:?}"),
    ] {
        assert!(!printed.contains(wrong), "{printed}");
        assert!(!printed.contains("secret"), "{printed}");
    }
    Ok(())
}

#[tokio::test]
async fn a_key_the_server_echoes_is_redacted() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let key = fake.api_key();
    fake.enqueue(Reply::openai_error(
        400,
        &format!("key {key} may not use this model"),
        None,
    ));
    let chat = OpenAiChat::new(config(&fake)?)?;

    let Err(error) = chat.stream(ask("hi")).await else {
        anyhow::bail!("the 400 was accepted");
    };

    assert!(matches!(error, LlmError::Rejected(_)), "{error:?}");
    assert!(!error.to_string().contains(&key), "{error}");
    assert!(!format!("{error:?}").contains(&key));
    assert!(error.to_string().contains("<redacted>"), "{error}");
    Ok(())
}

#[tokio::test]
async fn a_slow_first_token_times_out() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    fake.enqueue(Reply::slow_first_token(Duration::from_secs(3), "Finally."));
    let mut config = config(&fake)?;
    config.first_token_timeout = Duration::from_millis(200);
    let chat = OpenAiChat::new(config)?;

    let started = Instant::now();
    let result = chat.stream(ask("hi")).await;

    assert!(
        matches!(result, Err(LlmError::Timeout)),
        "{:?}",
        result.err()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.chat_requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn silence_after_the_first_token_times_out() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    fake.enqueue(Reply::text("Let me think about that.").with_chunk_delay(Duration::from_secs(3)));
    let mut config = config(&fake)?;
    config.idle_timeout = Duration::from_millis(200);
    let chat = OpenAiChat::new(config)?;

    let events = events(chat.stream(ask("hi")).await?).await;

    assert!(matches!(&events[0], Ok(ChatEvent::Token(t)) if t == "Let"));
    assert!(matches!(events.last(), Some(Err(LlmError::Timeout))));
    assert_eq!(events.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_connection_dropped_after_a_token_is_unavailable_and_not_retried() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    // The role chunk, "Hello" and " there," then the connection goes.
    fake.enqueue(Reply::drop_after(3));
    let chat = OpenAiChat::new(config(&fake)?)?;

    let events = events(chat.stream(ask("hi")).await?).await;

    assert!(matches!(&events[0], Ok(ChatEvent::Token(t)) if t == "Hello"));
    assert!(matches!(&events[1], Ok(ChatEvent::Token(t)) if t == " there,"));
    assert!(
        matches!(events.last(), Some(Err(LlmError::Unavailable(_)))),
        "{:?}",
        events.last()
    );
    assert_eq!(events.len(), 3);
    assert_eq!(fake.chat_requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_connection_dropped_before_any_token_is_retried() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    // Only the role chunk, which the caller never sees.
    fake.enqueue(Reply::drop_after(1));
    let chat = OpenAiChat::new(config(&fake)?)?;

    let events = ok_events(chat.stream(ask("hi")).await?).await?;

    assert_eq!(tokens(&events).concat(), "Hello from the fake model.");
    assert_eq!(fake.chat_requests().len(), 2);
    Ok(())
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let long = "word ".repeat(100);
    fake.enqueue(Reply::text(long.trim()).with_chunk_delay(Duration::from_millis(50)));
    let chat = OpenAiChat::new(config(&fake)?)?;

    let mut stream = chat.stream(ask("talk")).await?;
    let first = stream.next().await;
    assert!(matches!(first, Some(Ok(ChatEvent::Token(_)))));
    drop(stream);

    // The fake notices the closed connection while it still has 99 words to send.
    assert!(
        fake.wait_for_cancelled_streams(1, Duration::from_secs(5))
            .await
    );
    assert_eq!(fake.chat_requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn requests_that_cannot_be_sent_are_rejected_before_the_network() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let chat = OpenAiChat::new(config(&fake)?)?;
    let mut request = ask("hi");
    request.messages.clear();

    assert!(matches!(
        chat.stream(request).await.err(),
        Some(LlmError::Rejected(_))
    ));
    assert!(fake.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let mut config = config(&fake)?;
    drop(fake);
    config.max_retries = 1;

    let chat = OpenAiChat::new(config)?;
    let result = chat.stream(ask("hi")).await;

    assert!(
        matches!(result, Err(LlmError::Unavailable(_))),
        "{:?}",
        result.err()
    );
    Ok(())
}
