//! Voice in the browser and by upload, end to end: the streaming call socket, seed 002's voice
//! chat socket and `respond-audio`, seed 000's audio messages, and seed 001's rooms, with the
//! speech and language providers replaced by loopback fakes.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use switchboard_testkit::{
    FAKE_TTS_TONE_HZ, FakeElevenLabs, FakeOpenAi, Reply, SpeechReply, TestApp, TranscriptionReply,
    dominant_frequency, pcm16le, silence, tone, wav_file,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::support::{expect_error, expect_json};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(20);

struct Web {
    app: TestApp,
    openai: FakeOpenAi,
    elevenlabs: FakeElevenLabs,
    token: String,
    agent: String,
}

async fn web(first_message: &str) -> anyhow::Result<Web> {
    let openai = FakeOpenAi::start().await?;
    let elevenlabs = FakeElevenLabs::start().await?;
    let app = TestApp::builder()
        .with_openai(&openai)
        .with_elevenlabs(&elevenlabs)
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let agent = expect_json(
        app.post_json(
            "/api/v1/agents",
            &json!({"name": "Ava", "system_prompt": "You help.", "first_message": first_message}),
            Some(&token),
        )
        .await?,
        201,
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Web {
        app,
        openai,
        elevenlabs,
        token,
        agent,
    })
}

fn ws_url(app: &TestApp, path: &str) -> String {
    app.url(path).replacen("http://", "ws://", 1)
}

/// The next text message as JSON, skipping binary audio into `audio`.
async fn next_event(socket: &mut Socket, audio: &mut Vec<u8>) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the socket closed"))??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Binary(bytes) => audio.extend_from_slice(&bytes),
            Message::Close(_) => anyhow::bail!("the socket closed"),
            _ => {}
        }
    }
}

/// Events until one of `kind` arrives (echoing marks, as a browser does once it played them).
async fn until(socket: &mut Socket, audio: &mut Vec<u8>, kind: &str) -> anyhow::Result<Value> {
    loop {
        let event = next_event(socket, audio).await?;
        if event["type"] == "mark" {
            socket
                .send(Message::text(
                    json!({"type": "mark", "name": event["name"]}).to_string(),
                ))
                .await?;
        }
        if event["type"] == kind {
            return Ok(event);
        }
    }
}

/// PCM16 at 16 kHz in 20 ms frames at real-time pace.
async fn stream_audio(socket: &mut Socket, samples: &[i16]) -> anyhow::Result<()> {
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for frame in samples.chunks(320) {
        pace.tick().await;
        socket.send(Message::binary(pcm16le(frame))).await?;
    }
    Ok(())
}

fn samples_of(pcm: &[u8]) -> Vec<i16> {
    pcm.chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[tokio::test]
async fn a_browser_call_streams_both_ways() -> anyhow::Result<()> {
    let web = web("Hi, this is Ava.").await?;
    web.openai
        .enqueue_transcription(TranscriptionReply::text("Do you deliver?"));
    web.openai
        .enqueue(Reply::text("Yes, we deliver within five miles."));
    let call = expect_json(
        web.app
            .post_json(
                "/api/v1/calls",
                &json!({"channel": "web", "agent_id": web.agent}),
                Some(&web.token),
            )
            .await?,
        201,
    )
    .await?;
    assert_eq!(call["channel"], "web");
    let url = call["connection"]["url"].as_str().unwrap_or_default();
    assert!(url.starts_with("ws://"), "{call}");
    assert_eq!(call["connection"]["sample_rate"], 16_000);

    let (mut socket, _) = connect_async(url).await?;
    let mut audio = Vec::new();
    let ready = next_event(&mut socket, &mut audio).await?;
    assert_eq!(ready["type"], "ready", "{ready}");
    stream_audio(&mut socket, &silence(400, 16_000)).await?;
    let greeting = until(&mut socket, &mut audio, "transcript").await?;
    assert_eq!(greeting["speaker"], "agent");
    assert_eq!(greeting["text"], "Hi, this is Ava.");
    let pitch = dominant_frequency(&samples_of(&audio), 16_000);
    assert!((pitch - FAKE_TTS_TONE_HZ).abs() < 25.0, "{pitch} Hz");

    stream_audio(&mut socket, &tone(300.0, 700, 16_000, 8000)).await?;
    stream_audio(&mut socket, &silence(900, 16_000)).await?;
    let heard = until(&mut socket, &mut audio, "transcript").await?;
    assert_eq!(heard["speaker"], "customer");
    assert_eq!(heard["text"], "Do you deliver?");
    let reply = until(&mut socket, &mut audio, "transcript").await?;
    assert_eq!(reply["speaker"], "agent");
    assert_eq!(reply["text"], "Yes, we deliver within five miles.");
    assert!(reply["latency"]["first_frame_ms"].is_u64(), "{reply}");

    socket
        .send(Message::text(r#"{"type":"end"}"#.to_owned()))
        .await?;
    let ended = until(&mut socket, &mut audio, "ended").await?;
    assert_eq!(ended["reason"], "hangup");
    let id = call["id"].as_str().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stored = expect_json(
            web.app
                .get(&format!("/api/v1/calls/{id}"), Some(&web.token))
                .await?,
            200,
        )
        .await?;
        if stored["status"] == "completed" {
            assert_eq!(stored["transcript"].as_array().map(Vec::len), Some(3));
            assert!(stored["recording_url"].is_string(), "{stored}");
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not stored: {stored}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn a_browser_socket_needs_a_token_for_its_call() -> anyhow::Result<()> {
    let web = web("Hello.").await?;
    let room = expect_json(
        web.app
            .post_json(
                "/api/test/create-room",
                &json!({"agent_id": web.agent}),
                Some(&web.token),
            )
            .await?,
        201,
    )
    .await?;
    let room_url = room["room_url"].as_str().unwrap_or_default();
    assert_eq!(room["url"], room_url);
    let call = room["call_id"].as_str().unwrap_or_default();
    // No token, a forged token, another call's token: an error, then the close.
    let other = expect_json(
        web.app
            .post_json("/api/test/create-room", &json!({}), Some(&web.token))
            .await?,
        201,
    )
    .await?;
    let other_token = other["token"].as_str().unwrap_or_default();
    for url in [
        ws_url(&web.app, &format!("/ws/voice/{call}")),
        ws_url(&web.app, &format!("/ws/voice/{call}?token=forged")),
        ws_url(&web.app, &format!("/ws/voice/{call}?token={other_token}")),
    ] {
        let (mut socket, _) = connect_async(url.as_str()).await?;
        if url.ends_with(call) {
            // Without a token in the address, the first message must carry one.
            socket
                .send(Message::text(r#"{"type":"hello"}"#.to_owned()))
                .await?;
        }
        let error = next_event(&mut socket, &mut Vec::new()).await?;
        assert_eq!(error["type"], "error", "{url}: {error}");
    }
    // The token may also come as the first message; the user's access token works too.
    let (mut socket, _) = connect_async(ws_url(&web.app, &format!("/ws/voice/{call}"))).await?;
    socket
        .send(Message::text(
            json!({"type": "auth", "token": web.token}).to_string(),
        ))
        .await?;
    assert_eq!(
        next_event(&mut socket, &mut Vec::new()).await?["type"],
        "ready"
    );
    // A second socket for the same live call is refused.
    let (mut second, _) = connect_async(room_url).await?;
    let refused = next_event(&mut second, &mut Vec::new()).await?;
    assert_eq!(refused["type"], "error", "{refused}");
    // Ending the call through the API hangs up the live socket; the answer comes once the
    // session has finished the call, ended by the client.
    let answer = expect_json(
        web.app
            .post_json(
                &format!("/api/v1/calls/{call}/end"),
                &json!({}),
                Some(&web.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["end_reason"], "ended_by_client", "{answer}");
    // Kept by the session as it finished the call (so its last lines were written too).
    assert!(answer["recording_url"].is_string(), "{answer}");
    let ended = until(&mut socket, &mut Vec::new(), "ended").await?;
    assert_eq!(ended["reason"], "ended_by_server", "{ended}");
    Ok(())
}

#[tokio::test]
async fn voice_needs_configured_speech() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let body = expect_error(
        app.post_json("/api/test/create-room", &json!({}), Some(&token))
            .await?,
        503,
    )
    .await?;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("DEEPGRAM_API_KEY"),
        "{body}"
    );
    Ok(())
}

async fn sales_call(web: &Web) -> anyhow::Result<String> {
    let started = expect_json(
        web.app
            .post_json(
                "/api/v1/sales/start-call",
                &json!({"phone_number": "123-456-7890", "customer_name": "John Doe", "agent_id": web.agent}),
                Some(&web.token),
            )
            .await?,
        201,
    )
    .await?;
    Ok(started["call_id"].as_str().unwrap_or_default().to_owned())
}

/// The next binary message (a WAV file), failing on text.
async fn next_wav(socket: &mut Socket) -> anyhow::Result<Vec<u8>> {
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the socket closed"))??
        {
            Message::Binary(bytes) => return Ok(bytes.to_vec()),
            Message::Text(text) => anyhow::bail!("expected audio, got {text}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn seed_002_voice_chat_speaks_in_wav_files() -> anyhow::Result<()> {
    let web = web("Hi John Doe, this is Ava from Edvantage.").await?;
    web.openai
        .enqueue_transcription(TranscriptionReply::text("Tell me more."));
    web.openai
        .enqueue(Reply::text("It is a twelve week program."));
    let call = sales_call(&web).await?;
    // Seed 002's second address first (greeting only), then the whole exchange.
    for path in [
        format!("/api/v1/sales/ws/voice-chat/{call}?token={}", web.token),
        format!("/ws/voice-chat/{call}?token={}", web.token),
    ] {
        let (mut socket, _) = connect_async(ws_url(&web.app, &path)).await?;
        let greeting = next_wav(&mut socket).await?;
        assert_eq!(&greeting[..4], b"RIFF");
        if path.starts_with("/api") {
            continue;
        }
        socket
            .send(Message::binary(wav_file(
                &tone(300.0, 800, 16_000, 8000),
                16_000,
            )))
            .await?;
        let heard = next_event(&mut socket, &mut Vec::new()).await?;
        assert_eq!(heard, json!({"type": "user_text", "text": "Tell me more."}));
        let reply = next_wav(&mut socket).await?;
        assert_eq!(&reply[..4], b"RIFF");
        socket
            .send(Message::text("END_CONNECTION_REQUEST_BY_CLIENT".to_owned()))
            .await?;
        let system = next_event(&mut socket, &mut Vec::new()).await?;
        assert_eq!(system["type"], "system", "{system}");
    }
    let history = expect_json(
        web.app
            .get(
                &format!("/api/v1/sales/conversation/{call}"),
                Some(&web.token),
            )
            .await?,
        200,
    )
    .await?;
    assert_eq!(history["history"][1]["text"], "Tell me more.");
    assert_eq!(
        history["history"][2]["text"],
        "It is a twelve week program."
    );
    assert_eq!(history["is_active"], false);
    Ok(())
}

#[tokio::test]
async fn seed_002_voice_chat_reports_failures_as_json() -> anyhow::Result<()> {
    let web = web("Hello!").await?;
    // An invalid call id: an error message, then the close.
    for path in [
        "/ws/voice-chat/not-a-call",
        "/ws/voice-chat/01a1fd70-1484-7166-aded-9f7a7b5f5fd4",
    ] {
        let (mut socket, _) =
            connect_async(ws_url(&web.app, &format!("{path}?token={}", web.token))).await?;
        let error = next_event(&mut socket, &mut Vec::new()).await?;
        assert_eq!(error["type"], "error", "{error}");
    }
    // Speech synthesis failing everywhere: the reply comes as text.
    web.elevenlabs.fail_always(500);
    for _ in 0..8 {
        web.openai.enqueue_speech(SpeechReply::error(
            500,
            json!({"error": {"message": "down"}}),
            None,
        ));
    }
    let call = sales_call(&web).await?;
    let (mut socket, _) = connect_async(ws_url(
        &web.app,
        &format!("/ws/voice-chat/{call}?token={}", web.token),
    ))
    .await?;
    let greeting = next_event(&mut socket, &mut Vec::new()).await?;
    assert_eq!(greeting, json!({"type": "agent_text", "text": "Hello!"}));
    // Audio that is not audio: an error, and the socket stays open.
    socket
        .send(Message::binary(b"not audio at all".to_vec()))
        .await?;
    let error = next_event(&mut socket, &mut Vec::new()).await?;
    assert_eq!(error["type"], "error", "{error}");
    socket
        .send(Message::text(
            json!({"type": "control", "command": "end_call"}).to_string(),
        ))
        .await?;
    assert_eq!(
        next_event(&mut socket, &mut Vec::new()).await?["type"],
        "system"
    );
    Ok(())
}

fn audio_form(field: &str, bytes: Vec<u8>) -> Form {
    Form::new().part(
        field.to_owned(),
        Part::bytes(bytes)
            .file_name("answer.wav")
            .mime_str("audio/wav")
            .unwrap_or_else(|_| Part::bytes(Vec::new())),
    )
}

#[tokio::test]
async fn respond_audio_answers_a_recording() -> anyhow::Result<()> {
    let web = web("Hello!").await?;
    web.openai
        .enqueue_transcription(TranscriptionReply::text("How much is it?"));
    web.openai.enqueue(Reply::text("It costs 299 dollars."));
    let call = sales_call(&web).await?;
    let path = format!("/api/v1/sales/respond-audio/{call}");
    let send = |form: Form| {
        web.app
            .request(reqwest::Method::POST, &path)
            .bearer_auth(&web.token)
            .multipart(form)
            .send()
    };
    let answer = expect_json(
        send(audio_form(
            "audio_file",
            wav_file(&tone(300.0, 600, 16_000, 8000), 16_000),
        ))
        .await?,
        200,
    )
    .await?;
    assert_eq!(answer["reply"], "It costs 299 dollars.");
    assert_eq!(answer["should_end_call"], false);
    assert_eq!(answer["transcript"], "How much is it?");

    expect_error(send(audio_form("audio_file", Vec::new())).await?, 400).await?;
    expect_error(
        send(audio_form("audio_file", b"plain text, not audio".to_vec())).await?,
        415,
    )
    .await?;
    let truncated = wav_file(&tone(300.0, 600, 16_000, 8000), 16_000)[..30].to_vec();
    expect_error(send(audio_form("audio_file", truncated)).await?, 400).await?;
    let json_body = web
        .app
        .post_json(&path, &json!({"audio_file": "x"}), Some(&web.token))
        .await?;
    expect_error(json_body, 415).await?;
    // Speech recognition refusing the audio is seed 002's 500, with a detail.
    web.openai
        .enqueue_transcription(TranscriptionReply::openai_error(
            400,
            "Invalid file format.",
            None,
        ));
    let failed = expect_error(
        send(audio_form(
            "audio_file",
            wav_file(&tone(300.0, 600, 16_000, 8000), 16_000),
        ))
        .await?,
        500,
    )
    .await?;
    assert!(
        failed["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("STT failed"),
        "{failed}"
    );
    let unknown = web
        .app
        .request(
            reqwest::Method::POST,
            "/api/v1/sales/respond-audio/01a1fd70-1484-7166-aded-9f7a7b5f5fd4",
        )
        .bearer_auth(&web.token)
        .multipart(audio_form(
            "audio_file",
            wav_file(&silence(100, 16_000), 16_000),
        ))
        .send()
        .await?;
    expect_error(unknown, 404).await?;
    Ok(())
}

#[tokio::test]
async fn seed_000_audio_messages_join_the_chat_session() -> anyhow::Result<()> {
    let web = web("Hello from Ava.").await?;
    web.openai
        .enqueue_transcription(TranscriptionReply::text("What are your hours?"));
    web.openai.enqueue(Reply::text("Nine to five."));
    let mut form = audio_form("file", wav_file(&tone(300.0, 600, 16_000, 8000), 16_000));
    form = form.text("agent_id", web.agent.clone());
    let reply = expect_json(
        web.app
            .request(reqwest::Method::POST, "/conversations/session-7/audio")
            .bearer_auth(&web.token)
            .multipart(form)
            .send()
            .await?,
        200,
    )
    .await?;
    assert_eq!(reply["transcript"], "What are your hours?");
    assert_eq!(reply["reply"], "Nine to five.");
    assert_eq!(reply["first_message"], "Hello from Ava.");
    assert_eq!(reply["session_id"], "session-7");
    Ok(())
}
