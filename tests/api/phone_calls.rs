//! Phone calls end to end: Twilio's voice webhook (signed), the TwiML answer, and the call's
//! media stream played by the Twilio simulator, with the speech and language providers replaced
//! by loopback fakes that speak their real wire formats.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_testkit::{
    FAKE_TTS_TONE_HZ, FakeElevenLabs, FakeOpenAi, Reply, TestApp, TranscriptionReply, TwilioCall,
    TwimlStream, dominant_frequency, tone, twilio_signature,
};

use crate::support::expect_json;

const CALLER: &str = "+14155550100";
const OUR_NUMBER: &str = "+14155550199";
/// Caller speech in tests: a tone loud enough for any voice activity detector.
const SPEECH_HZ: f32 = 300.0;
const WAIT: Duration = Duration::from_secs(20);

/// A running server with every provider faked, and an agent answering `OUR_NUMBER`.
struct Line {
    app: TestApp,
    openai: FakeOpenAi,
    elevenlabs: FakeElevenLabs,
    token: String,
    agent: String,
}

async fn line(first_message: &str) -> anyhow::Result<Line> {
    let openai = FakeOpenAi::start().await?;
    let elevenlabs = FakeElevenLabs::start().await?;
    let app = TestApp::builder()
        .with_openai(&openai)
        .with_elevenlabs(&elevenlabs)
        .with_twilio()
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let agent = expect_json(
        app.post_json(
            "/api/v1/agents",
            &json!({
                "name": "Ava",
                "system_prompt": "You book tables at Luigi's.",
                "first_message": first_message,
                "voice": {"provider": "elevenlabs", "voice_id": "voice-ava"},
            }),
            Some(&token),
        )
        .await?,
        201,
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    expect_json(
        app.post_json(
            "/api/v1/phone-numbers",
            &json!({"number": OUR_NUMBER, "assigned_agent_id": agent}),
            Some(&token),
        )
        .await?,
        201,
    )
    .await?;
    Ok(Line {
        app,
        openai,
        elevenlabs,
        token,
        agent,
    })
}

/// Posts Twilio's voice webhook for a call from `CALLER` to `to`, signed as Twilio would.
async fn ring(app: &TestApp, to: &str, call_sid: &str) -> anyhow::Result<reqwest::Response> {
    let url = app.url("/telephony/twilio/voice");
    let params = [
        ("CallSid", call_sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", CALLER),
        ("To", to),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    Ok(app
        .request(reqwest::Method::POST, "/telephony/twilio/voice")
        .header("x-twilio-signature", twilio_signature(&url, &params))
        .form(&params)
        .send()
        .await?)
}

/// Waits until the call has ended in the database, and returns it.
async fn ended_call(app: &TestApp, token: &str, call: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = expect_json(app.get(&format!("/api/v1/calls/{call}"), Some(token)).await?, 200)
            .await?;
        if body["status"] != "in_progress" {
            return Ok(body);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the call did not end: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn speech(ms: u32) -> Vec<i16> {
    tone(SPEECH_HZ, ms, 8000, 8000)
}

#[tokio::test]
async fn a_phone_call_from_greeting_to_hang_up() -> anyhow::Result<()> {
    let line = line("Thank you for calling Luigi's, this is Ava.").await?;
    line.openai
        .enqueue_transcription(TranscriptionReply::text("I'd like a table for two tonight."));
    line.openai.enqueue(Reply::text(
        "Of course, a table for two tonight is no problem at all. \
         What time would you like to come in this evening?",
    ));

    let answer = ring(&line.app, OUR_NUMBER, "CA0000000000000000000000000000000a").await?;
    assert_eq!(answer.status(), 200);
    assert!(answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("xml")));
    let stream = TwimlStream::from_twiml(&answer.text().await?)?;
    assert!(stream.url.ends_with("/telephony/twilio/media"), "{}", stream.url);
    assert!(stream.url.starts_with("ws://"), "{}", stream.url);
    let call_id = stream
        .parameter("call_id")
        .ok_or_else(|| anyhow::anyhow!("no call_id parameter"))?
        .to_owned();
    // The call is stored before the TwiML is answered.
    let stored = expect_json(
        line.app
            .get(&format!("/api/v1/calls/{call_id}"), Some(&line.token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(stored["channel"], "phone");
    assert_eq!(stored["status"], "in_progress");
    assert_eq!(stored["phone_number"], CALLER);
    assert_eq!(stored["agent_id"], line.agent.as_str());
    assert_eq!(stored["provider_call_id"], "CA0000000000000000000000000000000a");

    let mut call = TwilioCall::connect(&stream, "CA0000000000000000000000000000000a").await?;
    // A phone line carries audio all the time: silence while the caller listens.
    call.silence(600).await?;
    // The greeting arrives as the fake voice's tone, followed by its mark.
    let greeting = call
        .wait_for("the greeting and its mark", WAIT, |heard| {
            (!heard.marks().is_empty()).then(|| heard.samples())
        })
        .await?;
    let pitch = dominant_frequency(&greeting, 8000);
    assert!(
        (pitch - FAKE_TTS_TONE_HZ).abs() < 25.0,
        "the greeting is not the fake voice: {pitch} Hz"
    );
    let voiced = line.elevenlabs.requests();
    assert!(
        voiced.iter().any(|r| r.voice == "voice-ava"),
        "the agent's voice was not used: {voiced:?}"
    );

    // The caller speaks; the recogniser hears the scripted words; the reply is spoken.
    call.speak(&speech(700)).await?;
    call.silence(900).await?;
    // The reply's two sentences, each followed by its mark.
    let reply = call
        .wait_for("the reply's two sentences", WAIT, |heard| {
            let marks = heard.marks();
            (marks.iter().filter(|m| m.starts_with("r2-")).count() == 2)
                .then(|| heard.samples()[greeting.len()..].to_vec())
        })
        .await?;
    let pitch = dominant_frequency(&reply, 8000);
    assert!((pitch - FAKE_TTS_TONE_HZ).abs() < 25.0, "{pitch} Hz");
    call.hang_up().await?;

    let ended = ended_call(&line.app, &line.token, &call_id).await?;
    assert_eq!(ended["status"], "completed");
    assert_eq!(ended["end_reason"], "customer_hangup");
    let transcript: Vec<(String, String)> = ended["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["speaker"].as_str().unwrap_or_default().to_owned(),
                t["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(transcript[0].0, "agent");
    assert_eq!(transcript[0].1, "Thank you for calling Luigi's, this is Ava.");
    assert_eq!(
        transcript[1],
        ("customer".to_owned(), "I'd like a table for two tonight.".to_owned())
    );
    assert_eq!(transcript[2].0, "agent");
    assert!(transcript[2].1.starts_with("Of course"), "{transcript:?}");
    let latency = &ended["transcript"][2]["latency"];
    assert!(latency["first_token_ms"].is_u64(), "{latency}");
    assert!(latency["first_frame_ms"].is_u64(), "{latency}");
    assert!(ended["latency"].is_number(), "{ended}");

    // The recording: stereo, caller on the left, agent on the right.
    let recording_url = ended["recording_url"].as_str().unwrap_or_default();
    assert_eq!(recording_url, format!("/api/v1/calls/{call_id}/recording"));
    let wav = line.app.get(recording_url, Some(&line.token)).await?;
    assert_eq!(wav.status(), 200);
    let bytes = wav.bytes().await?;
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 2, "not stereo");
    // Another organisation cannot fetch it.
    let stranger = line.app.signed_in_user().await?;
    assert_eq!(
        line.app.get(recording_url, Some(&stranger)).await?.status(),
        404
    );
    Ok(())
}
