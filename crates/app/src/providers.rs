//! Choosing provider adapters from the settings: the language model when `OPENAI_API_KEY` is
//! set, the knowledge embedder `KNOWLEDGE_EMBEDDER` names, and the vector store (Pinecone when
//! `PINECONE_API_KEY` and `PINECONE_INDEX_HOST` are both set, else the database).

use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::knowledge::{Embedder, VectorStore};
use switchboard_domain::ports::LanguageModel;
use switchboard_local::LexicalEmbedder;
use switchboard_openai::{ApiKey, EmbeddingConfig, OpenAiChat, OpenAiConfig, OpenAiEmbedder};
use switchboard_pinecone::{PineconeConfig, PineconeVectorStore};
use switchboard_storage::{Database, SeaOrmVectorStore};
use tracing::{info, warn};

use crate::settings::{EmbedderChoice, Settings};
use crate::voice::speech::SpeechProviders;

fn openai_config(settings: &Settings) -> Option<OpenAiConfig> {
    let openai = &settings.openai;
    let key = openai.api_key.as_ref()?;
    let mut config = OpenAiConfig::new(
        ApiKey::new(key.expose().to_owned()),
        openai.base_url.clone(),
        openai.model.clone(),
    );
    config.organization = openai.organization.clone();
    config.request_timeout = Duration::from_millis(openai.timeout_ms);
    config.first_token_timeout = Duration::from_millis(openai.stream_timeout_ms);
    config.idle_timeout = Duration::from_millis(openai.stream_timeout_ms);
    config.max_retries = openai.max_retries;
    Some(config)
}

/// The chat model, when one is configured.
///
/// # Errors
/// When the configuration cannot make a client (an invalid base URL or key).
pub fn language_model(settings: &Settings) -> anyhow::Result<Option<Arc<dyn LanguageModel>>> {
    openai_config(settings)
        .map(|config| -> anyhow::Result<Arc<dyn LanguageModel>> {
            Ok(Arc::new(OpenAiChat::new(config).map_err(|e| {
                anyhow::anyhow!("OPENAI_BASE_URL/OPENAI_MODEL: {e}")
            })?))
        })
        .transpose()
}

/// The knowledge embedder.
///
/// # Errors
/// When OpenAI embeddings are chosen and cannot be configured.
pub fn embedder(settings: &Settings) -> anyhow::Result<Arc<dyn Embedder>> {
    match (settings.knowledge.embedder, openai_config(settings)) {
        (EmbedderChoice::OpenAi, Some(config)) => {
            let embedding = EmbeddingConfig {
                model: settings.openai.embedding_model.clone(),
                dimensions: settings.openai.embedding_dimensions,
                ..EmbeddingConfig::default()
            };
            Ok(Arc::new(OpenAiEmbedder::new(&config, embedding).map_err(
                |e| anyhow::anyhow!("OPENAI_EMBEDDING_MODEL: {e}"),
            )?))
        }
        _ => Ok(Arc::new(LexicalEmbedder::new())),
    }
}

/// Where knowledge vectors live: a Pinecone index, one namespace per organisation, when both
/// `PINECONE_API_KEY` and `PINECONE_INDEX_HOST` are set; otherwise the database.
///
/// # Errors
/// When Pinecone is chosen and the key or host cannot be used.
pub fn vector_store(
    settings: &Settings,
    database: &Database,
) -> anyhow::Result<Arc<dyn VectorStore>> {
    let pinecone = &settings.pinecone;
    match (&pinecone.api_key, &pinecone.index_host) {
        (Some(key), Some(host)) => {
            let config = PineconeConfig::new(
                switchboard_pinecone::ApiKey::new(key.expose().to_owned()),
                host.clone(),
            );
            let store = PineconeVectorStore::new(&config)
                .map_err(|e| anyhow::anyhow!("PINECONE_API_KEY/PINECONE_INDEX_HOST: {e}"))?;
            info!(pinecone.host = %host, "knowledge vectors are kept in Pinecone");
            Ok(Arc::new(store))
        }
        (key, host) => {
            if key.is_some() != host.is_some() {
                warn!(
                    "only one of PINECONE_API_KEY and PINECONE_INDEX_HOST is set; knowledge \
                     vectors are kept in the database"
                );
            }
            Ok(Arc::new(SeaOrmVectorStore::new(database.clone())))
        }
    }
}

/// The speech providers live calls can use: each one whose key is set.
///
/// # Errors
/// When a configured provider cannot be set up.
pub fn speech(_settings: &Settings) -> anyhow::Result<SpeechProviders> {
    Ok(SpeechProviders::default())
}
