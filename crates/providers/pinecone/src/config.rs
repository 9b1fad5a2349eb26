//! How to reach a Pinecone index: the key, the index's data-plane host, the timeout and the
//! retry policy.

use std::time::Duration;

use switchboard_provider_http::ApiKey;
use url::Url;

/// Where the index is and how patiently to call it.
///
/// The index must use the **cosine** metric: the `VectorStore` contract promises cosine
/// similarities, and Pinecone scores matches with whatever metric the index was created with.
/// The metric is fixed when the index is created, in the console or through the control plane.
#[derive(Clone, Debug)]
pub struct PineconeConfig {
    /// Sent as `Api-Key`; it must not be empty.
    pub api_key: ApiKey,
    /// The index's data-plane host, as the console or `GET /indexes/{name}` shows it, for example
    /// `https://my-index-abc123.svc.us-east-1-aws.pinecone.io`. The adapter appends
    /// `/vectors/upsert`, `/query` and `/vectors/delete`.
    pub index_host: Url,
    /// The connect timeout, and the longest one whole request may take.
    pub request_timeout: Duration,
    /// Retries after the first attempt, for 429, 5xx and connection failures.
    pub max_retries: u32,
    /// The first backoff; it doubles with each retry, with jitter, up to
    /// [`PineconeConfig::MAX_RETRY_WAIT`].
    pub retry_base: Duration,
}

impl PineconeConfig {
    /// The data-plane API version sent with every request (the SDKs' default).
    pub const API_VERSION: &'static str = "2025-10";
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_RETRIES: u32 = 3;
    pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(250);
    /// The longest single wait between attempts, whatever `Retry-After` asks for.
    pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

    /// A configuration with the default timeout and retry policy.
    #[must_use]
    pub fn new(api_key: ApiKey, index_host: Url) -> Self {
        Self {
            api_key,
            index_host,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            retry_base: Self::DEFAULT_RETRY_BASE,
        }
    }
}

/// A configuration the adapter cannot work with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PineconeConfigError {
    #[error("the index host must be an http(s) URL with a host, not {0:?}")]
    IndexHost(String),
    #[error("the API key is empty")]
    EmptyKey,
    #[error("the API key cannot be sent in an HTTP header")]
    InvalidKey,
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}
