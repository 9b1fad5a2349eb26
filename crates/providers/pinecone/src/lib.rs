//! The Pinecone adapter of Switchboard's `VectorStore` port: [`PineconeVectorStore`] keeps each
//! organisation's chunk vectors in a namespace of its own on one Pinecone index, and speaks the
//! index's data plane (`/vectors/upsert`, `/query`, `/vectors/delete`, API version `2025-10`).
//!
//! It retries what retrying can fix (429, 5xx, connection failures) with backoff, maps Pinecone's
//! refusals onto the port's errors, and keeps the key out of every message and debug output.
//! Pinecone's JSON stays inside this crate. The index must use the cosine metric.

mod config;
mod http;
mod store;

pub use config::{PineconeConfig, PineconeConfigError};
pub use store::{
    MAX_BATCH_VECTORS, MAX_METADATA_TEXT_BYTES, MAX_REQUEST_BYTES, MAX_TOP_K, PineconeVectorStore,
};
// The key type is shared by every provider adapter; it is named here too for this crate's users.
pub use switchboard_provider_http::ApiKey;
