//! `DeepgramStt` live streams against testkit's loopback `FakeDeepgram`: the query and key, the
//! events of a spoken turn, `Finalize`, `KeepAlive`, closing, dropped connections, refusals and
//! retries, and what dropping either half does.

use std::time::Duration;

use futures_util::StreamExt;
use switchboard_deepgram::{ApiKey, DeepgramConfig, DeepgramStt, RetryPolicy};
use switchboard_domain::ports::{
    SpeechError, SpeechToText, SttConfig, SttEvent, SttEvents, SttSink,
};
use switchboard_testkit::{DEFAULT_DEEPGRAM_PHRASE, FakeDeepgram};
use url::Url;

type TestResult = anyhow::Result<()>;

/// Long enough for a loaded machine; every wait ends as soon as its condition holds.
const DEADLINE: Duration = Duration::from_secs(10);
const RATE: u32 = 16_000;
/// 20 ms at 16 kHz, the call path's frame.
const FRAME: usize = 320;

fn config(fake: &FakeDeepgram) -> anyhow::Result<DeepgramConfig> {
    let mut config =
        DeepgramConfig::with_base_url(ApiKey::new(fake.api_key()), Url::parse(&fake.base_url())?);
    config.retry = RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(5),
        max_wait: Duration::from_millis(20),
    };
    config.connect_timeout = DEADLINE;
    config.answer_timeout = DEADLINE;
    Ok(config)
}

/// Endpointing after 100 ms of silence, as the fake times it by the audio.
fn stt_config() -> SttConfig {
    SttConfig {
        endpointing_ms: 100,
        ..SttConfig::default()
    }
}

fn tone(ms: usize) -> Vec<i16> {
    (0..ms * RATE as usize / 1000)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            (3000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect()
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * RATE as usize / 1000]
}

/// Sends `samples` in 20 ms frames, as the call loop does.
async fn send(sink: &mut Box<dyn SttSink>, samples: &[i16]) -> Result<(), SpeechError> {
    for frame in samples.chunks(FRAME) {
        sink.send_audio(frame).await?;
    }
    Ok(())
}

/// The next item of the stream (`None` once it ended), failing the test after the deadline.
async fn next(events: &mut SttEvents) -> anyhow::Result<Option<Result<SttEvent, SpeechError>>> {
    tokio::time::timeout(DEADLINE, events.next())
        .await
        .map_err(|_| anyhow::anyhow!("no event within {DEADLINE:?}"))
}

/// Events until (and including) the first that `last` accepts.
async fn events_until(
    events: &mut SttEvents,
    last: impl Fn(&SttEvent) -> bool,
) -> anyhow::Result<Vec<SttEvent>> {
    let mut seen = Vec::new();
    loop {
        match next(events).await? {
            Some(Ok(event)) => {
                let done = last(&event);
                seen.push(event);
                if done {
                    return Ok(seen);
                }
            }
            other => anyhow::bail!("the stream ended early with {other:?} after {seen:?}"),
        }
    }
}

/// Every remaining event, until the stream ends.
async fn rest(events: &mut SttEvents) -> anyhow::Result<Vec<Result<SttEvent, SpeechError>>> {
    let mut seen = Vec::new();
    while let Some(item) = next(events).await? {
        seen.push(item);
    }
    Ok(seen)
}

fn interim(text: &str) -> SttEvent {
    SttEvent::Interim { text: text.into() }
}

fn final_(text: &str, speech_final: bool) -> SttEvent {
    SttEvent::Final {
        text: text.into(),
        speech_final,
    }
}

#[tokio::test]
async fn the_stream_asks_for_linear16_with_the_turn_signals_and_sends_the_key() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    let stt = DeepgramStt::new(config(&fake)?)?;
    assert_eq!(stt.name(), "deepgram/nova-3");

    let _stream = stt
        .open(SttConfig {
            language: Some("en-US".into()),
            ..stt_config()
        })
        .await?;
    let _other = stt
        .open(SttConfig {
            sample_rate_hz: 8000,
            model: "nova-2-phonecall".into(),
            interim_results: false,
            ..stt_config()
        })
        .await?;

    let live = fake.live_connections();
    assert_eq!(live.len(), 2);
    let first = &live[0];
    assert!(first.accepted());
    assert_eq!(
        first.authorization.as_deref(),
        Some(format!("Token {}", fake.api_key()).as_str())
    );
    let expected = [
        ("model", "nova-3"),
        ("encoding", "linear16"),
        ("sample_rate", "16000"),
        ("channels", "1"),
        ("language", "en-US"),
        ("interim_results", "true"),
        ("endpointing", "100"),
        ("utterance_end_ms", "1000"),
        ("vad_events", "true"),
        ("smart_format", "true"),
        ("punctuate", "true"),
    ];
    for (name, value) in expected {
        assert_eq!(first.param(name), Some(value), "{name}");
    }
    let second = &live[1];
    assert_eq!(second.param("model"), Some("nova-2-phonecall"));
    assert_eq!(second.param("sample_rate"), Some("8000"));
    assert_eq!(second.param("interim_results"), Some("false"));
    assert_eq!(second.param("language"), None);
    // Deepgram refuses utterance_end_ms without interim results.
    assert_eq!(second.param("utterance_end_ms"), None);
    Ok(())
}

#[tokio::test]
async fn a_spoken_turn_gives_speech_started_interims_a_speech_final_final_and_utterance_end()
-> TestResult {
    let fake = FakeDeepgram::start().await?;
    fake.script(["I'd like to book a table", "tomorrow at seven"]);
    let stt = DeepgramStt::new(config(&fake)?)?;
    let mut stream = stt.open(stt_config()).await?;

    send(&mut stream.sink, &tone(400)).await?;
    send(&mut stream.sink, &silence(300)).await?;
    let turn = events_until(&mut stream.events, |e| *e == SttEvent::UtteranceEnd).await?;
    // Interims come 100 ms into speech and every 200 ms after: at 100 and 300 ms of 400.
    assert_eq!(
        turn,
        [
            SttEvent::SpeechStarted,
            interim("I'd like to"),
            interim("I'd like to"),
            final_("I'd like to book a table", true),
            SttEvent::UtteranceEnd,
        ]
    );

    send(&mut stream.sink, &tone(200)).await?;
    send(&mut stream.sink, &silence(200)).await?;
    let turn = events_until(&mut stream.events, |e| *e == SttEvent::UtteranceEnd).await?;
    assert_eq!(
        turn,
        [
            SttEvent::SpeechStarted,
            interim("tomorrow at"),
            final_("tomorrow at seven", true),
            SttEvent::UtteranceEnd,
        ]
    );

    // Once the script is used up the fake says its default phrase.
    send(&mut stream.sink, &tone(60)).await?;
    send(&mut stream.sink, &silence(100)).await?;
    let turn = events_until(&mut stream.events, |e| *e == SttEvent::UtteranceEnd).await?;
    assert_eq!(
        turn,
        [
            SttEvent::SpeechStarted,
            final_(DEFAULT_DEEPGRAM_PHRASE, true),
            SttEvent::UtteranceEnd,
        ]
    );
    Ok(())
}

#[tokio::test]
async fn finalize_settles_the_pending_speech_at_once() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    fake.script(["book a table for two"]);
    let stt = DeepgramStt::new(config(&fake)?)?;
    // Endpointing off: only Finalize can settle the speech.
    let mut stream = stt
        .open(SttConfig {
            endpointing_ms: 0,
            ..stt_config()
        })
        .await?;

    send(&mut stream.sink, &tone(200)).await?;
    send(&mut stream.sink, &silence(500)).await?;
    stream.sink.finalize().await?;
    let turn = events_until(&mut stream.events, |e| matches!(e, SttEvent::Final { .. })).await?;
    assert_eq!(
        turn,
        [
            SttEvent::SpeechStarted,
            interim("book a table"),
            final_("book a table for two", false),
        ]
    );

    // Finalizing with nothing pending brings Deepgram's empty final, which is not reported;
    // the stream stays open for more audio.
    stream.sink.finalize().await?;
    send(&mut stream.sink, &tone(60)).await?;
    stream.sink.finalize().await?;
    let turn = events_until(&mut stream.events, |e| matches!(e, SttEvent::Final { .. })).await?;
    assert_eq!(
        turn,
        [
            SttEvent::SpeechStarted,
            final_(DEFAULT_DEEPGRAM_PHRASE, false)
        ]
    );
    stream.sink.close().await?;
    assert!(rest(&mut stream.events).await?.is_empty());

    let live = fake.live_connections();
    assert_eq!(live[0].finalizes, 3);
    assert_eq!(live[0].param("endpointing"), Some("false"));
    assert_eq!(
        live[0]
            .sent
            .iter()
            .filter(|kind| *kind == "Results")
            .count(),
        4,
        "one interim, two finals with words and one empty: {:?}",
        live[0].sent
    );
    Ok(())
}

#[tokio::test]
async fn keep_alives_go_out_while_no_audio_is_sent() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    let mut config = config(&fake)?;
    config.keep_alive_interval = Duration::from_millis(30);
    let stt = DeepgramStt::new(config)?;
    let mut stream = stt.open(stt_config()).await?;

    assert!(
        fake.wait_until(DEADLINE, |live| live[0].keep_alives >= 3)
            .await,
        "{:?}",
        fake.live_connections()
    );
    // Keep-alives are not audio, and the stream still works after them.
    send(&mut stream.sink, &tone(100)).await?;
    send(&mut stream.sink, &silence(100)).await?;
    events_until(&mut stream.events, |e| *e == SttEvent::UtteranceEnd).await?;
    let live = fake.live_connections();
    assert_eq!(live[0].audio_bytes, 200 * RATE as usize / 1000 * 2);
    Ok(())
}

#[tokio::test]
async fn close_ends_the_stream_after_the_last_final() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    fake.script(["see you then"]);
    let stt = DeepgramStt::new(config(&fake)?)?;
    let mut stream = stt.open(stt_config()).await?;

    // Speech still going on when the caller closes: the close settles it.
    send(&mut stream.sink, &tone(120)).await?;
    stream.sink.close().await?;
    let items = rest(&mut stream.events).await?;
    let events: Vec<SttEvent> = items.into_iter().collect::<Result<_, _>>()?;
    assert_eq!(
        events,
        [
            SttEvent::SpeechStarted,
            interim("see you"),
            final_("see you then", false),
        ]
    );
    // Ended for good.
    assert!(next(&mut stream.events).await?.is_none());

    assert!(
        fake.wait_until(DEADLINE, |live| live[0].ended).await,
        "the fake did not see the stream end"
    );
    let live = fake.live_connections();
    assert_eq!(live[0].close_streams, 1);
    assert_eq!(live[0].sent.last().map(String::as_str), Some("Metadata"));
    // Closing again is harmless; sending after it is refused.
    stream.sink.close().await?;
    assert!(matches!(
        stream.sink.send_audio(&tone(20)).await,
        Err(SpeechError::Unavailable(_))
    ));
    Ok(())
}

#[tokio::test]
async fn a_dropped_connection_ends_the_events_with_unavailable_and_a_new_stream_opens() -> TestResult
{
    let fake = FakeDeepgram::start().await?;
    fake.script(["first try", "second try"]);
    fake.drop_after(2);
    let stt = DeepgramStt::new(config(&fake)?)?;
    let mut stream = stt.open(stt_config()).await?;

    send(&mut stream.sink, &tone(200)).await?;
    let items = rest(&mut stream.events).await?;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().ok(), Some(&SttEvent::SpeechStarted));
    assert_eq!(items[1].as_ref().ok(), Some(&interim("first")));
    assert!(
        matches!(items[2], Err(SpeechError::Unavailable(_))),
        "{items:?}"
    );
    // The sink finds out too, at the latest once the writer's next send fails.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match stream.sink.send_audio(&silence(20)).await {
            Err(SpeechError::Unavailable(_)) => break,
            Ok(()) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => anyhow::bail!("the sink still took audio: {other:?}"),
        }
    }

    // The adapter does not reconnect by itself; the caller opens a new stream.
    assert_eq!(fake.connections(), 1);
    let mut again = stt.open(stt_config()).await?;
    send(&mut again.sink, &tone(200)).await?;
    send(&mut again.sink, &silence(100)).await?;
    let turn = events_until(&mut again.events, |e| *e == SttEvent::UtteranceEnd).await?;
    assert!(turn.contains(&final_("first try", true)), "{turn:?}");
    assert_eq!(fake.connections(), 2);
    Ok(())
}

#[tokio::test]
async fn a_refused_key_is_rejected_without_retrying() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    let mut wrong_key = config(&fake)?;
    wrong_key.api_key = ApiKey::new("dg-wrong-key-12345");
    let stt = DeepgramStt::new(wrong_key)?;

    let error = stt.open(stt_config()).await.err();
    let Some(SpeechError::Rejected(message)) = error else {
        anyhow::bail!("expected Rejected, got {error:?}");
    };
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("INVALID_AUTH"), "{message}");
    assert!(!message.contains("dg-wrong-key-12345"), "{message}");
    let live = fake.live_connections();
    assert_eq!(live.len(), 1, "a refusal is not retried");
    assert_eq!(live[0].status, 401);
    assert_eq!(fake.connections(), 0);

    fake.reject_next(403);
    let stt = DeepgramStt::new(config(&fake)?)?;
    assert!(matches!(
        stt.open(stt_config()).await,
        Err(SpeechError::Rejected(message)) if message.contains("403")
    ));
    Ok(())
}

#[tokio::test]
async fn an_unavailable_server_is_retried_until_the_attempts_are_spent() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    let stt = DeepgramStt::new(config(&fake)?)?;

    fake.reject_next(503);
    fake.reject_next(429);
    let _stream = stt.open(stt_config()).await?;
    let statuses: Vec<u16> = fake.live_connections().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [503, 429, 101]);

    for _ in 0..3 {
        fake.reject_next(503);
    }
    let error = stt.open(stt_config()).await.err();
    let Some(SpeechError::Unavailable(message)) = error else {
        anyhow::bail!("expected Unavailable, got {error:?}");
    };
    assert!(message.contains("503"), "{message}");
    assert_eq!(fake.live_connections().len(), 6);

    // Nobody listening at all: connection failures are retried, then Unavailable.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?
    };
    let mut config = config(&fake)?;
    config.base_url = Url::parse(&format!("http://{address}"))?;
    let stt = DeepgramStt::new(config)?;
    assert!(matches!(
        stt.open(stt_config()).await,
        Err(SpeechError::Unavailable(_))
    ));
    Ok(())
}

#[tokio::test]
async fn dropping_the_events_ends_the_stream() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    let stt = DeepgramStt::new(config(&fake)?)?;
    let stream = stt.open(stt_config()).await?;
    let mut sink = stream.sink;
    drop(stream.events);

    assert!(
        fake.wait_until(DEADLINE, |live| live[0].ended).await,
        "the connection outlived the event stream"
    );
    assert!(matches!(
        sink.send_audio(&tone(20)).await,
        Err(SpeechError::Unavailable(_))
    ));
    Ok(())
}

#[tokio::test]
async fn dropping_the_sink_closes_the_stream_and_the_events_end() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    fake.script(["last words"]);
    let stt = DeepgramStt::new(config(&fake)?)?;
    let mut stream = stt.open(stt_config()).await?;

    send(&mut stream.sink, &tone(60)).await?;
    drop(stream.sink);
    let events: Vec<SttEvent> = rest(&mut stream.events)
        .await?
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert_eq!(
        events,
        [SttEvent::SpeechStarted, final_("last words", false)]
    );
    assert_eq!(fake.live_connections()[0].close_streams, 1);
    Ok(())
}

#[tokio::test]
async fn unsupported_rates_are_rejected_before_connecting() -> TestResult {
    let fake = FakeDeepgram::start().await?;
    let stt = DeepgramStt::new(config(&fake)?)?;
    let result = stt
        .open(SttConfig {
            sample_rate_hz: 0,
            ..stt_config()
        })
        .await;
    assert!(matches!(result, Err(SpeechError::Rejected(_))));
    assert!(fake.live_connections().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_server_that_stops_reading_slows_the_sender_down() -> TestResult {
    // Completes the handshake, then holds the connection without reading from it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let socket = tokio_tungstenite::accept_async(stream).await?;
        std::future::pending::<()>().await;
        drop(socket);
        anyhow::Ok(())
    });
    let mut config = DeepgramConfig::with_base_url(
        ApiKey::new("dg-key"),
        Url::parse(&format!("http://{address}"))?,
    );
    config.answer_timeout = Duration::from_millis(300);
    let stt = DeepgramStt::new(config)?;
    let mut stream = stt.open(stt_config()).await?;

    // One second of audio a piece; 4000 of them (128 MB) are far beyond what the socket
    // buffers and the writer's queue can hold, so a send must wait before then.
    let second = tone(1000);
    let mut waited = false;
    for _ in 0..4000 {
        let sending = stream.sink.send_audio(&second);
        if tokio::time::timeout(Duration::from_secs(1), sending)
            .await
            .is_err()
        {
            waited = true;
            break;
        }
    }
    assert!(waited, "the sink kept taking audio nobody reads");
    // Closing cannot get through either, and says so in time.
    let started = tokio::time::Instant::now();
    assert!(matches!(
        stream.sink.close().await,
        Err(SpeechError::Timeout)
    ));
    assert!(started.elapsed() < DEADLINE);
    server.abort();
    Ok(())
}
