//! Documents of the knowledge base, the port that stores them, and the use cases: upload (read,
//! chunk, embed, store), list, get, delete, and search.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    ChunkId, ChunkingOptions, DocumentId, DocumentKind, DocumentReader, EmbedError, Embedder,
    ReadError, VectorFilter, VectorRecord, VectorStore, VectorStoreError, chunk_text,
};
use crate::ids::{AgentId, OrganizationId};
use crate::page::{PageRequest, Paged};
use crate::ports::{AgentRepository, Clock, RepositoryError};
use crate::validation::ValidationErrors;

/// The longest search query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 2000;
/// The most matches one search returns.
pub const MAX_TOP_K: usize = 50;

/// A document of an organisation's knowledge base.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Document {
    pub id: DocumentId,
    pub organization_id: OrganizationId,
    pub file_name: String,
    pub kind: DocumentKind,
    pub size_bytes: u64,
    /// Characters of extracted text.
    pub char_count: u64,
    pub chunk_count: u32,
    /// The embedder whose vectors represent the document.
    pub embedder: String,
    pub created_at: DateTime<Utc>,
}

/// Stores documents' metadata (their chunks live in the [`VectorStore`]).
#[async_trait]
pub trait DocumentRepository: Send + Sync {
    /// Stores a document.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn insert(&self, document: &Document) -> Result<(), RepositoryError>;

    /// The organisation's document with this id.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        organization: OrganizationId,
        id: DocumentId,
    ) -> Result<Option<Document>, RepositoryError>;

    /// The organisation's documents among `ids` (unknown or foreign ids are left out).
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_many(
        &self,
        organization: OrganizationId,
        ids: &[DocumentId],
    ) -> Result<Vec<Document>, RepositoryError>;

    /// A page of the organisation's documents, newest first, with the total.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<Document>, RepositoryError>;

    /// Deletes the organisation's document; `false` when missing.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn delete(
        &self,
        organization: OrganizationId,
        id: DocumentId,
    ) -> Result<bool, RepositoryError>;
}

/// A file as uploaded.
#[derive(Clone, Debug)]
pub struct UploadedFile {
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A file read and chunked, ready to embed and store.
#[derive(Clone, Debug)]
pub struct PreparedDocument {
    file_name: String,
    kind: DocumentKind,
    size_bytes: u64,
    char_count: u64,
    chunks: Vec<String>,
}

/// One chunk found by a search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    pub document_id: DocumentId,
    pub document_name: String,
    pub chunk_id: ChunkId,
    pub chunk_index: u32,
    pub text: String,
    pub score: f32,
}

/// Why a knowledge-base operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{file}: unsupported file type; upload PDF, plain text, Markdown or HTML")]
    Unsupported { file: String },
    #[error("{file}: {reason}")]
    Unreadable { file: String, reason: ReadError },
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The embedding or vector service is down; the upload or search can be retried.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for KnowledgeError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

impl From<EmbedError> for KnowledgeError {
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::Unavailable(_) | EmbedError::Rejected(_) => {
                Self::Unavailable(e.to_string())
            }
            EmbedError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<VectorStoreError> for KnowledgeError {
    fn from(e: VectorStoreError) -> Self {
        match e {
            VectorStoreError::Unavailable(_) => Self::Unavailable(e.to_string()),
            other => Self::Unexpected(anyhow::anyhow!(other)),
        }
    }
}

/// Searching the knowledge base, as a conversation needs it.
#[async_trait]
pub trait KnowledgeSearch: Send + Sync {
    /// The chunks nearest to `query`, from `agent`'s documents or the whole knowledge base.
    ///
    /// # Errors
    /// As [`KnowledgeService::search`].
    async fn search(
        &self,
        organization: OrganizationId,
        query: &str,
        agent: Option<AgentId>,
        top_k: usize,
    ) -> Result<Vec<SearchHit>, KnowledgeError>;
}

#[async_trait]
impl KnowledgeSearch for KnowledgeService {
    async fn search(
        &self,
        organization: OrganizationId,
        query: &str,
        agent: Option<AgentId>,
        top_k: usize,
    ) -> Result<Vec<SearchHit>, KnowledgeError> {
        KnowledgeService::search(self, organization, query, agent, top_k).await
    }
}

/// The ports the knowledge service works through.
#[derive(Clone)]
pub struct KnowledgePorts {
    pub documents: Arc<dyn DocumentRepository>,
    pub vectors: Arc<dyn VectorStore>,
    pub embedder: Arc<dyn Embedder>,
    pub reader: Arc<dyn DocumentReader>,
    pub agents: Arc<dyn AgentRepository>,
    pub clock: Arc<dyn Clock>,
}

/// An organisation's knowledge base.
#[derive(Clone)]
pub struct KnowledgeService {
    ports: KnowledgePorts,
    chunking: ChunkingOptions,
}

impl KnowledgeService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(ports: KnowledgePorts, chunking: ChunkingOptions) -> Self {
        Self { ports, chunking }
    }

    /// Recognises, reads and chunks a file. CPU-bound and synchronous: async callers run it on a
    /// blocking thread.
    ///
    /// # Errors
    /// `Unsupported` for file types other than PDF, text, Markdown and HTML; `Unreadable` for
    /// corrupt, encrypted, empty or binary files.
    pub fn prepare(&self, file: &UploadedFile) -> Result<PreparedDocument, KnowledgeError> {
        let file_name = file
            .file_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("document")
            .chars()
            .take(255)
            .collect::<String>();
        let kind = DocumentKind::detect(
            file.file_name.as_deref(),
            file.content_type.as_deref(),
            &file.bytes,
        )
        .ok_or_else(|| KnowledgeError::Unsupported {
            file: file_name.clone(),
        })?;
        let text = self
            .ports
            .reader
            .read(kind, &file.bytes)
            .map_err(|reason| KnowledgeError::Unreadable {
                file: file_name.clone(),
                reason,
            })?;
        let chunks: Vec<String> = chunk_text(&text, &self.chunking)
            .into_iter()
            .map(|c| c.text)
            .collect();
        if chunks.is_empty() {
            return Err(KnowledgeError::Unreadable {
                file: file_name,
                reason: ReadError::Empty,
            });
        }
        Ok(PreparedDocument {
            file_name,
            kind,
            size_bytes: file.bytes.len() as u64,
            char_count: text.chars().count() as u64,
            chunks,
        })
    }

    /// Embeds and stores a prepared document. Either the document and all its chunks are
    /// searchable afterwards, or (on error) nothing of it is: vectors are written first and
    /// removed again if the document cannot be recorded, and searches only return chunks of
    /// recorded documents.
    ///
    /// # Errors
    /// `Unavailable` when the embedder or vector store is down.
    pub async fn store(
        &self,
        organization: OrganizationId,
        prepared: PreparedDocument,
    ) -> Result<Document, KnowledgeError> {
        let vectors = self.ports.embedder.embed(&prepared.chunks).await?;
        if vectors.len() != prepared.chunks.len() {
            return Err(KnowledgeError::Unexpected(anyhow::anyhow!(
                "the embedder returned {} vectors for {} chunks",
                vectors.len(),
                prepared.chunks.len()
            )));
        }
        let document = Document {
            id: DocumentId::new(),
            organization_id: organization,
            file_name: prepared.file_name,
            kind: prepared.kind,
            size_bytes: prepared.size_bytes,
            char_count: prepared.char_count,
            chunk_count: u32::try_from(prepared.chunks.len()).unwrap_or(u32::MAX),
            embedder: self.ports.embedder.name().to_owned(),
            created_at: self.ports.clock.now(),
        };
        let records = prepared
            .chunks
            .into_iter()
            .zip(vectors)
            .enumerate()
            .map(|(index, (text, vector))| VectorRecord {
                chunk_id: ChunkId::new(),
                document_id: document.id,
                chunk_index: u32::try_from(index).unwrap_or(u32::MAX),
                text,
                vector,
            })
            .collect();
        self.ports.vectors.upsert(organization, records).await?;
        if let Err(e) = self.ports.documents.insert(&document).await {
            if let Err(cleanup) = self
                .ports
                .vectors
                .delete_document(organization, document.id)
                .await
            {
                tracing::warn!(
                    document.id = %document.id,
                    error = %cleanup,
                    "vectors of a document that could not be recorded were not removed; searches ignore them"
                );
            }
            return Err(e.into());
        }
        Ok(document)
    }

    /// Stores prepared documents one by one, then attaches them to `attach_to` if given. The
    /// agent is checked before anything is stored.
    ///
    /// # Errors
    /// `NotFound` for an agent that is not the organisation's; `Unavailable` when the embedder or
    /// store is down (documents stored before the failure stay, each whole).
    pub async fn upload(
        &self,
        organization: OrganizationId,
        prepared: Vec<PreparedDocument>,
        attach_to: Option<AgentId>,
    ) -> Result<Vec<Document>, KnowledgeError> {
        let agent = match attach_to {
            Some(id) => Some(
                self.ports
                    .agents
                    .find(organization, id)
                    .await?
                    .ok_or(KnowledgeError::NotFound("agent"))?,
            ),
            None => None,
        };
        let mut stored = Vec::with_capacity(prepared.len());
        for document in prepared {
            stored.push(self.store(organization, document).await?);
        }
        if let Some(mut agent) = agent {
            for document in &stored {
                let id = document.id.as_uuid();
                if !agent.config.knowledge_document_ids.contains(&id) {
                    agent.config.knowledge_document_ids.push(id);
                }
            }
            agent.updated_at = self.ports.clock.now();
            if !self.ports.agents.update(&agent).await? {
                return Err(KnowledgeError::NotFound("agent"));
            }
        }
        Ok(stored)
    }

    /// A page of the organisation's documents.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<Document>, KnowledgeError> {
        Ok(self.ports.documents.list(organization, page).await?)
    }

    /// One document.
    ///
    /// # Errors
    /// `NotFound` unless it is the organisation's.
    pub async fn get(
        &self,
        organization: OrganizationId,
        id: DocumentId,
    ) -> Result<Document, KnowledgeError> {
        self.ports
            .documents
            .find(organization, id)
            .await?
            .ok_or(KnowledgeError::NotFound("document"))
    }

    /// Deletes a document and its vectors. The record goes first, so a failure half-way leaves
    /// vectors that no search returns rather than a listed document that finds nothing.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete(
        &self,
        organization: OrganizationId,
        id: DocumentId,
    ) -> Result<(), KnowledgeError> {
        if !self.ports.documents.delete(organization, id).await? {
            return Err(KnowledgeError::NotFound("document"));
        }
        self.ports.vectors.delete_document(organization, id).await?;
        self.detach_from_agents(organization, id).await
    }

    /// Removes a deleted document from every agent of the organisation that had it.
    async fn detach_from_agents(
        &self,
        organization: OrganizationId,
        id: DocumentId,
    ) -> Result<(), KnowledgeError> {
        let mut page = PageRequest {
            page: 1,
            page_size: crate::page::MAX_PAGE_SIZE,
        };
        loop {
            let agents = self.ports.agents.list(organization, None, page).await?;
            for mut agent in agents.items.iter().cloned() {
                let before = agent.config.knowledge_document_ids.len();
                agent
                    .config
                    .knowledge_document_ids
                    .retain(|d| *d != id.as_uuid());
                if agent.config.knowledge_document_ids.len() != before {
                    agent.updated_at = self.ports.clock.now();
                    self.ports.agents.update(&agent).await?;
                }
            }
            if page.offset() + page.page_size >= agents.total {
                return Ok(());
            }
            page.page += 1;
        }
    }

    /// The chunks nearest to `query`, from the agent's documents when `agent` is given, else from
    /// the whole knowledge base.
    ///
    /// # Errors
    /// `Invalid` for an empty or too long query or a `top_k` outside 1..=50; `NotFound` for an
    /// agent that is not the organisation's; `Unavailable` when the embedder or store is down.
    pub async fn search(
        &self,
        organization: OrganizationId,
        query: &str,
        agent: Option<AgentId>,
        top_k: usize,
    ) -> Result<Vec<SearchHit>, KnowledgeError> {
        let mut errors = ValidationErrors::new();
        let query = query.trim();
        if query.is_empty() {
            errors.add("query", "must not be empty");
        } else if query.chars().count() > MAX_QUERY_CHARS {
            errors.add(
                "query",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            );
        }
        if !(1..=MAX_TOP_K).contains(&top_k) {
            errors.add("top_k", format!("must be between 1 and {MAX_TOP_K}"));
        }
        errors.into_result(()).map_err(KnowledgeError::Invalid)?;
        let filter = match agent {
            None => VectorFilter::all(),
            Some(agent) => {
                let agent = self
                    .ports
                    .agents
                    .find(organization, agent)
                    .await?
                    .ok_or(KnowledgeError::NotFound("agent"))?;
                VectorFilter::documents(
                    agent
                        .config
                        .knowledge_document_ids
                        .iter()
                        .map(|id| DocumentId::from_uuid(*id)),
                )
            }
        };
        if filter.matches_nothing() {
            return Ok(Vec::new());
        }
        let vector = self
            .ports
            .embedder
            .embed(&[query.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| {
                KnowledgeError::Unexpected(anyhow::anyhow!("the embedder returned no vector"))
            })?;
        let matches = self
            .ports
            .vectors
            .query(organization, &vector, top_k, &filter)
            .await?;
        let ids: Vec<DocumentId> = matches.iter().map(|m| m.document_id).collect();
        let documents = self.ports.documents.find_many(organization, &ids).await?;
        // Chunks of documents that are not recorded (being deleted, or an interrupted upload)
        // are not part of the knowledge base.
        Ok(matches
            .into_iter()
            .filter_map(|m| {
                let document = documents.iter().find(|d| d.id == m.document_id)?;
                Some(SearchHit {
                    document_id: m.document_id,
                    document_name: document.file_name.clone(),
                    chunk_id: m.chunk_id,
                    chunk_index: m.chunk_index,
                    text: m.text,
                    score: m.score,
                })
            })
            .collect())
    }
}
