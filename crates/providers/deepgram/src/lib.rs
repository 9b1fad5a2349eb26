//! The Deepgram adapter of Switchboard's speech-to-text port: [`DeepgramStt`] transcribes live
//! audio over Deepgram's WebSocket (`/v1/listen`, PCM16, with interim results, endpointing,
//! utterance ends and speech-start events) and whole recordings over HTTP.
//!
//! Opening a stream and transcribing a recording retry what retrying can fix (connection
//! failures, 408, 429, 5xx) with backoff; a refusal is reported at once. The key never appears
//! in messages or debug output. Deepgram's JSON stays inside this crate.

mod config;
mod failure;
mod live;
mod prerecorded;
mod stt;
mod wire;

pub use config::{DeepgramConfig, DeepgramConfigError};
pub use stt::DeepgramStt;
// The key and retry types are shared by every provider adapter; they are named here too for
// this crate's users.
pub use switchboard_provider_http::{ApiKey, RetryPolicy};
