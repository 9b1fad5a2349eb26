//! Whole calls through the session with in-process fakes of the speech providers and the model,
//! on tokio's paused clock: timing is exact and the tests never sleep for real.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_domain::agent::HttpTool;
use switchboard_domain::call::Speaker as Who;
use switchboard_domain::conversation::{
    CallContext, ConversationEngine, ConversationState, ToolError, ToolInvoker,
};
use switchboard_domain::ids::{AgentId, OrganizationId};
use switchboard_domain::knowledge::{KnowledgeError, KnowledgeSearch, SearchHit};
use switchboard_domain::ports::{
    AudioStream, ChatEvent, ChatRequest, ChatRole, ChatStream, Clock, FinishReason, LanguageModel,
    LlmError, SpeechError, SpeechRequest, SpeechToText, SttConfig, SttEvent, SttSink, SttStream,
    TextToSpeech,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::*;

// ---- fakes ------------------------------------------------------------------------------------

type EventSender = mpsc::Sender<Result<SttEvent, SpeechError>>;

/// Speech-to-text whose events the test writes: each `open` takes the next stream the test
/// prepared with [`FakeStt::prepare`]; with none prepared, opening fails.
#[derive(Default)]
struct FakeStt {
    streams: Mutex<VecDeque<mpsc::Receiver<Result<SttEvent, SpeechError>>>>,
    opened: AtomicUsize,
    samples: Arc<AtomicUsize>,
    finalized: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl FakeStt {
    fn prepare(&self) -> EventSender {
        let (tx, rx) = mpsc::channel(16);
        self.streams.lock().unwrap().push_back(rx);
        tx
    }
}

struct FakeSttSink {
    samples: Arc<AtomicUsize>,
    finalized: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

#[async_trait]
impl SttSink for FakeSttSink {
    async fn send_audio(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        self.samples.fetch_add(samples.len(), Ordering::SeqCst);
        Ok(())
    }
    async fn finalize(&mut self) -> Result<(), SpeechError> {
        self.finalized.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn close(&mut self) -> Result<(), SpeechError> {
        self.closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl SpeechToText for FakeStt {
    fn name(&self) -> &str {
        "fake-stt"
    }

    async fn open(&self, config: SttConfig) -> Result<SttStream, SpeechError> {
        assert_eq!(config.sample_rate_hz, 16_000);
        let Some(rx) = self.streams.lock().unwrap().pop_front() else {
            return Err(SpeechError::Unavailable("no stream prepared".into()));
        };
        self.opened.fetch_add(1, Ordering::SeqCst);
        let events = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        });
        Ok(SttStream {
            sink: Box::new(FakeSttSink {
                samples: Arc::clone(&self.samples),
                finalized: Arc::clone(&self.finalized),
                closed: Arc::clone(&self.closed),
            }),
            events: Box::pin(events),
        })
    }

    async fn transcribe(&self, _: &[i16], _: u32) -> Result<String, SpeechError> {
        Ok(String::new())
    }
}

/// Text-to-speech answering each sentence, after `delay`, with `tone` of a 440 Hz tone at 24 kHz
/// in 20 ms chunks; sentences containing `fail_on` fail.
struct FakeTts {
    delay: Duration,
    tone: Duration,
    fail_on: Option<String>,
    sentences: Mutex<Vec<String>>,
}

impl FakeTts {
    fn new(delay_ms: u64, tone_ms: u64) -> Self {
        Self {
            delay: Duration::from_millis(delay_ms),
            tone: Duration::from_millis(tone_ms),
            fail_on: None,
            sentences: Mutex::new(Vec::new()),
        }
    }

    fn sentences(&self) -> Vec<String> {
        self.sentences.lock().unwrap().clone()
    }
}

const TTS_RATE: u32 = 24_000;

#[async_trait]
impl TextToSpeech for FakeTts {
    fn name(&self) -> &str {
        "fake-tts"
    }

    async fn synthesize(&self, request: &SpeechRequest) -> Result<AudioStream, SpeechError> {
        let text = request.text.as_str();
        self.sentences.lock().unwrap().push(text.to_owned());
        tokio::time::sleep(self.delay).await;
        if self
            .fail_on
            .as_deref()
            .is_some_and(|bad| text.contains(bad))
        {
            return Err(SpeechError::Unavailable("scripted failure".into()));
        }
        let total = usize::try_from(self.tone.as_millis()).unwrap() * TTS_RATE as usize / 1000;
        let tone: Vec<i16> = (0..total)
            .map(|n| {
                let phase = 2.0 * std::f32::consts::PI * 440.0 * n as f32 / TTS_RATE as f32;
                (phase.sin() * 8000.0) as i16
            })
            .collect();
        let chunks: Vec<Result<Vec<i16>, SpeechError>> =
            tone.chunks(480).map(|chunk| Ok(chunk.to_vec())).collect();
        Ok(AudioStream {
            sample_rate_hz: TTS_RATE,
            chunks: Box::pin(futures_util::stream::iter(chunks)),
        })
    }
}

/// A model that streams scripted replies word by word, `token_delay` apart, and notes when a
/// reply stream is dropped before its end.
struct FakeModel {
    replies: Mutex<VecDeque<String>>,
    token_delay: Duration,
    cancelled: Arc<AtomicUsize>,
}

impl FakeModel {
    fn new(token_delay_ms: u64, replies: &[&str]) -> Self {
        Self {
            replies: Mutex::new(replies.iter().map(|&r| r.to_owned()).collect()),
            token_delay: Duration::from_millis(token_delay_ms),
            cancelled: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// Counts a cancellation when dropped before `finished` is set.
struct DropWatch {
    finished: AtomicBool,
    cancelled: Arc<AtomicUsize>,
}

impl Drop for DropWatch {
    fn drop(&mut self) {
        if !self.finished.load(Ordering::SeqCst) {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl LanguageModel for FakeModel {
    fn name(&self) -> &str {
        "fake-model"
    }

    async fn stream(&self, _request: ChatRequest) -> Result<ChatStream, LlmError> {
        let reply = self
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .ok_or_else(|| LlmError::Unavailable("no reply scripted".into()))?;
        let mut events: VecDeque<ChatEvent> = reply
            .split_inclusive(' ')
            .map(|word| ChatEvent::Token(word.to_owned()))
            .collect();
        events.push_back(ChatEvent::Finished(FinishReason::Stop));
        let watch = DropWatch {
            finished: AtomicBool::new(false),
            cancelled: Arc::clone(&self.cancelled),
        };
        let delay = self.token_delay;
        Ok(Box::pin(futures_util::stream::unfold(
            (events, watch),
            move |(mut events, watch)| async move {
                tokio::time::sleep(delay).await;
                let event = events.pop_front()?;
                if events.is_empty() {
                    watch.finished.store(true, Ordering::SeqCst);
                }
                Some((Ok(event), (events, watch)))
            },
        )))
    }
}

struct NoKnowledge;

#[async_trait]
impl KnowledgeSearch for NoKnowledge {
    async fn search(
        &self,
        _: OrganizationId,
        _: &str,
        _: Option<AgentId>,
        _: usize,
    ) -> Result<Vec<SearchHit>, KnowledgeError> {
        Ok(Vec::new())
    }
}

struct NoTools;

#[async_trait]
impl ToolInvoker for NoTools {
    async fn invoke(&self, tool: &HttpTool, _: &serde_json::Value) -> Result<String, ToolError> {
        Err(ToolError::Failed(format!("no tool {}", tool.name)))
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::UNIX_EPOCH
    }
}

// ---- the harness ------------------------------------------------------------------------------

const GREETING: &str = "Hello, this is Acme bookings. How can I help you today?";
const ANSWER: &str = "Sure, a table for two is possible. What time would you like it? \
                      We open at 5 p.m. every day.";

/// A running session and the channel's ends of it.
struct Call {
    inbound: mpsc::Sender<InboundFrame>,
    outbound: mpsc::Receiver<OutboundEvent>,
    shutdown: watch::Sender<bool>,
    session: JoinHandle<SessionOutcome>,
    stt: Arc<FakeStt>,
    stt_events: EventSender,
    tts: Arc<FakeTts>,
    model: Arc<FakeModel>,
    /// When each outbound audio frame arrived.
    frame_times: Vec<Instant>,
    /// When the session was built; its recording starts then.
    started: Instant,
}

struct Setup {
    config: VoiceSessionConfig,
    tts: FakeTts,
    model: FakeModel,
}

impl Setup {
    fn new(replies: &[&str]) -> Self {
        Self {
            config: VoiceSessionConfig::default(),
            tts: FakeTts::new(50, 200),
            model: FakeModel::new(10, replies),
        }
    }

    fn start(self) -> Call {
        let stt = Arc::new(FakeStt::default());
        let stt_events = stt.prepare();
        let tts = Arc::new(self.tts);
        let model = Arc::new(self.model);
        let engine = ConversationEngine::new(
            Some(Arc::clone(&model) as Arc<dyn LanguageModel>),
            Arc::new(NoKnowledge),
            Arc::new(NoTools),
            Arc::new(FixedClock),
        );
        let context = CallContext {
            organization_id: OrganizationId::new(),
            organization_name: "Acme".into(),
            time_zone: "UTC".into(),
            agent_id: None,
            agent: None,
            scenario: None,
            customer_name: None,
            phone_number: None,
            started_at: chrono::DateTime::UNIX_EPOCH,
        };
        let started = Instant::now();
        let (inbound, inbound_rx) = mpsc::channel(8);
        let (outbound_tx, outbound) = mpsc::channel(8);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let session = VoiceSession::new(
            self.config,
            SessionPorts {
                stt: Arc::clone(&stt) as Arc<dyn SpeechToText>,
                tts: Arc::clone(&tts) as Arc<dyn TextToSpeech>,
            },
            Conversation {
                engine,
                context,
                opening: Opening::Greet,
            },
            SessionIo {
                inbound: inbound_rx,
                outbound: outbound_tx,
                shutdown: shutdown_rx,
            },
        )
        .unwrap();
        Call {
            inbound,
            outbound,
            shutdown,
            session: tokio::spawn(session.run()),
            stt,
            stt_events,
            tts,
            model,
            frame_times: Vec::new(),
            started,
        }
    }
}

/// How long any single wait may take (on the paused clock, so it costs no real time).
const DEADLINE: Duration = Duration::from_secs(60);

impl Call {
    async fn next(&mut self) -> OutboundEvent {
        let event = tokio::time::timeout(DEADLINE, self.outbound.recv())
            .await
            .expect("the session went quiet")
            .expect("the session ended its output");
        if matches!(event, OutboundEvent::Audio(_)) {
            self.frame_times.push(Instant::now());
        }
        event
    }

    /// Collects events up to and including the first that matches `last`, echoing marks as the
    /// far end does once their audio has played when `ack` is set.
    async fn until(
        &mut self,
        ack: bool,
        last: impl Fn(&OutboundEvent) -> bool,
    ) -> Vec<OutboundEvent> {
        let mut events = Vec::new();
        loop {
            let event = self.next().await;
            if ack && let OutboundEvent::Mark(name) = &event {
                self.inbound
                    .send(InboundFrame::Mark(name.clone()))
                    .await
                    .unwrap();
            }
            let done = last(&event);
            events.push(event);
            if done {
                return events;
            }
        }
    }

    async fn caller_says(&self, text: &str) {
        self.stt_events
            .send(Ok(SttEvent::Final {
                text: text.into(),
                speech_final: true,
            }))
            .await
            .unwrap();
    }

    async fn stt_event(&self, event: SttEvent) {
        self.stt_events.send(Ok(event)).await.unwrap();
    }

    async fn hang_up(mut self) -> (SessionOutcome, Vec<OutboundEvent>) {
        self.inbound.send(InboundFrame::Hangup).await.unwrap();
        let rest = self
            .until(false, |e| matches!(e, OutboundEvent::Ended(_)))
            .await;
        let outcome = tokio::time::timeout(DEADLINE, &mut self.session)
            .await
            .unwrap()
            .unwrap();
        (outcome, rest)
    }
}

fn is_agent_line(event: &OutboundEvent) -> bool {
    matches!(event, OutboundEvent::Text(line) if line.speaker == Who::Agent)
}

fn frames(events: &[OutboundEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, OutboundEvent::Audio(_)))
        .count()
}

fn marks(events: &[OutboundEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            OutboundEvent::Mark(name) => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

fn line(event: &OutboundEvent) -> &TranscriptLine {
    match event {
        OutboundEvent::Text(line) => line,
        other => panic!("expected a transcript line, got {other:?}"),
    }
}

fn roles(state: &ConversationState) -> Vec<(ChatRole, String)> {
    state
        .messages
        .iter()
        .map(|m| (m.role, m.content.clone().unwrap_or_default()))
        .collect()
}

/// One 20 ms mu-law frame of a 300 Hz tone, loud enough for the VAD to take it as speech;
/// `index` keeps the phase running from frame to frame.
fn tone_frame(index: usize) -> Vec<u8> {
    let samples: Vec<i16> = (index * 160..(index + 1) * 160)
        .map(|n| {
            let phase = 2.0 * std::f32::consts::PI * 300.0 * n as f32 / 8000.0;
            (phase.sin() * 8000.0) as i16
        })
        .collect();
    crate::codec::mulaw::encode(&samples)
}

/// One 20 ms mu-law frame of digital silence.
fn silent_frame() -> Vec<u8> {
    vec![0xFF; 160]
}

/// Plays caller audio in real time (on the paused clock): 100 ms of silence (the VAD learns the
/// background from the first frames), `tone` of tone, then `silence` of silence, one frame
/// every 20 ms. The task runs beside the test, which keeps reading the
/// session's output; dropping the handle does not stop it, so tests abort it when done.
fn caller_audio(call: &Call, tone: Duration, silence: Duration) -> JoinHandle<()> {
    let inbound = call.inbound.clone();
    const LEAD_IN: usize = 5;
    let tone_frames = usize::try_from(tone.as_millis() / 20).unwrap();
    let silent_frames = usize::try_from(silence.as_millis() / 20).unwrap();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(20));
        for index in 0..LEAD_IN + tone_frames + silent_frames {
            ticks.tick().await;
            let frame = if (LEAD_IN..LEAD_IN + tone_frames).contains(&index) {
                tone_frame(index)
            } else {
                silent_frame()
            };
            if inbound.send(InboundFrame::Audio(frame)).await.is_err() {
                return;
            }
        }
    })
}

/// Asserts that the session sends nothing for `quiet`.
async fn assert_quiet(call: &mut Call, quiet: Duration) {
    if let Ok(event) = tokio::time::timeout(quiet, call.outbound.recv()).await {
        panic!("expected nothing for {quiet:?}, got {event:?}");
    }
}

/// Waits, on the paused clock, until `condition` holds; panics after [`DEADLINE`].
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let give_up = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---- a whole call -----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_whole_call_speaks_sentence_by_sentence_and_records_the_transcript() {
    let mut call = Setup::new(&[GREETING, ANSWER]).start();

    // The greeting: two sentences of 200 ms each, 10 mu-law frames of 160 bytes per sentence,
    // a mark after each, then the transcript line once both marks have come back.
    let greeting = call.until(true, is_agent_line).await;
    assert_eq!(frames(&greeting), 20);
    assert_eq!(marks(&greeting), ["r1-s1", "r1-s2"]);
    assert!(greeting.iter().all(|e| match e {
        OutboundEvent::Audio(bytes) => bytes.len() == 160,
        _ => true,
    }));
    let mark_at = greeting
        .iter()
        .position(|e| matches!(e, OutboundEvent::Mark(_)))
        .unwrap();
    assert_eq!(
        frames(&greeting[..mark_at]),
        10,
        "the mark follows its sentence"
    );
    let said = line(greeting.last().unwrap());
    assert_eq!(said.text, GREETING);
    assert_eq!(said.latency, None, "an opening answers nobody");
    assert_eq!(
        call.tts.sentences(),
        ["Hello, this is Acme bookings.", "How can I help you today?"]
    );
    // Paced: within a sentence frames leave exactly 20 ms apart.
    for pair in call.frame_times[..10].windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_millis(20));
    }

    // Caller audio reaches the recogniser at its rate (8 kHz mu-law in, 16 kHz out).
    for _ in 0..10 {
        call.inbound
            .send(InboundFrame::Audio(vec![0xFF; 160]))
            .await
            .unwrap();
    }
    call.caller_says("I'd like a table for two").await;
    let caller = line(&call.next().await).clone();
    assert_eq!(caller.speaker, Who::Customer);
    assert_eq!(caller.text, "I'd like a table for two");
    assert!(call.stt.samples.load(Ordering::SeqCst) >= 9 * 320);

    let answer = call.until(true, is_agent_line).await;
    assert_eq!(marks(&answer), ["r2-s1", "r2-s2", "r2-s3"]);
    assert_eq!(frames(&answer), 30);
    let reply = line(answer.last().unwrap());
    assert_eq!(reply.text, ANSWER);
    assert!(!reply.interrupted);
    let latency = reply.latency.unwrap();
    let (token, audio, frame) = (
        latency.first_token_ms.unwrap(),
        latency.first_audio_ms.unwrap(),
        latency.first_frame_ms.unwrap(),
    );
    // Ten words at 10 ms each before the first sentence is complete, then 50 ms of synthesis.
    assert!(
        token >= 10 && audio >= token + 50 && frame >= audio,
        "{latency:?}"
    );

    let (outcome, rest) = call.hang_up().await;
    assert_eq!(rest, [OutboundEvent::Ended(SessionEnd::Hangup)]);
    assert_eq!(outcome.end, SessionEnd::Hangup);
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "I'd like a table for two".to_owned()),
            (ChatRole::Assistant, ANSWER.to_owned()),
        ]
    );
    let speakers: Vec<_> = outcome.transcript.iter().map(|l| l.speaker).collect();
    assert_eq!(speakers, [Who::Agent, Who::Customer, Who::Agent]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_session_and_its_tasks() {
    let mut call = Setup::new(&[GREETING]).start();
    call.until(true, is_agent_line).await;
    call.shutdown.send(true).unwrap();
    let rest = call
        .until(false, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(rest, [OutboundEvent::Ended(SessionEnd::Shutdown)]);
    let outcome = call.session.await.unwrap();
    assert_eq!(outcome.end, SessionEnd::Shutdown);
    // The recogniser's stream was closed, not just abandoned.
    assert_eq!(call.stt.closed.load(Ordering::SeqCst), 1);
}

// ---- barge-in ---------------------------------------------------------------------------------

/// A call whose greeting has been heard and whose answer is being spoken; marks are not echoed.
async fn answering(setup: Setup) -> (Call, Vec<OutboundEvent>) {
    let mut call = setup.start();
    call.until(true, is_agent_line).await;
    call.caller_says("I'd like a table for two").await;
    call.until(false, |e| matches!(e, OutboundEvent::Text(_)))
        .await;
    let first_frames = call
        .until(false, |e| matches!(e, OutboundEvent::Audio(_)))
        .await;
    (call, first_frames)
}

#[tokio::test(start_paused = true)]
async fn barge_in_before_the_first_sentence_played_keeps_none_of_the_reply() {
    let (mut call, _) = answering(Setup::new(&[GREETING, ANSWER])).await;
    // Speech alone pauses the agent; the caller's first word confirms the interruption.
    // (Briefly: the model is still streaming, and the cut must cancel it.)
    call.stt_event(SttEvent::SpeechStarted).await;
    assert_quiet(&mut call, Duration::from_millis(40)).await;
    call.stt_event(SttEvent::Interim {
        text: "Actually".into(),
    })
    .await;
    let cut = call.until(false, |e| *e == OutboundEvent::Clear).await;
    assert!(
        cut.len() < 12,
        "the reply stopped within its first sentence"
    );
    // (While paused, the speaker may have gone on preparing the next sentence.)
    let synthesised = call.tts.sentences().len();
    // Nothing was heard, so no agent line; the model's stream was dropped mid-reply.
    call.caller_says("Actually, make it three").await;
    let next = line(&call.next().await).clone();
    assert_eq!(next.speaker, Who::Customer);
    assert_eq!(call.model.cancelled.load(Ordering::SeqCst), 1);
    assert_eq!(
        call.tts.sentences().len(),
        synthesised,
        "no sentence synthesised after the cut"
    );

    let (outcome, _) = call.hang_up().await;
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "I'd like a table for two".to_owned()),
            (ChatRole::User, "Actually, make it three".to_owned()),
        ]
    );
    assert_eq!(outcome.state.caller_turns, 2);
}

#[tokio::test(start_paused = true)]
async fn barge_in_after_one_sentence_keeps_the_heard_sentence() {
    // Instant tokens: the model has finished before the caller speaks.
    let mut setup = Setup::new(&[GREETING, ANSWER]);
    setup.model = FakeModel::new(0, &[GREETING, ANSWER]);
    let (mut call, _) = answering(setup).await;
    let first = call
        .until(false, |e| matches!(e, OutboundEvent::Mark(_)))
        .await;
    assert_eq!(marks(&first), ["r2-s1"]);
    call.inbound
        .send(InboundFrame::Mark("r2-s1".into()))
        .await
        .unwrap();
    call.stt_event(SttEvent::Interim {
        text: "wait".into(),
    })
    .await;
    call.until(false, |e| *e == OutboundEvent::Clear).await;
    let cut = line(&call.next().await).clone();
    assert_eq!(cut.speaker, Who::Agent);
    assert_eq!(cut.text, "Sure, a table for two is possible.");
    assert!(cut.interrupted);
    // Echoes of cleared marks change nothing.
    call.inbound
        .send(InboundFrame::Mark("r2-s2".into()))
        .await
        .unwrap();

    let (outcome, _) = call.hang_up().await;
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "I'd like a table for two".to_owned()),
            (
                ChatRole::Assistant,
                "Sure, a table for two is possible.".to_owned()
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn speech_after_the_reply_was_heard_is_not_a_barge_in() {
    let mut call = Setup::new(&[GREETING, ANSWER, "Done."]).start();
    call.until(true, is_agent_line).await;
    call.caller_says("I'd like a table for two").await;
    call.until(true, is_agent_line).await;
    call.stt_event(SttEvent::SpeechStarted).await;
    call.caller_says("At seven").await;
    let next = line(&call.next().await).clone();
    assert_eq!(
        next.speaker,
        Who::Customer,
        "no Clear before the caller's line"
    );
    assert_eq!(next.text, "At seven");
    let answer = call.until(true, is_agent_line).await;
    assert_eq!(line(answer.last().unwrap()).text, "Done.");
    let (outcome, _) = call.hang_up().await;
    assert_eq!(outcome.state.messages.len(), 5);
    assert_eq!(call_model_cancellations(&outcome), 0);
}

fn call_model_cancellations(outcome: &SessionOutcome) -> usize {
    outcome
        .transcript
        .iter()
        .filter(|line| line.interrupted)
        .count()
}

// ---- failures, timeouts and the recording -----------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_sentence_that_cannot_be_synthesised_is_sent_as_text() {
    let mut setup = Setup::new(&[GREETING]);
    setup.tts.fail_on = Some("How can I help".into());
    let mut call = setup.start();
    let greeting = call.until(true, is_agent_line).await;
    assert_eq!(frames(&greeting), 10, "only the first sentence has audio");
    let text_at = greeting
        .iter()
        .position(|e| *e == OutboundEvent::AgentText("How can I help you today?".into()))
        .unwrap();
    assert_eq!(greeting[text_at + 1], OutboundEvent::Mark("r1-s2".into()));
    assert_eq!(line(greeting.last().unwrap()).text, GREETING);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_recogniser_stream_is_reopened_without_ending_the_call() {
    let mut call = Setup::new(&[GREETING, "Of course."]).start();
    call.until(true, is_agent_line).await;
    // The provider drops the connection: its event stream ends.
    let replacement = call.stt.prepare();
    call.stt_events = replacement;
    call.caller_says("Are you still there?").await;
    let caller = line(&call.next().await).clone();
    assert_eq!(caller.text, "Are you still there?");
    assert_eq!(call.stt.opened.load(Ordering::SeqCst), 2);
    let answer = call.until(true, is_agent_line).await;
    assert_eq!(line(answer.last().unwrap()).text, "Of course.");
}

#[tokio::test(start_paused = true)]
async fn silence_ends_the_call_after_the_timeout() {
    let mut setup = Setup::new(&[GREETING]);
    setup.config.silence_timeout = Some(Duration::from_secs(8));
    let mut call = setup.start();
    call.until(true, is_agent_line).await;
    let heard_at = Instant::now();
    let rest = call
        .until(false, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(rest, [OutboundEvent::Ended(SessionEnd::SilenceTimeout)]);
    assert_eq!(Instant::now() - heard_at, Duration::from_secs(8));
}

#[tokio::test(start_paused = true)]
async fn the_recording_has_the_caller_left_and_the_agent_right_in_time() {
    let mut setup = Setup::new(&[GREETING]);
    setup.config.record_max = Some(Duration::from_secs(60));
    let mut call = setup.start();
    call.until(true, is_agent_line).await;
    let caller_from = Instant::now();
    let loud = crate::codec::mulaw::encode(&[8000_i16, -8000].repeat(80));
    for _ in 0..25 {
        call.inbound
            .send(InboundFrame::Audio(loud.clone()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = call.started;
    let first_frame = call.frame_times[0];
    let (outcome, _) = call.hang_up().await;
    let wav = outcome.recording.unwrap();
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let (left, right): (Vec<i16>, Vec<i16>) =
        samples.chunks(2).map(|pair| (pair[0], pair[1])).unzip();
    let at = |instant: Instant| usize::try_from((instant - started).as_millis()).unwrap() * 8;
    let loud_in = |track: &[i16], from: usize, to: usize| {
        track[from.min(track.len())..to.min(track.len())]
            .iter()
            .any(|s| s.unsigned_abs() > 1000)
    };
    // The greeting plays on the right while the caller is silent on the left.
    assert!(!loud_in(&right, 0, at(first_frame)));
    assert!(loud_in(&right, at(first_frame), at(first_frame) + 3200));
    assert!(!loud_in(&left, 0, at(caller_from).saturating_sub(160)));
    // Then the caller speaks on the left, and the agent is silent.
    let caller_at = at(caller_from);
    assert!(loud_in(&left, caller_at, caller_at + 4000));
    assert!(!loud_in(&right, caller_at + 160, caller_at + 4000));
}

// ---- the local voice activity detector ----------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_end_of_speech_asks_the_recogniser_to_finalize() {
    let mut call = Setup::new(&[GREETING]).start();
    call.until(true, is_agent_line).await;
    assert_eq!(call.stt.finalized.load(Ordering::SeqCst), 0);
    let audio = caller_audio(&call, Duration::from_millis(600), Duration::from_secs(1));
    let stt = Arc::clone(&call.stt);
    eventually("a finalize", || stt.finalized.load(Ordering::SeqCst) == 1).await;
    // The VAD ends speech after 600 ms of silence: not before.
    audio.await.unwrap();
    assert_eq!(call.stt.finalized.load(Ordering::SeqCst), 1);
    let (outcome, _) = call.hang_up().await;
    assert_eq!(outcome.end, SessionEnd::Hangup);
}

#[tokio::test(start_paused = true)]
async fn the_vad_alone_ends_the_turn_with_the_finals_collected() {
    let mut call = Setup::new(&[GREETING, ANSWER]).start();
    call.until(true, is_agent_line).await;
    let audio = caller_audio(&call, Duration::from_millis(600), Duration::from_secs(1));
    // The recogniser settles the words but never says the speech is over.
    call.stt_event(SttEvent::Final {
        text: "A table for two".into(),
        speech_final: false,
    })
    .await;
    let started = Instant::now();
    let caller = line(&call.next().await).clone();
    assert_eq!(caller.speaker, Who::Customer);
    assert_eq!(caller.text, "A table for two");
    // 600 ms of tone, then the VAD's 600 ms of silence.
    assert!(Instant::now() - started >= Duration::from_millis(1150));
    let answer = call.until(true, is_agent_line).await;
    let reply = line(answer.last().unwrap());
    assert_eq!(reply.text, ANSWER);
    // Latency counts from where the VAD heard the speech end, 600 ms before it was sure.
    let waited = reply.latency.unwrap().final_transcript_ms;
    assert!((580..=620).contains(&waited), "{waited}");
    audio.await.unwrap();
    call.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn the_vad_alone_catches_a_barge_in() {
    let (mut call, _) = answering(Setup::new(&[GREETING, ANSWER])).await;
    // No recogniser events at all: only the caller's audio.
    let audio = caller_audio(&call, Duration::from_secs(2), Duration::ZERO);
    let cut = call.until(false, |e| *e == OutboundEvent::Clear).await;
    assert!(
        frames(&cut) < 15,
        "the reply stopped once the caller had spoken: {} frames",
        frames(&cut)
    );
    audio.abort();
    call.caller_says("Actually, make it three").await;
    let next = line(&call.next().await).clone();
    assert_eq!(next.speaker, Who::Customer);
    let (outcome, _) = call.hang_up().await;
    assert_eq!(outcome.state.caller_turns, 2);
}

// ---- marks ------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn marks_never_echoed_count_as_heard_after_the_grace_period() {
    let mut setup = Setup::new(&[GREETING]);
    setup.config.silence_timeout = Some(Duration::from_secs(5));
    let mut call = setup.start();
    // The channel never echoes a mark.
    let greeting = call.until(false, is_agent_line).await;
    let said = line(greeting.last().unwrap());
    assert_eq!(said.text, GREETING);
    assert!(!said.interrupted);
    let last_frame = *call.frame_times.last().unwrap();
    assert_eq!(
        Instant::now() - last_frame,
        Duration::from_millis(20) + Duration::from_secs(2),
        "settled the grace period after the last frame finished playing"
    );
    // The reply is settled, so the silence timeout runs again.
    let rest = call
        .until(false, |e| matches!(e, OutboundEvent::Ended(_)))
        .await;
    assert_eq!(rest, [OutboundEvent::Ended(SessionEnd::SilenceTimeout)]);
    let outcome = call.session.await.unwrap();
    assert_eq!(
        roles(&outcome.state),
        [(ChatRole::Assistant, GREETING.to_owned())]
    );
}

// ---- interruptions ----------------------------------------------------------------------------

fn customer_lines(events: &[OutboundEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            OutboundEvent::Text(line) if line.speaker == Who::Customer => Some(line.text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn backchannel_words_neither_interrupt_nor_become_a_turn() {
    let (mut call, first) = answering(Setup::new(&[GREETING, ANSWER])).await;
    call.stt_event(SttEvent::SpeechStarted).await;
    call.stt_event(SttEvent::Interim {
        text: "uh-huh".into(),
    })
    .await;
    assert_quiet(&mut call, Duration::from_millis(200)).await;
    call.stt_event(SttEvent::Final {
        text: "Uh-huh.".into(),
        speech_final: true,
    })
    .await;
    let rest = call.until(true, is_agent_line).await;
    assert!(!rest.contains(&OutboundEvent::Clear));
    assert_eq!(customer_lines(&rest), ["Uh-huh."], "kept in the transcript");
    assert_eq!(frames(&first) + frames(&rest), 30, "the whole reply played");
    let reply = line(rest.last().unwrap());
    assert_eq!(reply.text, ANSWER);
    assert!(!reply.interrupted);

    let model = Arc::clone(&call.model);
    let (outcome, _) = call.hang_up().await;
    assert_eq!(model.cancelled.load(Ordering::SeqCst), 0);
    assert_eq!(outcome.state.caller_turns, 1, "a backchannel is not a turn");
    assert_eq!(
        roles(&outcome.state),
        [
            (ChatRole::Assistant, GREETING.to_owned()),
            (ChatRole::User, "I'd like a table for two".to_owned()),
            (ChatRole::Assistant, ANSWER.to_owned()),
        ]
    );
    let speakers: Vec<_> = outcome.transcript.iter().map(|l| l.speaker).collect();
    assert_eq!(
        speakers,
        [Who::Agent, Who::Customer, Who::Customer, Who::Agent]
    );
}

#[tokio::test(start_paused = true)]
async fn an_unconfirmed_interruption_resumes_where_it_paused() {
    let (mut call, first) = answering(Setup::new(&[GREETING, ANSWER])).await;
    // A cough: the recogniser hears speech start, and then nothing.
    let paused_at = Instant::now();
    call.stt_event(SttEvent::SpeechStarted).await;
    let resumed = call
        .until(false, |e| matches!(e, OutboundEvent::Audio(_)))
        .await;
    assert_eq!(resumed.len(), 1, "nothing was sent while paused");
    assert_eq!(
        Instant::now() - paused_at,
        TurnTaking::default().false_interruption_timeout
    );
    // Paced afresh from the frame that was held.
    let rest = call.until(true, is_agent_line).await;
    let times = &call.frame_times[call.frame_times.len() - frames(&rest) - 1..];
    for pair in times[..5].windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_millis(20));
    }
    assert_eq!(
        frames(&first) + 1 + frames(&rest),
        30,
        "nothing was skipped"
    );
    let reply = line(rest.last().unwrap());
    assert_eq!(reply.text, ANSWER);
    assert!(!reply.interrupted);
    call.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn speech_longer_than_the_minimum_confirms_an_interruption() {
    let (mut call, _) = answering(Setup::new(&[GREETING, ANSWER])).await;
    let audio = caller_audio(&call, Duration::from_secs(2), Duration::ZERO);
    // The tone follows 100 ms of silence; its first frame holds the 20 ms before it arrives.
    let speech_from = Instant::now() + Duration::from_millis(80);
    call.until(false, |e| *e == OutboundEvent::Clear).await;
    assert_eq!(
        Instant::now() - speech_from,
        TurnTaking::default().min_interruption
    );
    audio.abort();
    call.hang_up().await;
}

#[tokio::test(start_paused = true)]
async fn too_few_words_do_not_interrupt() {
    let mut setup = Setup::new(&[GREETING, ANSWER]);
    setup.config.turn_taking.min_interruption_words = 3;
    let (mut call, _) = answering(setup).await;
    call.stt_event(SttEvent::Final {
        text: "No thanks".into(),
        speech_final: true,
    })
    .await;
    let rest = call.until(true, is_agent_line).await;
    assert!(!rest.contains(&OutboundEvent::Clear));
    assert_eq!(customer_lines(&rest), ["No thanks"]);
    assert_eq!(line(rest.last().unwrap()).text, ANSWER);
    call.hang_up().await;
}
