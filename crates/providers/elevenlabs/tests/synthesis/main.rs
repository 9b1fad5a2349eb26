//! `ElevenLabsTts` against `FakeElevenLabs`, over both transports: the output format chosen for
//! each rate and the audio decoded from it, what goes on the wire, retries before the first
//! audio and none after it, and cancellation on drop.

mod http;
mod websocket;

use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use switchboard_domain::ports::{AudioStream, SpeechError, SpeechRequest, TextToSpeech};
use switchboard_elevenlabs::{
    ApiKey, ElevenLabsConfig, ElevenLabsConfigError, ElevenLabsTransport, ElevenLabsTts,
    RetryPolicy,
};
use switchboard_testkit::{FakeElevenLabs, dominant_frequency, fake_tts_samples};
use url::Url;

type TestResult = anyhow::Result<()>;

/// Long enough for any test on a loaded machine, short enough to fail fast when something hangs.
const DEADLINE: Duration = Duration::from_secs(10);
const TEXT: &str = "Thanks for calling, how can I help you today?";

fn config(
    fake: &FakeElevenLabs,
    transport: ElevenLabsTransport,
) -> anyhow::Result<ElevenLabsConfig> {
    let mut config = ElevenLabsConfig::new(ApiKey::new(fake.api_key()), "voice-default");
    config.base_url = Url::parse(&fake.base_url())?;
    config.transport = transport;
    config.retry = RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(1),
        max_wait: Duration::from_millis(5),
    };
    config.first_chunk_timeout = Duration::from_secs(5);
    config.idle_timeout = Duration::from_secs(5);
    Ok(config)
}

fn adapter(fake: &FakeElevenLabs, transport: ElevenLabsTransport) -> anyhow::Result<ElevenLabsTts> {
    Ok(ElevenLabsTts::new(config(fake, transport)?)?)
}

/// Every chunk of the stream, and the error that ended it if one did.
async fn collect(stream: AudioStream) -> anyhow::Result<(Vec<Vec<i16>>, Option<SpeechError>)> {
    tokio::time::timeout(DEADLINE, async move {
        let mut chunks = Vec::new();
        let mut stream = stream.chunks;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => chunks.push(chunk),
                Err(error) => {
                    anyhow::ensure!(stream.next().await.is_none(), "items after an error");
                    return Ok((chunks, Some(error)));
                }
            }
        }
        Ok((chunks, None))
    })
    .await
    .context("the stream did not end in time")?
}

/// Synthesises `request` and returns its rate and audio, checking it came whole, in several
/// non-empty chunks.
async fn speak(tts: &ElevenLabsTts, request: &SpeechRequest) -> anyhow::Result<(u32, Vec<i16>)> {
    let stream = tokio::time::timeout(DEADLINE, tts.synthesize(request)).await??;
    let rate = stream.sample_rate_hz;
    let (chunks, error) = collect(stream).await?;
    anyhow::ensure!(error.is_none(), "the stream failed: {error:?}");
    anyhow::ensure!(
        chunks.len() > 1,
        "the audio came in {} chunks",
        chunks.len()
    );
    anyhow::ensure!(chunks.iter().all(|c| !c.is_empty()), "an empty chunk");
    Ok((rate, chunks.concat()))
}

/// The error `request` fails with.
async fn refusal(tts: &ElevenLabsTts, request: &SpeechRequest) -> anyhow::Result<SpeechError> {
    match tokio::time::timeout(DEADLINE, tts.synthesize(request)).await? {
        Ok(_) => anyhow::bail!("the synthesis started"),
        Err(error) => Ok(error),
    }
}

/// Asserts `samples` are the fake's tone for `text` at `rate`: the right length and pitch, and
/// within `tolerance` of the tone sample by sample (0 for PCM, which is lossless).
fn assert_is_the_tone(samples: &[i16], text: &str, rate: u32, tolerance: i32) {
    let expected = fake_tts_samples(text, rate);
    assert_eq!(samples.len(), expected.len(), "length at {rate} Hz");
    let pitch = dominant_frequency(samples, rate);
    assert!((pitch - 440.0).abs() < 10.0, "{pitch} Hz at {rate} Hz");
    let worst = samples
        .iter()
        .zip(&expected)
        .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
        .max()
        .unwrap_or(0);
    assert!(worst <= tolerance, "off by {worst} at {rate} Hz");
}

#[test]
fn configurations_that_cannot_work_are_refused() -> TestResult {
    let base = Url::parse("https://api.elevenlabs.io")?;
    let mut config = ElevenLabsConfig::new(ApiKey::new(""), "v");
    assert_eq!(config.base_url, base);
    assert_eq!(config.model_id, "eleven_flash_v2_5");
    assert_eq!(
        ElevenLabsTts::new(config.clone()).err(),
        Some(ElevenLabsConfigError::EmptyKey)
    );
    config.api_key = ApiKey::new("sk_1");
    config.base_url = Url::parse("ftp://example.com")?;
    assert!(matches!(
        ElevenLabsTts::new(config.clone()),
        Err(ElevenLabsConfigError::BaseUrl(_))
    ));
    config.base_url = base;
    config.stability = 1.5;
    assert_eq!(
        ElevenLabsTts::new(config.clone()).err(),
        Some(ElevenLabsConfigError::VoiceSettings)
    );
    config.stability = 0.5;
    config.model_id = " ".into();
    assert_eq!(
        ElevenLabsTts::new(config).err(),
        Some(ElevenLabsConfigError::EmptyModel)
    );
    Ok(())
}

#[test]
fn the_key_stays_out_of_debug_output() -> TestResult {
    let mut config = ElevenLabsConfig::new(ApiKey::new("sk_very_secret"), "v");
    for transport in [ElevenLabsTransport::Http, ElevenLabsTransport::WebSocket] {
        config.transport = transport;
        let tts = ElevenLabsTts::new(config.clone())?;
        assert!(!format!("{tts:?}").contains("sk_very_secret"));
        assert!(!format!("{config:?}").contains("sk_very_secret"));
        assert_eq!(tts.name(), "elevenlabs/eleven_flash_v2_5");
    }
    Ok(())
}

#[tokio::test]
async fn blank_text_is_no_audio_and_no_request() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    for transport in [ElevenLabsTransport::Http, ElevenLabsTransport::WebSocket] {
        let tts = adapter(&fake, transport)?;
        let stream = tts.synthesize(&SpeechRequest::new("  ", 16_000)).await?;
        assert_eq!(stream.sample_rate_hz, 16_000);
        let (chunks, error) = collect(stream).await?;
        assert!(chunks.is_empty() && error.is_none());
    }
    assert!(fake.requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn without_a_voice_the_request_is_rejected_before_sending() -> TestResult {
    let fake = FakeElevenLabs::start().await?;
    let mut config = config(&fake, ElevenLabsTransport::Http)?;
    config.default_voice_id = String::new();
    let tts = ElevenLabsTts::new(config)?;
    let error = refusal(&tts, &SpeechRequest::new(TEXT, 8_000)).await?;
    assert!(matches!(error, SpeechError::Rejected(_)), "{error:?}");
    assert!(fake.requests().is_empty());
    Ok(())
}
