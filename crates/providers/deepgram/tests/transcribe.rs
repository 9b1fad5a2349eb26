//! `DeepgramStt::transcribe` against testkit's loopback `FakeDeepgram`: the request, the
//! transcript, both error shapes, retries and the timeout.

use std::time::Duration;

use switchboard_deepgram::{ApiKey, DeepgramConfig, DeepgramStt, RetryPolicy};
use switchboard_domain::ports::{SpeechError, SpeechToText};
use switchboard_testkit::FakeDeepgram;
use tokio::net::TcpListener;
use url::Url;

type TestResult = anyhow::Result<()>;

const RATE: u32 = 16_000;

fn config(base_url: &str, key: &str) -> anyhow::Result<DeepgramConfig> {
    let mut config = DeepgramConfig::with_base_url(ApiKey::new(key), Url::parse(base_url)?);
    config.retry = RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(5),
        max_wait: Duration::from_millis(20),
    };
    config.connect_timeout = Duration::from_secs(10);
    config.answer_timeout = Duration::from_secs(10);
    Ok(config)
}

fn adapter(fake: &FakeDeepgram) -> anyhow::Result<DeepgramStt> {
    Ok(DeepgramStt::new(config(
        &fake.base_url(),
        &fake.api_key(),
    )?)?)
}

/// Half a second of a 440 Hz tone, which the fake hears as speech.
fn speech() -> Vec<i16> {
    (0..RATE as usize / 2)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            (3000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect()
}

#[tokio::test]
async fn a_recording_is_posted_as_wav_and_its_transcript_returned() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    fake.script(["book a table for two"]);
    let stt = adapter(&fake)?;
    let samples = speech();

    assert_eq!(
        stt.transcribe(&samples, RATE).await?,
        "book a table for two"
    );

    let requests = fake.transcriptions();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.status, 200);
    assert_eq!(request.content_type.as_deref(), Some("audio/wav"));
    // A 44-byte header and two bytes a sample.
    assert_eq!(request.body_bytes, 44 + samples.len() * 2);
    assert_eq!(request.param("model"), Some("nova-3"));
    assert_eq!(request.param("smart_format"), Some("true"));
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Token {}", fake.api_key()).as_str())
    );
    Ok(())
}

#[tokio::test]
async fn silence_and_nothing_transcribe_to_nothing() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    fake.script(["never said"]);
    let stt = adapter(&fake)?;

    assert_eq!(stt.transcribe(&vec![0; 8000], RATE).await?, "");
    assert_eq!(fake.transcriptions().len(), 1);
    // An empty recording is not even sent.
    assert_eq!(stt.transcribe(&[], RATE).await?, "");
    assert_eq!(fake.transcriptions().len(), 1);
    assert!(matches!(
        stt.transcribe(&speech(), 0).await,
        Err(SpeechError::Rejected(_))
    ));
    Ok(())
}

#[tokio::test]
async fn client_errors_are_rejected_at_once_with_deepgrams_message() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    fake.fail_next_transcriptions(1, 400);
    let stt = adapter(&fake)?;

    let error = stt.transcribe(&speech(), RATE).await.err();
    let Some(SpeechError::Rejected(message)) = error else {
        anyhow::bail!("expected Rejected, got {error:?}");
    };
    assert!(message.contains("400"), "{message}");
    // The legacy shape: err_code and err_msg.
    assert!(
        message.contains("Bad Request: the fake was told to refuse this request"),
        "{message}"
    );
    assert_eq!(fake.transcriptions().len(), 1, "a refusal is not retried");

    let wrong = DeepgramStt::new(config(&fake.base_url(), "dg-wrong-key-12345")?)?;
    let error = wrong.transcribe(&speech(), RATE).await.err();
    let Some(SpeechError::Rejected(message)) = error else {
        anyhow::bail!("expected Rejected, got {error:?}");
    };
    assert!(message.contains("INVALID_AUTH"), "{message}");
    assert!(!message.contains("dg-wrong-key-12345"), "{message}");
    assert_eq!(fake.transcriptions().len(), 2);
    Ok(())
}

#[tokio::test]
async fn server_errors_are_retried_then_unavailable() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    fake.script(["second time lucky"]);
    let stt = adapter(&fake)?;

    fake.fail_next_transcriptions(2, 503);
    assert_eq!(stt.transcribe(&speech(), RATE).await?, "second time lucky");
    let statuses: Vec<u16> = fake.transcriptions().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);

    fake.fail_next_transcriptions(3, 500);
    let error = stt.transcribe(&speech(), RATE).await.err();
    let Some(SpeechError::Unavailable(message)) = error else {
        anyhow::bail!("expected Unavailable, got {error:?}");
    };
    // The newer shape: category, message and details.
    assert!(
        message
            .contains("INTERNAL_SERVER_ERROR: the fake was told to fail (the fake answered 500)"),
        "{message}"
    );
    assert_eq!(fake.transcriptions().len(), 6);
    Ok(())
}

#[tokio::test]
async fn a_server_that_does_not_answer_times_out() -> TestResult {
    // Accepts connections and reads nothing: the request is never answered.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut config = config(&format!("http://{address}"), "dg-key")?;
    config.answer_timeout = Duration::from_millis(200);
    let stt = DeepgramStt::new(config)?;

    let started = tokio::time::Instant::now();
    let result = stt.transcribe(&speech(), RATE).await;
    assert!(matches!(result, Err(SpeechError::Timeout)), "{result:?}");
    // Not retried: a timeout has spent the caller's patience.
    assert!(started.elapsed() < Duration::from_secs(5));
    holder.abort();
    Ok(())
}
