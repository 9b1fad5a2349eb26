//! OpenAI adapters of Switchboard's ports, for OpenAI itself or any server that speaks its API:
//! [`OpenAiChat`] implements the `LanguageModel` port (Chat Completions, streamed, with tools),
//! [`OpenAiEmbedder`] the `Embedder` port (Embeddings, batched), [`OpenAiSpeech`] the
//! `TextToSpeech` port (`/audio/speech`, streamed PCM) and [`OpenAiWhisper`] the `SpeechToText`
//! port (`/audio/transcriptions`, with live streams cut into segments by voice activity).
//!
//! All retry what retrying can fix (429, 5xx, connection failures) with backoff, honouring
//! `Retry-After`, and only before the first event or audio of a reply; all keep the key out of
//! every message and debug output. OpenAI's JSON stays inside this crate.

mod chat;
mod config;
mod embeddings;
mod http;
mod segmenter;
mod speech;
mod sse;
mod stream;
mod whisper;

pub use chat::OpenAiChat;
pub use config::{
    EmbeddingConfig, OpenAiConfig, OpenAiConfigError, SpeechConfig, TranscriptionConfig,
};
pub use embeddings::OpenAiEmbedder;
pub use speech::OpenAiSpeech;
pub use whisper::OpenAiWhisper;
// The key type is shared by every provider adapter, and the detector's settings are part of
// `TranscriptionConfig`; they are named here too for this crate's users.
pub use switchboard_audio::vad::VadConfig;
pub use switchboard_provider_http::ApiKey;
