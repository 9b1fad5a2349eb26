//! ElevenLabs adapter of Switchboard's `TextToSpeech` port: [`ElevenLabsTts`] streams synthesis
//! over HTTP (`/v1/text-to-speech/{voice}/stream`) or the stream-input WebSocket, and delivers
//! PCM16 mono at a rate chosen so that nothing needs resampling.
//!
//! Failures before the first audio are retried (429, 5xx, connection failures), honouring
//! `Retry-After`; nothing is retried after it. The key never appears in debug output or in
//! errors. ElevenLabs' JSON and audio formats stay inside this crate.

mod config;
mod failure;
mod format;
mod http;
mod request;
mod tts;
mod ws;

pub use config::{ElevenLabsConfig, ElevenLabsConfigError, ElevenLabsTransport};
pub use tts::ElevenLabsTts;
// The key and retry types are shared by every provider adapter; they are named here too for this
// crate's users.
pub use switchboard_provider_http::{ApiKey, RetryPolicy};
