//! The whole voice session's own cost per 20 ms frame: a call of `CALL_SECS` seconds in which the
//! caller's mu-law frames come in every 20 ms while the agent speaks without pause, with speech
//! providers and a model that answer at once. It runs on a current-thread runtime whose clock is
//! paused, so the pacing waits take no real time and what is measured is the session's work:
//! decoding, resampling and voice activity detection of the caller's audio, the hand-off to the
//! recogniser, sentence chunking, resampling and encoding of the agent's audio, pacing, marks and
//! the channels between the tasks.

#![expect(
    clippy::expect_used,
    reason = "a benchmark that cannot set itself up should stop at once"
)]

use std::f32::consts::PI;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard_audio::codec::mulaw;
use switchboard_audio::session::{
    Conversation, InboundFrame, Opening, OutboundEvent, SessionIo, SessionPorts, VoiceSession,
    VoiceSessionConfig,
};
use switchboard_domain::agent::HttpTool;
use switchboard_domain::conversation::{CallContext, ConversationEngine, ToolError, ToolInvoker};
use switchboard_domain::ids::{AgentId, OrganizationId};
use switchboard_domain::knowledge::{KnowledgeError, KnowledgeSearch, SearchHit};
use switchboard_domain::ports::{
    AudioStream, ChatEvent, ChatRequest, ChatStream, Clock, FinishReason, LanguageModel, LlmError,
    SpeechError, SpeechRequest, SpeechToText, SttConfig, SttSink, SttStream, TextToSpeech,
};
use tokio::sync::{mpsc, watch};

/// The length of one benchmarked call, in seconds of (paused-clock) time.
const CALL_SECS: usize = 10;
/// Frames in each direction during the call.
const FRAMES: usize = CALL_SECS * 50;
/// The agent's reply: five sentences, each spoken as `SENTENCE_SECS` of audio.
const REPLY: &str = "Thanks for calling Acme. We are open every day from nine to five. \
                     Our shop is on the high street. Bookings can be made by phone or online. \
                     How can I help you today?";
const SENTENCE_SECS: usize = 2;
/// The synthesiser's rate: the common 24 kHz, so the agent's audio is resampled to 8 kHz.
const TTS_RATE: usize = 24_000;

/// A recogniser that takes the audio and never says anything.
struct SilentStt;

struct DiscardingSink;

#[async_trait]
impl SttSink for DiscardingSink {
    async fn send_audio(&mut self, samples: &[i16]) -> Result<(), SpeechError> {
        black_box(samples);
        Ok(())
    }
    async fn finalize(&mut self) -> Result<(), SpeechError> {
        Ok(())
    }
    async fn close(&mut self) -> Result<(), SpeechError> {
        Ok(())
    }
}

#[async_trait]
impl SpeechToText for SilentStt {
    fn name(&self) -> &str {
        "bench-stt"
    }
    async fn open(&self, _: SttConfig) -> Result<SttStream, SpeechError> {
        Ok(SttStream {
            sink: Box::new(DiscardingSink),
            events: Box::pin(futures_util::stream::pending()),
        })
    }
    async fn transcribe(&self, _: &[i16], _: u32) -> Result<String, SpeechError> {
        Ok(String::new())
    }
}

/// A synthesiser answering every sentence at once with the same tone, in 20 ms chunks.
struct ToneTts {
    chunks: Arc<Vec<Vec<i16>>>,
}

#[async_trait]
impl TextToSpeech for ToneTts {
    fn name(&self) -> &str {
        "bench-tts"
    }
    async fn synthesize(&self, _: &SpeechRequest) -> Result<AudioStream, SpeechError> {
        let chunks = Arc::clone(&self.chunks);
        let stream =
            futures_util::stream::iter((0..chunks.len()).map(move |i| Ok(chunks[i].clone())));
        Ok(AudioStream {
            sample_rate_hz: TTS_RATE as u32,
            chunks: Box::pin(stream),
        })
    }
}

/// A model streaming the reply word by word, at once.
struct InstantModel;

#[async_trait]
impl LanguageModel for InstantModel {
    fn name(&self) -> &str {
        "bench-model"
    }
    async fn stream(&self, _: ChatRequest) -> Result<ChatStream, LlmError> {
        let events: Vec<Result<ChatEvent, LlmError>> = REPLY
            .split_inclusive(' ')
            .map(|word| Ok(ChatEvent::Token(word.to_owned())))
            .chain([Ok(ChatEvent::Finished(FinishReason::Stop))])
            .collect();
        Ok(Box::pin(futures_util::stream::iter(events)))
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

/// What one call needs, built once.
struct Fixture {
    tone: Arc<Vec<Vec<i16>>>,
    /// A second of quiet line noise in 20 ms mu-law frames, played in a loop.
    caller: Vec<Vec<u8>>,
}

impl Fixture {
    fn new() -> Self {
        let sentence = TTS_RATE * SENTENCE_SECS;
        let tone: Vec<i16> = (0..sentence)
            .map(|n| ((2.0 * PI * 440.0 * n as f32 / TTS_RATE as f32).sin() * 8000.0) as i16)
            .collect();
        let mut state = 0x2545_F491_u32;
        let noise: Vec<i16> = (0..8000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                ((state >> 24) as i16 - 128) * 2
            })
            .collect();
        Self {
            tone: Arc::new(tone.chunks(TTS_RATE / 50).map(<[i16]>::to_vec).collect()),
            caller: noise.chunks(160).map(mulaw::encode).collect(),
        }
    }

    fn engine() -> ConversationEngine {
        ConversationEngine::new(
            Some(Arc::new(InstantModel)),
            Arc::new(NoKnowledge),
            Arc::new(NoTools),
            Arc::new(FixedClock),
        )
    }

    /// Runs one call; returns the frames sent in each direction.
    async fn call(&self) -> (usize, usize) {
        let (inbound, inbound_rx) = mpsc::channel(64);
        let (outbound_tx, mut outbound) = mpsc::channel(64);
        let (_shutdown, shutdown_rx) = watch::channel(false);
        let session = VoiceSession::new(
            VoiceSessionConfig::default(),
            SessionPorts {
                stt: Arc::new(SilentStt),
                tts: Arc::new(ToneTts {
                    chunks: Arc::clone(&self.tone),
                }),
            },
            Conversation {
                engine: Self::engine(),
                context: CallContext {
                    organization_id: OrganizationId::new(),
                    organization_name: "Acme".into(),
                    time_zone: "UTC".into(),
                    agent_id: None,
                    agent: None,
                    scenario: None,
                    customer_name: None,
                    phone_number: None,
                    started_at: chrono::DateTime::UNIX_EPOCH,
                    calendar: None,
                },
                opening: Opening::Greet,
            },
            SessionIo {
                inbound: inbound_rx,
                outbound: outbound_tx,
                shutdown: shutdown_rx,
            },
        )
        .expect("the session's configuration is valid");
        let session = tokio::spawn(session.run());

        let mut ticks = tokio::time::interval(Duration::from_millis(20));
        let (mut sent, mut received) = (0, 0);
        let mut hung_up = false;
        loop {
            tokio::select! {
                _ = ticks.tick(), if sent < FRAMES => {
                    let frame = self.caller[sent % self.caller.len()].clone();
                    sent += 1;
                    if inbound.send(InboundFrame::Audio(frame)).await.is_err() {
                        break;
                    }
                }
                event = outbound.recv() => match event {
                    Some(OutboundEvent::Audio(bytes)) => {
                        black_box(bytes);
                        received += 1;
                    }
                    Some(OutboundEvent::Mark(name)) => {
                        let _ = inbound.send(InboundFrame::Mark(name)).await;
                    }
                    Some(OutboundEvent::Ended(_)) | None => break,
                    Some(_) => {}
                },
            }
            if !hung_up && sent == FRAMES && received >= FRAMES {
                hung_up = true;
                let _ = inbound.send(InboundFrame::Hangup).await;
            }
        }
        let _ = session.await;
        (sent, received)
    }
}

fn session(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    let fixture = Fixture::new();
    let (sent, received) = runtime.block_on(fixture.call());
    assert_eq!(
        (sent, received),
        (FRAMES, FRAMES),
        "the call carried every frame"
    );

    let mut group = c.benchmark_group("session");
    // One element is one 20 ms of call: a frame in and a frame out.
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function(format!("call of {CALL_SECS} s, mu-law 8 kHz"), |b| {
        b.iter(|| black_box(runtime.block_on(fixture.call())));
    });
    group.finish();
}

criterion_group!(benches, session);
criterion_main!(benches);
