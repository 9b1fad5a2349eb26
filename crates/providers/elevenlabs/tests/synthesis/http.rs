//! The HTTP transport: `POST /v1/text-to-speech/{voice}/stream`.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::json;
use switchboard_domain::ports::{SpeechError, SpeechRequest, TextToSpeech};
use switchboard_elevenlabs::ElevenLabsTransport;
use switchboard_testkit::{ElevenLabsEndpoint, FAKE_ELEVENLABS_KEY, FakeElevenLabs};

use anyhow::Context as _;

use crate::{DEADLINE, TEXT, TestResult, adapter, assert_is_the_tone, collect, refusal, speak};

const HTTP: ElevenLabsTransport = ElevenLabsTransport::Http;

#[tokio::test]
async fn telephone_rate_asks_for_ulaw_and_delivers_the_tone_as_pcm() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
    let (rate, samples) = speak(&tts, &SpeechRequest::new(TEXT, 8_000)).await?;
    assert_eq!(rate, 8_000);
    // µ-law keeps about 13 bits: at this level a sample is off by at most half a step of 256.
    assert_is_the_tone(&samples, TEXT, 8_000, 128);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].endpoint, ElevenLabsEndpoint::Stream);
    assert_eq!(requests[0].query["output_format"], "ulaw_8000");
    assert_eq!(requests[0].query["optimize_streaming_latency"], "3");
    Ok(())
}

#[tokio::test]
async fn pcm_rates_are_asked_for_as_they_will_be_played() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
    for rate in [16_000, 22_050, 24_000, 44_100, 48_000] {
        let (delivered, samples) = speak(&tts, &SpeechRequest::new(TEXT, rate)).await?;
        assert_eq!(delivered, rate);
        // PCM is lossless, and the fake splits a sample across its first two pieces: every
        // sample must come back exactly.
        assert_is_the_tone(&samples, TEXT, rate, 0);
        let requests = fake.requests();
        let last = requests.last().context("no request")?;
        assert_eq!(last.query["output_format"], format!("pcm_{rate}"));
    }
    Ok(())
}

#[tokio::test]
async fn other_rates_get_24_khz_pcm_and_say_so() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
    let (rate, samples) = speak(&tts, &SpeechRequest::new(TEXT, 11_025)).await?;
    assert_eq!(rate, 24_000);
    assert_is_the_tone(&samples, TEXT, 24_000, 0);
    assert_eq!(fake.requests()[0].query["output_format"], "pcm_24000");
    Ok(())
}

#[tokio::test]
async fn the_request_carries_key_voice_model_language_and_settings() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
    speak(&tts, &SpeechRequest::new("Hello there.", 16_000)).await?;
    let request = SpeechRequest {
        voice: "voice-chosen".into(),
        speed: 1.1,
        language: Some("pt-BR".into()),
        ..SpeechRequest::new("Olá, tudo bem?", 16_000)
    };
    speak(&tts, &request).await?;

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.api_key.as_deref(), Some(FAKE_ELEVENLABS_KEY));
    }
    assert_eq!(requests[0].voice, "voice-default");
    assert_eq!(requests[0].path, "/v1/text-to-speech/voice-default/stream");
    assert_eq!(
        requests[0].body,
        json!({"text": "Hello there.", "model_id": "eleven_flash_v2_5",
               "voice_settings": {"stability": 0.5, "similarity_boost": 0.75, "speed": 1.0}})
    );
    assert_eq!(requests[1].voice, "voice-chosen");
    assert_eq!(requests[1].body["text"], "Olá, tudo bem?");
    assert_eq!(requests[1].body["language_code"], "pt");
    assert_eq!(requests[1].body["voice_settings"]["speed"], 1.1);
    Ok(())
}

#[tokio::test]
async fn speed_is_clamped_to_what_elevenlabs_accepts() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
    // The fake refuses speeds outside 0.7..=1.2, as ElevenLabs does.
    for (asked, sent) in [(3.0, 1.2), (0.2, 0.7)] {
        let request = SpeechRequest {
            speed: asked,
            ..SpeechRequest::new(TEXT, 16_000)
        };
        speak(&tts, &request).await?;
        let requests = fake.requests();
        let last = requests.last().context("no request")?;
        assert_eq!(last.body["voice_settings"]["speed"], sent);
    }
    Ok(())
}

#[tokio::test]
async fn server_errors_before_the_audio_are_retried() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
    fake.fail_next(1, 500);
    fake.fail_next(1, 429);
    let (_, samples) = speak(&tts, &SpeechRequest::new(TEXT, 16_000)).await?;
    assert_is_the_tone(&samples, TEXT, 16_000, 0);
    assert_eq!(fake.requests().len(), 3);
    Ok(())
}

#[tokio::test]
async fn lasting_failures_give_up_after_the_retries() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
    fake.fail_always(503);
    let error = refusal(&tts, &SpeechRequest::new(TEXT, 16_000)).await?;
    assert!(matches!(error, SpeechError::Unavailable(_)), "{error:?}");
    // The first attempt and max_retries (2) more.
    assert_eq!(fake.requests().len(), 3);
    Ok(())
}

#[tokio::test]
async fn refusals_are_rejected_at_once_with_elevenlabs_message() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
    fake.set_api_key("sk_another_key");
    let error = refusal(&tts, &SpeechRequest::new(TEXT, 16_000)).await?;
    let SpeechError::Rejected(message) = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.contains("401") && message.contains("Invalid API key"),
        "{message}"
    );
    assert!(!message.contains(FAKE_ELEVENLABS_KEY));
    assert_eq!(fake.requests().len(), 1);

    fake.set_api_key(FAKE_ELEVENLABS_KEY);
    fake.fail_next(1, 404);
    let error = refusal(&tts, &SpeechRequest::new(TEXT, 16_000)).await?;
    assert!(matches!(error, SpeechError::Rejected(_)), "{error:?}");
    assert_eq!(fake.requests().len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_break_mid_stream_ends_with_an_error_after_the_audio_and_is_not_retried() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let tts = adapter(&fake, HTTP)?;
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
async fn dropping_the_stream_hangs_up() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    fake.set_chunk_delay(Duration::from_millis(50));
    let tts = adapter(&fake, HTTP)?;
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
