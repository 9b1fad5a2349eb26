//! OpenAI adapters of Switchboard's ports, for OpenAI itself or any server that speaks its API:
//! [`OpenAiChat`] implements the `LanguageModel` port (Chat Completions, streamed, with tools)
//! and [`OpenAiEmbedder`] the `Embedder` port (Embeddings, batched).
//!
//! Both retry what retrying can fix (429, 5xx, connection failures) with backoff, honouring
//! `Retry-After`, and only before the first event of a reply; both keep the key out of every
//! message and debug output. OpenAI's JSON stays inside this crate.

mod chat;
mod config;
mod embeddings;
mod http;
mod sse;
mod stream;

pub use chat::OpenAiChat;
pub use config::{EmbeddingConfig, OpenAiConfig, OpenAiConfigError};
pub use embeddings::OpenAiEmbedder;
// The key type is shared by every provider adapter; it is named here too for this crate's users.
pub use switchboard_provider_http::ApiKey;
