//! The port that stores chunk vectors per organisation and finds the nearest ones to a query.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{ChunkId, DocumentId};
use crate::ids::OrganizationId;

/// One embedded chunk, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorRecord {
    pub chunk_id: ChunkId,
    pub document_id: DocumentId,
    /// The chunk's position in its document, from 0.
    pub chunk_index: u32,
    /// The chunk's text, returned with matches so a search needs no second look-up.
    pub text: String,
    /// The chunk's embedding, as the [`Embedder`](super::Embedder) returned it.
    pub vector: Vec<f32>,
}

/// A stored chunk found by a query, with its similarity to the query vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorMatch {
    pub chunk_id: ChunkId,
    pub document_id: DocumentId,
    pub chunk_index: u32,
    pub text: String,
    /// The cosine similarity to the query, in `[-1, 1]`; higher is closer.
    pub score: f32,
}

/// Which records of a namespace a query may return. The default is the whole namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorFilter {
    /// `None`: every document of the namespace; `Some(ids)`: only those documents, so
    /// `Some(vec![])` matches nothing (an agent with no documents attached finds nothing).
    pub document_ids: Option<Vec<DocumentId>>,
}

impl VectorFilter {
    /// Matches every record of the namespace.
    #[must_use]
    pub const fn all() -> Self {
        Self { document_ids: None }
    }

    /// Matches only the records of these documents (nothing when the list is empty).
    #[must_use]
    pub fn documents(ids: impl IntoIterator<Item = DocumentId>) -> Self {
        Self {
            document_ids: Some(ids.into_iter().collect()),
        }
    }

    /// Whether a record of `document` passes the filter.
    #[must_use]
    pub fn matches(&self, document: DocumentId) -> bool {
        self.document_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&document))
    }

    /// Whether the filter can match nothing at all, so a store may answer without looking.
    #[must_use]
    pub fn matches_nothing(&self) -> bool {
        self.document_ids.as_ref().is_some_and(Vec::is_empty)
    }
}

/// Why the vector store failed.
#[derive(Debug, thiserror::Error)]
pub enum VectorStoreError {
    /// A vector's length differs from the length the store (or its index) holds.
    #[error("the vector has {actual} dimensions where the store holds {expected}")]
    DimensionMismatch { expected: usize, actual: usize },
    /// A remote store cannot be reached or is overloaded; retrying later may work.
    #[error("the vector store is unavailable: {0}")]
    Unavailable(String),
    /// Anything else, such as a database failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Stores chunk vectors and finds the nearest ones to a query vector.
///
/// Contract, for every adapter:
/// - Namespaces are organisations, and they are sealed: a query in one never returns a record
///   upserted in another, and `delete_document` in one never touches another.
/// - `upsert` of a record whose `chunk_id` already exists in the namespace replaces it (vector,
///   text and all); a batch is stored whole or, on error, possibly in part, and a retry of the
///   same batch is harmless.
/// - `query` returns at most `top_k` matches passing `filter`, sorted by score (cosine
///   similarity, computed as [`cosine`](super::cosine) does) descending; equal scores come in a
///   stable order. `top_k == 0` or a filter that matches nothing gives an empty list.
/// - `delete_document` removes every record of the document and succeeds when there were none.
#[async_trait]
pub trait VectorStore: Send + Sync {
    /// Stores the records in the namespace, replacing records with the same chunk id.
    ///
    /// # Errors
    /// `DimensionMismatch` when a store of fixed dimensions receives a vector of another length;
    /// `Unavailable` or `Unexpected` when the store fails.
    async fn upsert(
        &self,
        namespace: OrganizationId,
        records: Vec<VectorRecord>,
    ) -> Result<(), VectorStoreError>;

    /// Finds the `top_k` records nearest to `vector` among those passing `filter`.
    ///
    /// # Errors
    /// `DimensionMismatch` when a store of fixed dimensions receives a query of another length;
    /// `Unavailable` or `Unexpected` when the store fails.
    async fn query(
        &self,
        namespace: OrganizationId,
        vector: &[f32],
        top_k: usize,
        filter: &VectorFilter,
    ) -> Result<Vec<VectorMatch>, VectorStoreError>;

    /// Removes every record of `document` from the namespace.
    ///
    /// # Errors
    /// `Unavailable` or `Unexpected` when the store fails.
    async fn delete_document(
        &self,
        namespace: OrganizationId,
        document: DocumentId,
    ) -> Result<(), VectorStoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_documented() {
        let (a, b) = (DocumentId::new(), DocumentId::new());
        assert!(VectorFilter::all().matches(a));
        assert!(!VectorFilter::all().matches_nothing());
        let only_a = VectorFilter::documents([a]);
        assert!(only_a.matches(a) && !only_a.matches(b));
        let none = VectorFilter::documents([]);
        assert!(!none.matches(a) && none.matches_nothing());
        assert_eq!(VectorFilter::default(), VectorFilter::all());
    }
}
