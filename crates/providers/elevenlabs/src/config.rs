//! How to reach ElevenLabs: the key, the base URL, the model and default voice, the transport,
//! the voice settings, the timeouts and the retry policy.

use std::time::Duration;

use switchboard_provider_http::{ApiKey, RetryPolicy};
use url::Url;

/// Which of ElevenLabs' streaming APIs carries the synthesis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ElevenLabsTransport {
    /// `POST /v1/text-to-speech/{voice}/stream`: one request per utterance, the audio streamed
    /// back in the response body. Connections are pooled between requests.
    #[default]
    Http,
    /// `wss://…/v1/text-to-speech/{voice}/stream-input`: the text goes in as messages, the audio
    /// comes back as base64 messages.
    WebSocket,
}

/// Where and how to call ElevenLabs; taken by [`crate::ElevenLabsTts::new`].
#[derive(Clone, Debug)]
pub struct ElevenLabsConfig {
    /// Sent as `xi-api-key`; it must not be empty.
    pub api_key: ApiKey,
    /// For example `https://api.elevenlabs.io` or a regional host such as
    /// `https://api.eu.residency.elevenlabs.io`; the adapter appends `/v1/...` to it, and turns
    /// `http(s)` into `ws(s)` for the WebSocket transport.
    pub base_url: Url,
    /// The model used for every request (`eleven_flash_v2_5` is the fastest to first audio).
    pub model_id: String,
    /// The voice used when a request names none; may be empty when every request names one.
    pub default_voice_id: String,
    pub transport: ElevenLabsTransport,
    /// `voice_settings.stability`, 0.0 to 1.0.
    pub stability: f32,
    /// `voice_settings.similarity_boost`, 0.0 to 1.0.
    pub similarity_boost: f32,
    /// The longest wait for a connection (TCP, TLS and, for the WebSocket, its handshake).
    pub connect_timeout: Duration,
    /// The longest wait from sending a request to its first audio, connecting included.
    pub first_chunk_timeout: Duration,
    /// The longest silence between two pieces of audio once the first has come.
    pub idle_timeout: Duration,
    /// Retries of failures before the first audio: 408, 429, 5xx, connection failures and
    /// closes that say "try again". Nothing is retried once audio has been delivered.
    pub retry: RetryPolicy,
}

impl ElevenLabsConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.elevenlabs.io";
    pub const DEFAULT_MODEL_ID: &'static str = "eleven_flash_v2_5";
    pub const DEFAULT_STABILITY: f32 = 0.5;
    pub const DEFAULT_SIMILARITY_BOOST: f32 = 0.75;
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_FIRST_CHUNK_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(200),
        max_wait: Duration::from_secs(2),
    };

    /// ElevenLabs' own API over HTTP with the default model, voice settings, timeouts and retry
    /// policy.
    #[must_use]
    pub fn new(api_key: ApiKey, default_voice_id: impl Into<String>) -> Self {
        Self {
            api_key,
            base_url: default_base_url(),
            model_id: Self::DEFAULT_MODEL_ID.to_owned(),
            default_voice_id: default_voice_id.into(),
            transport: ElevenLabsTransport::Http,
            stability: Self::DEFAULT_STABILITY,
            similarity_boost: Self::DEFAULT_SIMILARITY_BOOST,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            first_chunk_timeout: Self::DEFAULT_FIRST_CHUNK_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            retry: Self::DEFAULT_RETRY,
        }
    }
}

#[expect(
    clippy::expect_used,
    reason = "a constant URL that parses; a failure is a bug caught by the first test"
)]
fn default_base_url() -> Url {
    Url::parse(ElevenLabsConfig::DEFAULT_BASE_URL).expect("the default base URL parses")
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElevenLabsConfigError {
    #[error("the base URL must be http or https with a host, not {0:?}")]
    BaseUrl(String),
    #[error("the ElevenLabs API key is empty")]
    EmptyKey,
    #[error("the ElevenLabs API key cannot be sent in an HTTP header")]
    InvalidKey,
    #[error("the ElevenLabs model id is empty")]
    EmptyModel,
    #[error("voice settings must lie between 0 and 1")]
    VoiceSettings,
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}
