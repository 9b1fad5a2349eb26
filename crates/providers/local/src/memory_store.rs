//! An in-memory vector store: exact cosine search over every record of a namespace. For tests,
//! evaluations and single-process trials; nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use switchboard_domain::ids::OrganizationId;
use switchboard_domain::knowledge::{
    ChunkId, DocumentId, VectorFilter, VectorMatch, VectorRecord, VectorStore, VectorStoreError,
    cosine, top_k,
};

/// Vectors held in memory, per organisation, searched exhaustively.
#[derive(Debug, Default)]
pub struct MemoryVectorStore {
    // A std lock: it is never held across an await, and every critical section is short and
    // synchronous. Records are keyed by chunk id so that upserts replace and scans run in a
    // fixed order (ids are time-ordered, so in insertion order), which keeps ties stable.
    namespaces: RwLock<HashMap<OrganizationId, BTreeMap<ChunkId, VectorRecord>>>,
}

impl MemoryVectorStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records the namespace holds.
    #[must_use]
    pub fn len(&self, namespace: OrganizationId) -> usize {
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        namespaces.get(&namespace).map_or(0, BTreeMap::len)
    }

    /// Whether the namespace holds no records.
    #[must_use]
    pub fn is_empty(&self, namespace: OrganizationId) -> bool {
        self.len(namespace) == 0
    }
}

// A poisoned lock only means another thread panicked mid-operation; each operation leaves the
// maps consistent at every step, so the data is still usable.

#[async_trait]
impl VectorStore for MemoryVectorStore {
    async fn upsert(
        &self,
        namespace: OrganizationId,
        records: Vec<VectorRecord>,
    ) -> Result<(), VectorStoreError> {
        let mut namespaces = self
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let records_of_namespace = namespaces.entry(namespace).or_default();
        for record in records {
            records_of_namespace.insert(record.chunk_id, record);
        }
        Ok(())
    }

    async fn query(
        &self,
        namespace: OrganizationId,
        vector: &[f32],
        top_k_matches: usize,
        filter: &VectorFilter,
    ) -> Result<Vec<VectorMatch>, VectorStoreError> {
        if top_k_matches == 0 || filter.matches_nothing() {
            return Ok(Vec::new());
        }
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(records) = namespaces.get(&namespace) else {
            return Ok(Vec::new());
        };
        let candidates = records
            .values()
            .filter(|record| filter.matches(record.document_id))
            .map(|record| VectorMatch {
                chunk_id: record.chunk_id,
                document_id: record.document_id,
                chunk_index: record.chunk_index,
                text: record.text.clone(),
                score: cosine(&record.vector, vector),
            });
        Ok(top_k(candidates, top_k_matches, |m| m.score))
    }

    async fn delete_document(
        &self,
        namespace: OrganizationId,
        document: DocumentId,
    ) -> Result<(), VectorStoreError> {
        let mut namespaces = self
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(records) = namespaces.get_mut(&namespace) {
            records.retain(|_, record| record.document_id != document);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn record(document_id: DocumentId, chunk_index: u32, vector: Vec<f32>) -> VectorRecord {
        VectorRecord {
            chunk_id: ChunkId::new(),
            document_id,
            chunk_index,
            text: format!("chunk {chunk_index}"),
            vector,
        }
    }

    #[tokio::test]
    async fn queries_rank_by_cosine_within_the_filter() {
        let store = MemoryVectorStore::new();
        let org = OrganizationId::new();
        let (a, b) = (DocumentId::new(), DocumentId::new());
        store
            .upsert(
                org,
                vec![
                    record(a, 0, vec![1.0, 0.0]),
                    record(a, 1, vec![0.6, 0.8]),
                    record(b, 0, vec![0.0, 1.0]),
                ],
            )
            .await
            .unwrap();
        let all = store
            .query(org, &[1.0, 0.0], 10, &VectorFilter::all())
            .await
            .unwrap();
        let order: Vec<(DocumentId, u32)> =
            all.iter().map(|m| (m.document_id, m.chunk_index)).collect();
        assert_eq!(order, vec![(a, 0), (a, 1), (b, 0)]);
        assert!((all[1].score - 0.6).abs() < 1e-6);
        let two = store
            .query(org, &[1.0, 0.0], 2, &VectorFilter::all())
            .await
            .unwrap();
        assert_eq!(two.len(), 2);
        let only_b = store
            .query(org, &[1.0, 0.0], 10, &VectorFilter::documents([b]))
            .await
            .unwrap();
        assert_eq!(only_b.len(), 1);
        assert_eq!(only_b[0].document_id, b);
        let nothing = store
            .query(org, &[1.0, 0.0], 10, &VectorFilter::documents([]))
            .await
            .unwrap();
        assert!(nothing.is_empty());
        assert!(
            store
                .query(org, &[1.0, 0.0], 0, &VectorFilter::all())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn namespaces_are_sealed_and_upserts_replace() {
        let store = MemoryVectorStore::new();
        let (org, other) = (OrganizationId::new(), OrganizationId::new());
        let doc = DocumentId::new();
        let mut first = record(doc, 0, vec![1.0, 0.0]);
        store.upsert(org, vec![first.clone()]).await.unwrap();
        assert!(
            store
                .query(other, &[1.0, 0.0], 5, &VectorFilter::all())
                .await
                .unwrap()
                .is_empty()
        );
        first.text = "replaced".into();
        first.vector = vec![0.0, 1.0];
        store.upsert(org, vec![first.clone()]).await.unwrap();
        assert_eq!(store.len(org), 1);
        let found = store
            .query(org, &[0.0, 1.0], 5, &VectorFilter::all())
            .await
            .unwrap();
        assert_eq!(found[0].text, "replaced");
        assert!((found[0].score - 1.0).abs() < 1e-6);

        store
            .upsert(other, vec![record(doc, 0, vec![1.0, 0.0])])
            .await
            .unwrap();
        store.delete_document(org, doc).await.unwrap();
        assert!(store.is_empty(org));
        assert_eq!(store.len(other), 1);
        store.delete_document(org, doc).await.unwrap();
    }
}
