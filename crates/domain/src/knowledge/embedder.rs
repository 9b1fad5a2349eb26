//! The port that turns text into vectors.

use async_trait::async_trait;

/// Why texts could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The embedding service cannot be reached or is overloaded; retrying later may work. The
    /// message names the service and the cause, without secrets.
    #[error("the embedding service is unavailable: {0}")]
    Unavailable(String),
    /// The service refused the input (too long, too many texts, bad credentials); retrying the
    /// same request will not work.
    #[error("the embedding service refused the request: {0}")]
    Rejected(String),
    /// Anything else, such as a malformed answer.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Embeds texts into vectors whose cosine similarity measures how related the texts are.
///
/// Contract, for every adapter:
/// - `embed` returns exactly one vector per input, in input order; an empty input gives an empty
///   output without calling any service.
/// - Every vector has `dimensions()` components and is L2-normalised (unit length), so cosine
///   and dot product agree. A text with nothing to embed (blank, or only stop words for a
///   lexical embedder) may give the zero vector, which is similar to nothing.
/// - The same text gives the same vector for the lifetime of the adapter's configuration, so
///   stored vectors stay comparable with query vectors. Changing `name()` or `dimensions()`
///   means stored vectors must be re-embedded.
/// - Batching is the adapter's business: callers may pass any number of texts, and an adapter
///   splits them into requests its service accepts.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// A stable name of the model or algorithm, stored beside vectors to tell which embedder made
    /// them (for example `local-lexical` or `text-embedding-3-small`).
    fn name(&self) -> &str;

    /// The length of every vector this embedder returns.
    fn dimensions(&self) -> usize;

    /// Embeds the texts, one vector per text, in order.
    ///
    /// # Errors
    /// `Unavailable` when the service cannot be reached, `Rejected` when it refuses the input,
    /// `Unexpected` for anything else. Either every text is embedded or the call fails.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}
