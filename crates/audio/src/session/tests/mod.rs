//! Whole calls through the session with in-process fakes of the speech providers and the model,
//! on tokio's paused clock: timing is exact and the tests never sleep for real. This module holds
//! the fakes and the harness; the tests are in its children.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod calls;
mod turn_taking;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_domain::agent::{AgentConfig, AgentInput, HttpTool, HttpToolInput, ToolInput};
use switchboard_domain::call::Speaker as Who;
use switchboard_domain::conversation::{
    CallContext, ConversationEngine, ConversationState, ToolError, ToolInvoker,
};
use switchboard_domain::ids::{AgentId, OrganizationId};
use switchboard_domain::knowledge::{KnowledgeError, KnowledgeSearch, SearchHit};
use switchboard_domain::ports::{
    AudioStream, ChatEvent, ChatRequest, ChatRole, ChatStream, Clock, FinishReason, LanguageModel,
    LlmError, SpeechError, SpeechRequest, SpeechToText, SttConfig, SttEvent, SttSink, SttStream,
    TextToSpeech, ToolCall,
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
        // "TOOL name" scripts a call of that tool instead of words.
        let events: VecDeque<ChatEvent> = match reply.strip_prefix("TOOL ") {
            Some(tool) => [
                ChatEvent::ToolCall(ToolCall {
                    id: format!("call_{tool}"),
                    name: tool.to_owned(),
                    arguments: "{}".into(),
                }),
                ChatEvent::Finished(FinishReason::ToolCalls),
            ]
            .into(),
            None => reply
                .split_inclusive(' ')
                .map(|word| ChatEvent::Token(word.to_owned()))
                .chain([ChatEvent::Finished(FinishReason::Stop)])
                .collect(),
        };
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

/// Tools that answer after `0`, like a slow HTTP endpoint.
struct SlowTools(Duration);

#[async_trait]
impl ToolInvoker for SlowTools {
    async fn invoke(&self, _: &HttpTool, _: &serde_json::Value) -> Result<String, ToolError> {
        tokio::time::sleep(self.0).await;
        Ok(r#"{"status": "shipped"}"#.into())
    }
}

/// An agent configured with `edit`.
fn agent(edit: impl FnOnce(&mut AgentInput)) -> AgentConfig {
    let mut input = AgentInput {
        name: Some("Ava".into()),
        ..AgentInput::default()
    };
    edit(&mut input);
    input.into_new_config().unwrap()
}

/// An agent with one HTTP tool, `check_order`.
fn agent_with_order_tool() -> AgentConfig {
    agent(|input| {
        input.tools = Some(vec![ToolInput::Http(HttpToolInput {
            name: "check_order".into(),
            url: Some("https://shop.example.com/orders".into()),
            ..HttpToolInput::default()
        })]);
    })
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
    tools: Arc<dyn ToolInvoker>,
    agent: Option<AgentConfig>,
}

impl Setup {
    fn new(replies: &[&str]) -> Self {
        Self {
            config: VoiceSessionConfig::default(),
            tts: FakeTts::new(50, 200),
            model: FakeModel::new(10, replies),
            tools: Arc::new(NoTools),
            agent: None,
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
            self.tools,
            Arc::new(FixedClock),
        );
        let context = CallContext {
            organization_id: OrganizationId::new(),
            organization_name: "Acme".into(),
            time_zone: "UTC".into(),
            agent_id: None,
            agent: self.agent,
            scenario: None,
            customer_name: None,
            phone_number: None,
            started_at: chrono::DateTime::UNIX_EPOCH,
            calendar: None,
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

/// Plays caller audio in real time (on the paused clock), one 20 ms mu-law frame every 20 ms:
/// 100 ms of silence (the VAD learns the background from the first frames), `speech` of the
/// speech-like test signal (syllables and short gaps, about -20 dBFS), then `silence` of
/// silence. The task runs beside the test, which keeps reading the session's output; dropping
/// the handle does not stop it, so tests abort it when done.
fn caller_audio(call: &Call, speech: Duration, silence: Duration) -> JoinHandle<()> {
    const LEAD_IN_S: f64 = 0.1;
    let inbound = call.inbound.clone();
    let speech_s = speech.as_secs_f64();
    let total_s = LEAD_IN_S + speech_s + silence.as_secs_f64();
    let phrase = crate::test_support::Phrase {
        start_s: LEAD_IN_S,
        end_s: LEAD_IN_S + speech_s,
    };
    let samples: Vec<i16> = crate::test_support::speech_like(7, 8000, total_s, &[phrase])
        .iter()
        .map(|&s| (s * 8000.0) as i16)
        .collect();
    let frames: Vec<Vec<u8>> = samples
        .chunks_exact(160)
        .map(crate::codec::mulaw::encode)
        .collect();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(20));
        for frame in frames {
            ticks.tick().await;
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

fn customer_lines(events: &[OutboundEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            OutboundEvent::Text(line) if line.speaker == Who::Customer => Some(line.text.as_str()),
            _ => None,
        })
        .collect()
}
