//! The knowledge base: documents, chunks, and the ports that embed and search them.
//!
//! An upload is recognised ([`DocumentKind::detect`]), read to plain text (the
//! [`DocumentReader`] port), cut into overlapping sentence-aligned chunks ([`chunk_text`]),
//! embedded (the [`Embedder`] port) and stored per organisation (the [`VectorStore`] port), which
//! a search queries by cosine similarity ([`cosine`], [`top_k`]).

mod chunking;
mod documents;
mod embedder;
mod kind;
mod reader;
mod similarity;
mod vector_store;

pub use crate::ids::{ChunkId, DocumentId};
pub use chunking::{
    ChunkDraft, ChunkingOptions, ChunkingOptionsError, MAX_CHUNK_CHARS, MIN_CHUNK_CHARS, chunk_text,
};
pub use documents::{
    Document, DocumentRepository, KnowledgeError, KnowledgePorts, KnowledgeSearch,
    KnowledgeService, MAX_QUERY_CHARS, MAX_TOP_K, PreparedDocument, SearchHit, UploadedFile,
};
pub use embedder::{EmbedError, Embedder};
pub use kind::DocumentKind;
pub use reader::{DocumentReader, ReadError, decode_text};
pub use similarity::{cosine, l2_normalize, top_k};
pub use vector_store::{VectorFilter, VectorMatch, VectorRecord, VectorStore, VectorStoreError};
