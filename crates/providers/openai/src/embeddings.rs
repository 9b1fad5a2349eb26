//! [`OpenAiEmbedder`]: the [`Embedder`] port over `POST {base}/embeddings`, in batches.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use switchboard_domain::knowledge::{EmbedError, Embedder, l2_normalize};
use switchboard_provider_http::read_body;
use tracing::debug;
use url::Url;

use crate::config::{EmbeddingConfig, OpenAiConfig, OpenAiConfigError};
use crate::http::{Failure, Transport, endpoint};

/// Room in a response beyond its numbers: the envelope, indexes and usage.
const RESPONSE_OVERHEAD: usize = 64 * 1024;
/// The longest a float can take in JSON (`-1.2345678e-12,` and the like).
const BYTES_PER_COMPONENT: usize = 24;

/// Embeddings from OpenAI's API, or any server that speaks it.
#[derive(Debug)]
pub struct OpenAiEmbedder {
    transport: Transport,
    url: Url,
    model: String,
    dimensions: usize,
    /// Whether to send `dimensions`: only when the size was chosen, since older models and many
    /// compatible servers refuse the parameter.
    ask_dimensions: bool,
    batch_size: usize,
    request_timeout: Duration,
    response_limit: usize,
}

impl OpenAiEmbedder {
    /// An adapter for `config` and `embedding`; nothing is sent until the first request.
    ///
    /// # Errors
    /// When the base URL is not http(s), the model is empty, its vector size is neither given
    /// nor known, the batch size is out of range, the key cannot be an HTTP header, or the HTTP
    /// client cannot be built.
    pub fn new(
        config: &OpenAiConfig,
        embedding: EmbeddingConfig,
    ) -> Result<Self, OpenAiConfigError> {
        if embedding.model.trim().is_empty() {
            return Err(OpenAiConfigError::EmptyModel);
        }
        if embedding.batch_size == 0 || embedding.batch_size > EmbeddingConfig::MAX_BATCH_SIZE {
            return Err(OpenAiConfigError::BatchSize);
        }
        let dimensions = match embedding.dimensions {
            Some(0) => return Err(OpenAiConfigError::ZeroDimensions),
            Some(n) => n,
            None => EmbeddingConfig::native_dimensions(&embedding.model).ok_or_else(|| {
                OpenAiConfigError::UnknownDimensions {
                    model: embedding.model.clone(),
                }
            })?,
        };
        Ok(Self {
            transport: Transport::new(config)?,
            url: endpoint(&config.base_url, "/embeddings")?,
            ask_dimensions: embedding.dimensions.is_some(),
            response_limit: embedding
                .batch_size
                .saturating_mul(dimensions)
                .saturating_mul(BYTES_PER_COMPONENT)
                .saturating_add(RESPONSE_OVERHEAD),
            model: embedding.model,
            dimensions,
            batch_size: embedding.batch_size,
            request_timeout: config.request_timeout,
        })
    }

    /// Embeds one batch of non-blank texts, in their order.
    async fn embed_batch(&self, inputs: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = EmbeddingBody {
            model: &self.model,
            input: inputs,
            encoding_format: "float",
            dimensions: self.ask_dimensions.then_some(self.dimensions),
        };
        let body = serde_json::to_vec(&body).map_err(|e| EmbedError::Unexpected(e.into()))?;
        let list = self
            .transport
            .run("embeddings", || self.attempt(&body))
            .await
            .map_err(|failure| {
                debug!(failure = ?failure, "embedding request failed");
                failure.into_embed_error()
            })?;
        self.in_order(list, inputs.len())
    }

    async fn attempt(&self, body: &[u8]) -> Result<EmbeddingList, Failure> {
        let mut response = self
            .transport
            .post(&self.url)
            .timeout(self.request_timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        if !response.status().is_success() {
            return Err(self.transport.status_failure(response).await);
        }
        let bytes = read_body(&mut response, self.response_limit).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Malformed(anyhow::anyhow!(
                "the embeddings answer is not as documented: {e}"
            ))
        })
    }

    /// The vectors placed by their `index` (the API does not promise input order), checked and
    /// normalised.
    fn in_order(&self, list: EmbeddingList, expected: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
        for item in list.data {
            let slot = slots.get_mut(item.index).ok_or_else(|| {
                anyhow::anyhow!(
                    "the embeddings answer has index {} for {expected} inputs",
                    item.index
                )
            })?;
            if slot.is_some() {
                return Err(anyhow::anyhow!(
                    "the embeddings answer has index {} twice",
                    item.index
                )
                .into());
            }
            if item.embedding.len() != self.dimensions {
                return Err(anyhow::anyhow!(
                    "{} returned a vector of {} components where {} were expected",
                    self.model,
                    item.embedding.len(),
                    self.dimensions
                )
                .into());
            }
            let mut vector = item.embedding;
            l2_normalize(&mut vector);
            *slot = Some(vector);
        }
        slots
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                anyhow::anyhow!("the embeddings answer has fewer vectors than inputs").into()
            })
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn name(&self) -> &str {
        &self.model
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // OpenAI refuses empty inputs; a blank text has nothing to embed and gets the zero
        // vector, as the port allows.
        let mut vectors = vec![Vec::new(); texts.len()];
        let wanted: Vec<usize> = (0..texts.len())
            .filter(|&i| !texts[i].trim().is_empty())
            .collect();
        for batch in wanted.chunks(self.batch_size) {
            let inputs: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            debug!(
                embedding.model = %self.model,
                inputs = inputs.len(),
                "embedding a batch"
            );
            for (&i, vector) in batch.iter().zip(self.embed_batch(&inputs).await?) {
                vectors[i] = vector;
            }
        }
        for vector in &mut vectors {
            if vector.is_empty() {
                *vector = vec![0.0; self.dimensions];
            }
        }
        Ok(vectors)
    }
}

/// The request body of 4.2 in PROVIDERS.md.
#[derive(Debug, Serialize)]
struct EmbeddingBody<'a> {
    model: &'a str,
    input: &'a [&'a str],
    encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingList {
    data: Vec<EmbeddingWire>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingWire {
    index: usize,
    embedding: Vec<f32>,
}
