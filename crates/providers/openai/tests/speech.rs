//! `OpenAiSpeech` and `OpenAiWhisper` against testkit's loopback `FakeOpenAi`: the tone comes
//! back as 24 kHz PCM, requests carry what the API expects, retries happen only before the first
//! audio, and live transcription turns a burst of speech into `SpeechStarted` then a final.

use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use serde_json::json;
use switchboard_domain::ports::{
    AudioStream, SpeechError, SpeechRequest, SpeechToText, SttConfig, SttEvent, SttEvents,
    TextToSpeech,
};
use switchboard_openai::{
    ApiKey, OpenAiConfig, OpenAiSpeech, OpenAiWhisper, SpeechConfig, TranscriptionConfig,
};
use switchboard_testkit::{
    FAKE_OPENAI_KEY, FakeOpenAi, SpeechReply, TranscriptionReply, fake_tts_samples, silence, tone,
};
use url::Url;

type TestResult = anyhow::Result<()>;

/// Long enough for any test on a loaded machine, short enough to fail fast when something hangs.
const DEADLINE: Duration = Duration::from_secs(10);
const TEXT: &str = "Your appointment is booked for three o'clock on Tuesday.";
const RATE: u32 = 16_000;

fn config(fake: &FakeOpenAi) -> anyhow::Result<OpenAiConfig> {
    let mut config = OpenAiConfig::new(
        ApiKey::new(fake.api_key()),
        Url::parse(&fake.base_url())?,
        "gpt-4o-mini",
    );
    config.retry_base = Duration::from_millis(1);
    config.max_retry_wait = Duration::from_millis(5);
    Ok(config)
}

fn speech(fake: &FakeOpenAi) -> anyhow::Result<OpenAiSpeech> {
    Ok(OpenAiSpeech::new(&config(fake)?, SpeechConfig::default())?)
}

fn whisper(fake: &FakeOpenAi) -> anyhow::Result<OpenAiWhisper> {
    Ok(OpenAiWhisper::new(
        &config(fake)?,
        TranscriptionConfig::default(),
    )?)
}

/// Every chunk of the stream, and the error that ended it if one did.
async fn collect(stream: AudioStream) -> anyhow::Result<(Vec<Vec<i16>>, Option<SpeechError>)> {
    Ok(tokio::time::timeout(DEADLINE, async move {
        let mut chunks = Vec::new();
        let mut stream = stream.chunks;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => chunks.push(chunk),
                Err(error) => return (chunks, Some(error)),
            }
        }
        (chunks, None)
    })
    .await?)
}

// ---- speech ------------------------------------------------------------------------------------

#[tokio::test]
async fn speech_is_the_tone_at_24_khz_in_several_chunks() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let tts = speech(&fake)?;
    assert_eq!(tts.name(), "openai/tts-1");
    // OpenAI's PCM is 24 kHz whatever the caller plays at; the stream says so.
    let stream = tts.synthesize(&SpeechRequest::new(TEXT, 8_000)).await?;
    assert_eq!(stream.sample_rate_hz, 24_000);
    let (chunks, error) = collect(stream).await?;
    assert!(error.is_none(), "{error:?}");
    assert!(chunks.len() > 1 && chunks.iter().all(|c| !c.is_empty()));
    // PCM is lossless, and the fake splits a sample across its first two pieces.
    assert_eq!(chunks.concat(), fake_tts_samples(TEXT, 24_000));

    let requests = fake.speech_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(format!("Bearer {FAKE_OPENAI_KEY}").as_str())
    );
    assert_eq!(
        requests[0].body,
        json!({"model": "tts-1", "input": TEXT, "voice": "alloy",
               "response_format": "pcm", "speed": 1.0})
    );
    Ok(())
}

#[tokio::test]
async fn speech_takes_the_requests_voice_and_a_clamped_speed() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let tts = speech(&fake)?;
    for (asked, sent) in [(9.0, 4.0), (0.1, 0.25), (1.5, 1.5)] {
        let request = SpeechRequest {
            voice: "coral".into(),
            speed: asked,
            ..SpeechRequest::new("Hello.", 24_000)
        };
        let (_, error) = collect(tts.synthesize(&request).await?).await?;
        assert!(error.is_none(), "{error:?}");
        let requests = fake.speech_requests();
        let body = &requests.last().context("no request")?.body;
        assert_eq!(body["voice"], "coral");
        assert_eq!(body["speed"], sent);
    }
    Ok(())
}

#[tokio::test]
async fn speech_retries_before_the_audio_and_rejects_refusals_at_once() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let tts = speech(&fake)?;
    fake.enqueue_speech(SpeechReply::openai_error(
        500,
        "The server had an error",
        None,
    ));
    fake.enqueue_speech(SpeechReply::openai_error(429, "Slow down", None));
    let (chunks, error) = collect(tts.synthesize(&SpeechRequest::new(TEXT, RATE)).await?).await?;
    assert!(error.is_none());
    assert_eq!(chunks.concat(), fake_tts_samples(TEXT, 24_000));
    assert_eq!(fake.speech_requests().len(), 3);

    fake.enqueue_speech(SpeechReply::openai_error(400, "Invalid voice", None));
    let error = tts
        .synthesize(&SpeechRequest::new(TEXT, RATE))
        .await
        .err()
        .context("the request was not refused")?;
    let SpeechError::Rejected(message) = &error else {
        panic!("{error:?}");
    };
    assert!(message.contains("Invalid voice"), "{message}");
    assert_eq!(fake.speech_requests().len(), 4);
    Ok(())
}

#[tokio::test]
async fn speech_broken_mid_stream_ends_with_an_error_and_is_not_retried() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let tts = speech(&fake)?;
    fake.enqueue_speech(SpeechReply::cut_mid_stream());
    let (chunks, error) = collect(tts.synthesize(&SpeechRequest::new(TEXT, RATE)).await?).await?;
    let received: usize = chunks.iter().map(Vec::len).sum();
    assert!(received > 0 && received < fake_tts_samples(TEXT, 24_000).len());
    assert!(
        matches!(error, Some(SpeechError::Unavailable(_))),
        "{error:?}"
    );
    assert_eq!(fake.speech_requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn dropping_the_speech_stream_hangs_up() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let tts = speech(&fake)?;
    fake.enqueue_speech(SpeechReply::tone().with_chunk_delay(Duration::from_millis(50)));
    let stream = tts
        .synthesize(&SpeechRequest::new(TEXT.repeat(4), RATE))
        .await?;
    let mut chunks = stream.chunks;
    let first = tokio::time::timeout(DEADLINE, chunks.next()).await?;
    assert!(matches!(first, Some(Ok(ref c)) if !c.is_empty()));
    drop(chunks);
    assert!(fake.wait_for_cancelled_streams(1, DEADLINE).await);
    Ok(())
}

// ---- whole recordings --------------------------------------------------------------------------

#[tokio::test]
async fn a_recording_is_sent_as_a_wav_file_and_its_text_returned() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let transcription = TranscriptionConfig {
        language: Some("en-US".into()),
        ..TranscriptionConfig::default()
    };
    let stt = OpenAiWhisper::new(&config(&fake)?, transcription)?;
    assert_eq!(stt.name(), "openai/whisper-1");
    fake.enqueue_transcription(TranscriptionReply::text(" Book me for three. "));

    let samples = tone(440.0, 500, RATE, 8000);
    assert_eq!(stt.transcribe(&samples, RATE).await?, "Book me for three.");

    let requests = fake.transcription_requests();
    assert_eq!(requests.len(), 1);
    let form = &requests[0].body;
    assert_eq!(form["model"], "whisper-1");
    assert_eq!(form["language"], "en");
    assert_eq!(form["response_format"], "json");
    assert_eq!(form["file"]["filename"], "audio.wav");
    assert_eq!(form["file"]["wav"]["sample_rate_hz"], RATE);
    assert_eq!(form["file"]["wav"]["channels"], 1);
    assert_eq!(form["file"]["wav"]["samples"], samples.len());
    let pitch = form["file"]["wav"]["dominant_hz"]
        .as_f64()
        .unwrap_or_default();
    assert!((pitch - 440.0).abs() < 10.0, "{pitch}");
    Ok(())
}

#[tokio::test]
async fn an_empty_recording_is_empty_text_without_a_request() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    assert_eq!(whisper(&fake)?.transcribe(&[], RATE).await?, "");
    assert!(fake.transcription_requests().is_empty());
    Ok(())
}

#[tokio::test]
async fn recordings_are_retried_on_server_errors_and_refused_on_bad_keys() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let stt = whisper(&fake)?;
    fake.enqueue_transcription(TranscriptionReply::openai_error(503, "overloaded", None));
    let samples = tone(440.0, 300, RATE, 8000);
    assert_eq!(
        stt.transcribe(&samples, RATE).await?,
        "Hello from the fake transcriber."
    );
    assert_eq!(fake.transcription_requests().len(), 2);

    fake.set_api_key("sk-another");
    let error = stt
        .transcribe(&samples, RATE)
        .await
        .err()
        .context("the request was not refused")?;
    let SpeechError::Rejected(message) = &error else {
        panic!("{error:?}");
    };
    assert!(!message.contains(FAKE_OPENAI_KEY), "{message}");
    assert_eq!(fake.transcription_requests().len(), 3);
    Ok(())
}

// ---- live streams ------------------------------------------------------------------------------

fn live_config() -> SttConfig {
    SttConfig {
        sample_rate_hz: RATE,
        language: Some("en-US".into()),
        ..SttConfig::default()
    }
}

/// Feeds `samples` in 20 ms pieces, as the call path does.
async fn feed(sink: &mut dyn switchboard_domain::ports::SttSink, samples: &[i16]) -> TestResult {
    for piece in samples.chunks(RATE as usize / 50) {
        sink.send_audio(piece).await?;
    }
    Ok(())
}

async fn next_event(
    events: &mut SttEvents,
) -> anyhow::Result<Option<Result<SttEvent, SpeechError>>> {
    Ok(tokio::time::timeout(DEADLINE, events.next()).await?)
}

#[tokio::test]
async fn a_burst_of_speech_is_heard_then_transcribed_when_it_ends() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let stt = whisper(&fake)?;
    fake.enqueue_transcription(TranscriptionReply::text("I'd like to book a table."));
    let mut stream = stt.open(live_config()).await?;

    feed(&mut *stream.sink, &silence(400, RATE)).await?;
    feed(&mut *stream.sink, &tone(300.0, 800, RATE, 8000)).await?;
    assert_eq!(
        next_event(&mut stream.events).await?.transpose()?,
        Some(SttEvent::SpeechStarted)
    );
    feed(&mut *stream.sink, &silence(1000, RATE)).await?;
    assert_eq!(
        next_event(&mut stream.events).await?.transpose()?,
        Some(SttEvent::Final {
            text: "I'd like to book a table.".into(),
            speech_final: true
        })
    );
    stream.sink.close().await?;
    assert!(
        next_event(&mut stream.events).await?.is_none(),
        "the stream ends after close"
    );

    let requests = fake.transcription_requests();
    assert_eq!(requests.len(), 1);
    let form = &requests[0].body;
    assert_eq!(form["model"], "whisper-1");
    assert_eq!(form["language"], "en");
    assert_eq!(form["file"]["wav"]["sample_rate_hz"], RATE);
    // The whole burst, with a little before and after it, not the seconds of silence.
    let ms = form["file"]["wav"]["samples"].as_u64().unwrap_or_default() * 1000 / u64::from(RATE);
    assert!((800..=1400).contains(&ms), "{ms} ms sent");
    let pitch = form["file"]["wav"]["dominant_hz"]
        .as_f64()
        .unwrap_or_default();
    assert!((pitch - 300.0).abs() < 30.0, "{pitch}");
    Ok(())
}

#[tokio::test]
async fn finalize_settles_speech_now_and_a_wordless_end_closes_the_utterance() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let stt = whisper(&fake)?;
    fake.enqueue_transcription(TranscriptionReply::text("Hold on"));
    // The tail after the cut is silence, in which Whisper hears nothing.
    fake.set_default_transcription("");
    let mut stream = stt
        .open(SttConfig {
            model: "gpt-4o-mini-transcribe".into(),
            ..live_config()
        })
        .await?;

    feed(&mut *stream.sink, &silence(400, RATE)).await?;
    feed(&mut *stream.sink, &tone(440.0, 600, RATE, 8000)).await?;
    assert_eq!(
        next_event(&mut stream.events).await?.transpose()?,
        Some(SttEvent::SpeechStarted)
    );
    stream.sink.finalize().await?;
    assert_eq!(
        next_event(&mut stream.events).await?.transpose()?,
        Some(SttEvent::Final {
            text: "Hold on".into(),
            speech_final: false
        })
    );
    feed(&mut *stream.sink, &silence(1000, RATE)).await?;
    assert_eq!(
        next_event(&mut stream.events).await?.transpose()?,
        Some(SttEvent::UtteranceEnd)
    );
    assert_eq!(
        fake.transcription_requests()[0].body["model"],
        "gpt-4o-mini-transcribe"
    );
    Ok(())
}

#[tokio::test]
async fn close_transcribes_the_speech_still_open() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let stt = whisper(&fake)?;
    let mut stream = stt.open(live_config()).await?;
    feed(&mut *stream.sink, &silence(400, RATE)).await?;
    feed(&mut *stream.sink, &tone(440.0, 600, RATE, 8000)).await?;
    stream.sink.close().await?;
    assert_eq!(
        next_event(&mut stream.events).await?.transpose()?,
        Some(SttEvent::SpeechStarted)
    );
    assert_eq!(
        next_event(&mut stream.events).await?.transpose()?,
        Some(SttEvent::Final {
            text: "Hello from the fake transcriber.".into(),
            speech_final: true
        })
    );
    assert!(next_event(&mut stream.events).await?.is_none());
    assert!(stream.sink.send_audio(&silence(20, RATE)).await.is_err());
    Ok(())
}

#[tokio::test]
async fn a_failed_transcription_ends_the_stream_with_the_error() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let stt = whisper(&fake)?;
    fake.enqueue_transcription(TranscriptionReply::openai_error(
        400,
        "Audio file is too short",
        None,
    ));
    let mut stream = stt.open(live_config()).await?;
    feed(&mut *stream.sink, &silence(400, RATE)).await?;
    feed(&mut *stream.sink, &tone(440.0, 600, RATE, 8000)).await?;
    feed(&mut *stream.sink, &silence(800, RATE)).await?;
    assert_eq!(
        next_event(&mut stream.events).await?.transpose()?,
        Some(SttEvent::SpeechStarted)
    );
    let error = next_event(&mut stream.events).await?;
    assert!(
        matches!(error, Some(Err(SpeechError::Rejected(_)))),
        "{error:?}"
    );
    assert!(next_event(&mut stream.events).await?.is_none());
    // The stream's tasks are gone: the sink says so.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while stream.sink.send_audio(&silence(20, RATE)).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sink still takes audio"
        );
        tokio::task::yield_now().await;
    }
    Ok(())
}

#[tokio::test]
async fn dropping_the_sink_ends_the_events() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let stt = whisper(&fake)?;
    let stream = stt.open(live_config()).await?;
    let mut events = stream.events;
    drop(stream.sink);
    assert!(next_event(&mut events).await?.is_none());
    assert!(fake.transcription_requests().is_empty());
    Ok(())
}
