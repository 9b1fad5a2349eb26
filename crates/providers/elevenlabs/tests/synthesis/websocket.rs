//! The WebSocket transport: `/v1/text-to-speech/{voice}/stream-input`.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::json;
use switchboard_domain::ports::{SpeechError, SpeechRequest, TextToSpeech};
use switchboard_elevenlabs::ElevenLabsTransport;
use switchboard_testkit::{ElevenLabsEndpoint, FAKE_ELEVENLABS_KEY, FakeElevenLabs};

use crate::{DEADLINE, TEXT, TestResult, adapter, assert_is_the_tone, collect, refusal, speak};

const WS: ElevenLabsTransport = ElevenLabsTransport::WebSocket;

#[tokio::test]
async fn telephone_rate_asks_for_ulaw_and_delivers_the_tone_as_pcm() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, WS)?;
    let (rate, samples) = speak(&tts, &SpeechRequest::new(TEXT, 8_000)).await?;
    assert_eq!(rate, 8_000);
    assert_is_the_tone(&samples, TEXT, 8_000, 128);
    let request = &fake.requests()[0];
    assert_eq!(request.endpoint, ElevenLabsEndpoint::StreamInput);
    assert_eq!(
        request.path,
        "/v1/text-to-speech/voice-default/stream-input"
    );
    assert_eq!(request.query["output_format"], "ulaw_8000");
    assert_eq!(request.query["model_id"], "eleven_flash_v2_5");
    Ok(())
}

#[tokio::test]
async fn pcm_arrives_whole_however_the_messages_split_it() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, WS)?;
    for rate in [16_000, 24_000, 44_100] {
        let (delivered, samples) = speak(&tts, &SpeechRequest::new(TEXT, rate)).await?;
        assert_eq!(delivered, rate);
        assert_is_the_tone(&samples, TEXT, rate, 0);
    }
    Ok(())
}

#[tokio::test]
async fn the_socket_gets_the_key_the_settings_and_the_text_in_three_messages() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, WS)?;
    let request = SpeechRequest {
        voice: "voice-chosen".into(),
        speed: 2.0,
        language: Some("de-AT".into()),
        ..SpeechRequest::new("Guten Tag.", 16_000)
    };
    speak(&tts, &request).await?;
    let recorded = &fake.requests()[0];
    assert_eq!(recorded.voice, "voice-chosen");
    assert_eq!(recorded.api_key.as_deref(), Some(FAKE_ELEVENLABS_KEY));
    assert_eq!(recorded.query["language_code"], "de");
    assert_eq!(
        recorded.messages,
        [
            json!({"text": " ",
                   "voice_settings": {"stability": 0.5, "similarity_boost": 0.75, "speed": 1.2},
                   "xi-api-key": FAKE_ELEVENLABS_KEY}),
            json!({"text": "Guten Tag. ", "flush": true}),
            json!({"text": ""}),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn refused_handshakes_are_retried_when_it_can_help() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, WS)?;
    fake.fail_next(1, 503);
    let (_, samples) = speak(&tts, &SpeechRequest::new(TEXT, 16_000)).await?;
    assert_is_the_tone(&samples, TEXT, 16_000, 0);
    assert_eq!(fake.requests().len(), 2);

    fake.set_api_key("sk_another_key");
    let error = refusal(&tts, &SpeechRequest::new(TEXT, 16_000)).await?;
    let SpeechError::Rejected(message) = &error else {
        panic!("{error:?}");
    };
    assert!(message.contains("401"), "{message}");
    assert!(!message.contains(FAKE_ELEVENLABS_KEY));
    assert_eq!(fake.requests().len(), 3);
    Ok(())
}

#[tokio::test]
async fn closes_are_refusals_or_retried_by_their_code() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, WS)?;
    fake.close_next_with(1008, "You have exceeded your quota");
    let error = refusal(&tts, &SpeechRequest::new(TEXT, 16_000)).await?;
    let SpeechError::Rejected(message) = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.contains("1008") && message.contains("quota"),
        "{message}"
    );
    assert_eq!(fake.requests().len(), 1);

    fake.close_next_with(1011, "internal error");
    let (_, samples) = speak(&tts, &SpeechRequest::new(TEXT, 16_000)).await?;
    assert_is_the_tone(&samples, TEXT, 16_000, 0);
    assert_eq!(fake.requests().len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_break_mid_stream_ends_with_an_error_after_the_audio_and_is_not_retried() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, WS)?;
    fake.fail_mid_stream();
    let stream = tts.synthesize(&SpeechRequest::new(TEXT, 16_000)).await?;
    let (chunks, error) = collect(stream).await?;
    let received: usize = chunks.iter().map(Vec::len).sum();
    assert!(received > 0, "no audio before the break");
    assert!(received < crate::fake_tts_samples(TEXT, 16_000).len());
    assert!(
        matches!(error, Some(SpeechError::Unavailable(_))),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn dropping_the_stream_closes_the_socket() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    fake.set_chunk_delay(Duration::from_millis(50));
    let tts = adapter(&fake, WS)?;
    let stream = tts
        .synthesize(&SpeechRequest::new(TEXT.repeat(4), 16_000))
        .await?;
    let mut chunks = stream.chunks;
    let first = tokio::time::timeout(DEADLINE, chunks.next()).await?;
    assert!(matches!(first, Some(Ok(ref c)) if !c.is_empty()));
    drop(chunks);
    assert!(fake.wait_for_cancelled_streams(1, DEADLINE).await);
    Ok(())
}
