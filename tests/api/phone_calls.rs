//! Phone calls end to end: Twilio's voice webhook (signed), the TwiML answer, and the call's
//! media stream played by the Twilio simulator, with the speech and language providers replaced
//! by loopback fakes that speak their real wire formats.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_testkit::{
    FAKE_TTS_TONE_HZ, FakeDeepgram, FakeElevenLabs, FakeOpenAi, Reply, TestApp, TranscriptionReply,
    TwilioCall, TwimlStream, dominant_frequency, tone, twilio_signature,
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
    deepgram: Option<FakeDeepgram>,
    token: String,
    agent: String,
}

async fn line(first_message: &str) -> anyhow::Result<Line> {
    line_with(first_message, false).await
}

/// As [`line`], with Deepgram listening (else Whisper through the OpenAI fake).
async fn line_with(first_message: &str, deepgram: bool) -> anyhow::Result<Line> {
    let openai = FakeOpenAi::start().await?;
    let elevenlabs = FakeElevenLabs::start().await?;
    let deepgram = if deepgram {
        Some(FakeDeepgram::start().await?)
    } else {
        None
    };
    let mut builder = TestApp::builder()
        .with_openai(&openai)
        .with_elevenlabs(&elevenlabs)
        .with_twilio();
    if let Some(deepgram) = &deepgram {
        builder = builder.with_deepgram(deepgram);
    }
    let app = builder.spawn().await?;
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
        deepgram,
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
        let body = expect_json(
            app.get(&format!("/api/v1/calls/{call}"), Some(token))
                .await?,
            200,
        )
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
    line.openai.enqueue_transcription(TranscriptionReply::text(
        "I'd like a table for two tonight.",
    ));
    line.openai.enqueue(Reply::text(
        "Of course, a table for two tonight is no problem at all. \
         What time would you like to come in this evening?",
    ));

    let answer = ring(&line.app, OUR_NUMBER, "CA0000000000000000000000000000000a").await?;
    assert_eq!(answer.status(), 200);
    assert!(
        answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("xml"))
    );
    let stream = TwimlStream::from_twiml(&answer.text().await?)?;
    assert!(
        stream.url.ends_with("/telephony/twilio/media"),
        "{}",
        stream.url
    );
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
    assert_eq!(
        stored["provider_call_id"],
        "CA0000000000000000000000000000000a"
    );

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
    assert_eq!(
        transcript[0].1,
        "Thank you for calling Luigi's, this is Ava."
    );
    assert_eq!(
        transcript[1],
        (
            "customer".to_owned(),
            "I'd like a table for two tonight.".to_owned()
        )
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

/// Rings `OUR_NUMBER` and opens the stream the TwiML names; returns the call's id.
async fn answered(line: &Line, call_sid: &str) -> anyhow::Result<(String, TwilioCall)> {
    let answer = ring(&line.app, OUR_NUMBER, call_sid).await?;
    let stream = TwimlStream::from_twiml(&answer.text().await?)?;
    let call_id = stream.parameter("call_id").unwrap_or_default().to_owned();
    let mut call = TwilioCall::connect(&stream, call_sid).await?;
    call.silence(400).await?;
    call.wait_for("the greeting", WAIT, |heard| {
        (!heard.marks().is_empty()).then_some(())
    })
    .await?;
    Ok((call_id, call))
}

fn transcript(call: &Value) -> Vec<(String, String)> {
    call["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["speaker"].as_str().unwrap_or_default().to_owned(),
                t["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_caller_barges_in_and_the_agent_stops() -> anyhow::Result<()> {
    let line = line_with("Luigi's, good evening.", true).await?;
    let deepgram = line
        .deepgram
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the line has no Deepgram"))?;
    deepgram.script([
        "What are your opening hours",
        "Wait, actually I have a question",
    ]);
    let long = "We are open from noon until late every single day of the week. ";
    line.openai.enqueue(Reply::text(long.repeat(6)));
    line.openai.enqueue(Reply::text("Of course, go ahead."));
    let (call_id, mut call) = answered(&line, "CA0000000000000000000000000000000b").await?;

    call.speak(&speech(600)).await?;
    call.silence(500).await?;
    // The long reply starts playing; the caller talks over it.
    call.wait_for("the reply's first sentence", WAIT, |heard| {
        heard
            .marks()
            .iter()
            .any(|m| m.starts_with("r2-"))
            .then_some(())
    })
    .await?;
    call.speak(&speech(900)).await?;
    call.silence(600).await?;
    call.wait_for("the clear", WAIT, |heard| {
        (heard.clears() > 0).then_some(())
    })
    .await?;
    call.wait_for("the answer to the interruption", WAIT, |heard| {
        heard
            .marks()
            .iter()
            .any(|m| m.starts_with("r3-"))
            .then_some(())
    })
    .await?;
    call.hang_up().await?;

    let ended = ended_call(&line.app, &line.token, &call_id).await?;
    let lines = transcript(&ended);
    let cut = lines
        .iter()
        .find(|(who, text)| who == "agent" && text.starts_with("We are open"))
        .ok_or_else(|| anyhow::anyhow!("no interrupted reply in {lines:?}"))?;
    assert!(
        cut.1.len() < long.repeat(6).trim().len(),
        "the whole reply was kept although the caller interrupted it: {lines:?}"
    );
    assert!(lines.contains(&(
        "customer".to_owned(),
        "Wait, actually I have a question".to_owned()
    )));
    assert_eq!(
        lines.last().map(|l| l.1.as_str()),
        Some("Of course, go ahead.")
    );
    Ok(())
}

#[tokio::test]
async fn webhooks_must_be_signed_and_unknown_numbers_are_turned_away() -> anyhow::Result<()> {
    let line = line("Hello.").await?;
    // A forged signature.
    let forged = line
        .app
        .request(reqwest::Method::POST, "/telephony/twilio/voice")
        .header("x-twilio-signature", "bm90IGEgc2lnbmF0dXJl")
        .form(&[("CallSid", "CA1"), ("From", CALLER), ("To", OUR_NUMBER)])
        .send()
        .await?;
    let body = crate::support::expect_error(forged, 403).await?;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("X-Twilio-Signature")
    );

    // A number nobody has: a polite apology, then the line hangs up.
    let unknown = ring(&line.app, "+14155550111", "CA2").await?;
    assert_eq!(unknown.status(), 200);
    let twiml = unknown.text().await?;
    assert!(
        twiml.contains("<Say>") && twiml.contains("<Hangup/>"),
        "{twiml}"
    );
    assert!(!twiml.contains("<Stream"), "{twiml}");

    // A paused agent takes no calls, and no call is stored.
    let paused = line
        .app
        .post_json(
            &format!("/api/v1/agents/{}/pause", line.agent),
            &json!({}),
            Some(&line.token),
        )
        .await?;
    assert_eq!(paused.status(), 200);
    let turned_away = ring(&line.app, OUR_NUMBER, "CA3").await?.text().await?;
    assert!(turned_away.contains("<Hangup/>"), "{turned_away}");
    let calls = expect_json(line.app.get("/api/v1/calls", Some(&line.token)).await?, 200).await?;
    assert_eq!(calls["total"], 0, "{calls}");
    Ok(())
}

#[tokio::test]
async fn a_stream_must_name_a_call_with_its_token() -> anyhow::Result<()> {
    let line = line("Hello there.").await?;
    let answer = ring(&line.app, OUR_NUMBER, "CA0000000000000000000000000000000c").await?;
    let stream = TwimlStream::from_twiml(&answer.text().await?)?;
    let call_id = stream.parameter("call_id").unwrap_or_default().to_owned();
    let url = stream.url.clone();
    for parameters in [
        vec![("call_id", call_id.as_str()), ("token", "1999999999.00ff")],
        vec![("call_id", call_id.as_str())],
        vec![
            ("call_id", "01a1fd70-1484-7166-aded-9f7a7b5f5fd4"),
            ("token", "x"),
        ],
    ] {
        let refused = TwilioCall::connect_with(&url, "CA9", &parameters).await?;
        refused
            .wait_for("the server to close", WAIT, |heard| {
                heard.closed.then_some(())
            })
            .await?;
        assert!(refused.heard(|h| h.audio.is_empty()));
    }
    // The right token still works afterwards.
    let mut call = TwilioCall::connect(&stream, "CA0000000000000000000000000000000c").await?;
    call.silence(300).await?;
    call.wait_for("the greeting", WAIT, |heard| {
        (!heard.marks().is_empty()).then_some(())
    })
    .await?;
    call.hang_up().await?;
    Ok(())
}

#[tokio::test]
async fn a_caller_who_vanishes_still_leaves_a_stored_call() -> anyhow::Result<()> {
    let line = line("Hello, Luigi's.").await?;
    let (call_id, call) = answered(&line, "CA0000000000000000000000000000000d").await?;
    // Garbage first: skipped, and the call goes on.
    for garbage in [
        "{",
        "[]",
        r#"{"event":"media"}"#,
        r#"{"event":"media","media":{"payload":"%%%"}}"#,
        "\u{0}",
    ] {
        call.send_raw(garbage).await?;
    }
    call.vanish();
    let ended = ended_call(&line.app, &line.token, &call_id).await?;
    assert_eq!(ended["status"], "completed");
    assert_eq!(ended["end_reason"], "customer_hangup");
    assert_eq!(transcript(&ended)[0].1, "Hello, Luigi's.");
    Ok(())
}

#[tokio::test]
async fn a_failing_voice_hands_over_to_the_other_provider() -> anyhow::Result<()> {
    let line = line("Welcome to Luigi's.").await?;
    line.elevenlabs.fail_always(500);
    let (call_id, call) = answered(&line, "CA0000000000000000000000000000000e").await?;
    let greeting = call.heard(switchboard_testkit::Heard::samples);
    let pitch = dominant_frequency(&greeting, 8000);
    assert!((pitch - FAKE_TTS_TONE_HZ).abs() < 25.0, "{pitch} Hz");
    assert!(
        !line.openai.speech_requests().is_empty(),
        "OpenAI did not speak"
    );
    call.hang_up().await?;
    ended_call(&line.app, &line.token, &call_id).await?;
    Ok(())
}

#[tokio::test]
async fn a_recogniser_that_drops_mid_call_is_reopened() -> anyhow::Result<()> {
    let line = line_with("Luigi's, how can I help?", true).await?;
    let deepgram = line
        .deepgram
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the line has no Deepgram"))?;
    deepgram.script(["Do you have a table tonight"]);
    line.openai
        .enqueue(Reply::text("Yes, we have a table at eight."));
    // The first recognition stream breaks as soon as it is open.
    deepgram.drop_after(0);
    let (call_id, mut call) = answered(&line, "CA0000000000000000000000000000000f").await?;
    anyhow::ensure!(
        deepgram.wait_for_connections(2, WAIT).await,
        "the recogniser was not reopened: {} connections",
        deepgram.connections()
    );
    call.speak(&speech(700)).await?;
    call.silence(800).await?;
    call.wait_for("the answer after the reconnect", WAIT, |heard| {
        heard
            .marks()
            .iter()
            .any(|m| m.starts_with("r2-"))
            .then_some(())
    })
    .await?;
    call.hang_up().await?;
    let ended = ended_call(&line.app, &line.token, &call_id).await?;
    assert!(
        transcript(&ended).contains(&(
            "customer".to_owned(),
            "Do you have a table tonight".to_owned()
        )),
        "{ended}"
    );
    Ok(())
}
