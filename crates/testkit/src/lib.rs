//! Test support for Switchboard: a harness that runs the real server on port 0 against a throw-away
//! database, a clock tests can move, contract suites every adapter of a port must pass, and
//! loopback fakes that speak each provider's wire protocol ([`FakeOpenAi`], [`FakePinecone`]), and a
//! [`WebhookReceiver`] standing in for a customer's webhook endpoint.

mod analytics_fixture;
mod audio;
mod clock;
mod contracts;
mod deepgram;
mod elevenlabs;
mod google;
mod http1;
mod openai;
mod pinecone;
mod server;
mod twilio;
mod twilio_intelligence;
mod twilio_rest;
mod webhooks;

pub use analytics_fixture::{
    CallRecord, FIXTURE_NOW, FIXTURE_TIME_ZONE, analytics_fixture, answered_in, instant,
    store_calls,
};
pub use audio::{
    FAKE_TTS_AMPLITUDE, FAKE_TTS_MIN_MS, FAKE_TTS_MS_PER_CHAR, FAKE_TTS_TONE_HZ,
    dominant_frequency, fake_tts_duration_ms, fake_tts_samples, mulaw_encode, pcm16le, rms,
    silence, tone, wav_file,
};
pub use clock::ManualClock;
pub use contracts::vector_store_contract;
pub use deepgram::{
    DEFAULT_DEEPGRAM_PHRASE, FAKE_DEEPGRAM_KEY, FakeDeepgram, LiveConnection, TranscriptionRequest,
};
pub use elevenlabs::{
    ElevenLabsEndpoint, ElevenLabsRequest, FAKE_ELEVENLABS_KEY, FakeElevenLabs,
    fake_elevenlabs_audio,
};
pub use google::{
    FAKE_GOOGLE_CLIENT_ID, FAKE_GOOGLE_CLIENT_SECRET, FAKE_GOOGLE_REDIRECT_URI, FakeEvent,
    FakeGoogle, GoogleRequest,
};
pub use openai::{
    DEFAULT_TRANSCRIPT, EmbeddingReply, FAKE_OPENAI_KEY, FakeOpenAi, RecordedRequest, Reply,
    SpeechReply, TranscriptionReply,
};
pub use pinecone::{FAKE_PINECONE_KEY, FakePinecone, PineconeRequest, StoredVector};
pub use server::{TestApp, TestAppBuilder, TestDatabaseKind};
pub use twilio::{
    FAKE_TWILIO_AUTH_TOKEN, Heard, StreamEvent, TwilioCall, TwimlStream, twilio_signature,
};
pub use twilio_intelligence::{FakeTwilioIntelligence, IntelligenceRequest, fake_sentence};
pub use twilio_rest::{
    FAKE_TWILIO_ACCOUNT_SID, FAKE_TWILIO_PHONE_NUMBER, FakeTwilio, FakeTwilioCall, Form,
    Modification, RecordedDial,
};
pub use webhooks::{Behaviour, ReceivedWebhook, WebhookReceiver};
