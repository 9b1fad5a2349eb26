//! How to reach an OpenAI-compatible server: the key, the base URL, the models, the timeouts and
//! the retry policy. Every adapter takes an [`OpenAiConfig`]; the embedder also an
//! [`EmbeddingConfig`], the speech adapters a [`SpeechConfig`] or [`TranscriptionConfig`].

use std::time::Duration;

use switchboard_audio::vad::VadConfig;
use switchboard_provider_http::ApiKey;
use url::Url;

/// Where and how to call the server; shared by [`crate::OpenAiChat`] and
/// [`crate::OpenAiEmbedder`].
#[derive(Clone, Debug)]
pub struct OpenAiConfig {
    /// Sent as a bearer token; an empty key sends no `Authorization` header, for local servers
    /// that need none.
    pub api_key: ApiKey,
    /// For example `https://api.openai.com/v1`; the adapters append `/chat/completions` and
    /// `/embeddings` to it.
    pub base_url: Url,
    /// The chat model used when a request names none.
    pub model: String,
    /// Sent as `OpenAI-Organization` when set.
    pub organization: Option<String>,
    /// The connect timeout, and the longest a whole non-streamed request (embeddings) may take.
    pub request_timeout: Duration,
    /// The longest wait from sending a chat request to the model's first output.
    pub first_token_timeout: Duration,
    /// The longest silence between two chunks of a streamed reply once it has started.
    pub idle_timeout: Duration,
    /// Retries after the first attempt, for 408, 409, 429, 5xx and connection failures that
    /// happen before the first event of a reply.
    pub max_retries: u32,
    /// The first backoff; it doubles with each retry, with jitter.
    pub retry_base: Duration,
    /// The longest single wait between attempts, whatever `Retry-After` asks for.
    pub max_retry_wait: Duration,
}

impl OpenAiConfig {
    /// OpenAI's own API, with `/v1` as the official SDKs have it.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_RETRIES: u32 = 3;
    pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(250);
    pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

    /// A configuration with the default timeouts and retry policy.
    #[must_use]
    pub fn new(api_key: ApiKey, base_url: Url, model: impl Into<String>) -> Self {
        Self {
            api_key,
            base_url,
            model: model.into(),
            organization: None,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            first_token_timeout: Self::DEFAULT_FIRST_TOKEN_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            retry_base: Self::DEFAULT_RETRY_BASE,
            max_retry_wait: Self::DEFAULT_MAX_RETRY_WAIT,
        }
    }
}

/// Which embedding model to call and how to batch texts for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingConfig {
    pub model: String,
    /// The length of every vector. `None` means the model's own size, known for OpenAI's
    /// models; `Some(n)` also asks the server for `n` components (the `text-embedding-3` models
    /// can shorten their vectors).
    pub dimensions: Option<usize>,
    /// The most texts sent in one request.
    pub batch_size: usize,
}

impl EmbeddingConfig {
    pub const DEFAULT_MODEL: &'static str = "text-embedding-3-small";
    pub const DEFAULT_BATCH_SIZE: usize = 256;
    /// OpenAI accepts at most this many inputs in one request.
    pub const MAX_BATCH_SIZE: usize = 2048;

    /// A model at its own size, with the default batch size.
    #[must_use]
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            dimensions: None,
            batch_size: Self::DEFAULT_BATCH_SIZE,
        }
    }

    /// The size of vectors the model makes when not asked for another.
    #[must_use]
    pub fn native_dimensions(model: &str) -> Option<usize> {
        match model {
            "text-embedding-3-small" | "text-embedding-ada-002" => Some(1536),
            "text-embedding-3-large" => Some(3072),
            _ => None,
        }
    }
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MODEL)
    }
}

/// Which speech model and voice [`crate::OpenAiSpeech`] uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeechConfig {
    /// `tts-1` (fastest), `tts-1-hd` or `gpt-4o-mini-tts`.
    pub model: String,
    /// The voice used when a request names none.
    pub default_voice: String,
}

impl SpeechConfig {
    pub const DEFAULT_MODEL: &'static str = "tts-1";
    pub const DEFAULT_VOICE: &'static str = "alloy";
}

impl Default for SpeechConfig {
    fn default() -> Self {
        Self {
            model: Self::DEFAULT_MODEL.to_owned(),
            default_voice: Self::DEFAULT_VOICE.to_owned(),
        }
    }
}

/// How [`crate::OpenAiWhisper`] transcribes, and how its live streams cut audio into segments.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscriptionConfig {
    /// The model used when the stream's configuration names none (and for whole recordings).
    pub model: String,
    /// The language of whole recordings, as a BCP 47 tag; `None` lets the model detect it.
    /// Streams take theirs from their own configuration.
    pub language: Option<String>,
    /// The longest stretch of speech sent as one request; longer speech is cut into several
    /// (the first ones reported without `speech_final`). Bounds the memory a stream holds.
    pub max_segment: Duration,
    /// The voice activity detection that finds where speech starts and ends. Its `end_ms` is
    /// replaced by each stream's `endpointing_ms`.
    pub vad: VadConfig,
}

impl TranscriptionConfig {
    pub const DEFAULT_MODEL: &'static str = "whisper-1";
    pub const DEFAULT_MAX_SEGMENT: Duration = Duration::from_secs(30);
}

impl Default for TranscriptionConfig {
    fn default() -> Self {
        Self {
            model: Self::DEFAULT_MODEL.to_owned(),
            language: None,
            max_segment: Self::DEFAULT_MAX_SEGMENT,
            vad: VadConfig::default(),
        }
    }
}

/// A configuration the adapters cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenAiConfigError {
    #[error("the base URL must be http or https with a host, not {0:?}")]
    BaseUrl(String),
    #[error("the model name is empty")]
    EmptyModel,
    #[error("the default voice is empty")]
    EmptyVoice,
    #[error("the vector size of embedding model {model:?} is not known; give it explicitly")]
    UnknownDimensions { model: String },
    #[error("the embedding size must be more than 0")]
    ZeroDimensions,
    #[error(
        "the embedding batch size must be between 1 and {}",
        EmbeddingConfig::MAX_BATCH_SIZE
    )]
    BatchSize,
    #[error("the longest transcription segment must be between 1 and 600 seconds")]
    MaxSegment,
    #[error("the API key or organization cannot be sent in an HTTP header")]
    InvalidHeader,
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}
