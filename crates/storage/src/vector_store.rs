//! `VectorStore` in the application database: vectors as little-endian f32 bytes, similarity
//! computed here by scanning the organisation's rows in pages. Exact and portable across SQLite
//! and PostgreSQL; right for knowledge bases up to some hundred thousand chunks per
//! organisation, beyond which an index (Pinecone, pgvector) serves better.

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use switchboard_domain::ids::OrganizationId;
use switchboard_domain::knowledge::{
    ChunkId, DocumentId, VectorFilter, VectorMatch, VectorRecord, VectorStore, VectorStoreError,
    cosine, top_k,
};

use crate::Database;
use crate::entities::knowledge_vector;

/// Rows read per page while scanning: bounds memory whatever the knowledge base's size.
const SCAN_PAGE_ROWS: u64 = 512;

/// Chunk vectors in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmVectorStore {
    db: Database,
}

impl SeaOrmVectorStore {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn unexpected(e: sea_orm::DbErr) -> VectorStoreError {
    VectorStoreError::Unexpected(e.into())
}

#[async_trait]
impl VectorStore for SeaOrmVectorStore {
    async fn upsert(
        &self,
        namespace: OrganizationId,
        records: Vec<VectorRecord>,
    ) -> Result<(), VectorStoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let txn = self.db.connection().begin().await.map_err(unexpected)?;
        // Batches keep each statement well under the databases' bound-parameter limits.
        for batch in records.chunks(200) {
            let rows = batch.iter().map(|record| knowledge_vector::ActiveModel {
                chunk_id: Set(record.chunk_id.as_uuid()),
                organization_id: Set(namespace.as_uuid()),
                document_id: Set(record.document_id.as_uuid()),
                chunk_index: Set(i32::try_from(record.chunk_index).unwrap_or(i32::MAX)),
                text: Set(record.text.clone()),
                dimensions: Set(i32::try_from(record.vector.len()).unwrap_or(i32::MAX)),
                embedding: Set(encode(&record.vector)),
            });
            knowledge_vector::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(knowledge_vector::Column::ChunkId)
                        .update_columns([
                            knowledge_vector::Column::DocumentId,
                            knowledge_vector::Column::ChunkIndex,
                            knowledge_vector::Column::Text,
                            knowledge_vector::Column::Dimensions,
                            knowledge_vector::Column::Embedding,
                        ])
                        .to_owned(),
                )
                // A chunk id of another namespace is never overwritten: ids are random UUIDs,
                // and the namespace column is not among the updated ones.
                .exec_without_returning(&txn)
                .await
                .map_err(unexpected)?;
        }
        txn.commit().await.map_err(unexpected)?;
        Ok(())
    }

    async fn query(
        &self,
        namespace: OrganizationId,
        vector: &[f32],
        top: usize,
        filter: &VectorFilter,
    ) -> Result<Vec<VectorMatch>, VectorStoreError> {
        if top == 0 || filter.matches_nothing() {
            return Ok(Vec::new());
        }
        let mut query = knowledge_vector::Entity::find()
            .filter(knowledge_vector::Column::OrganizationId.eq(namespace.as_uuid()))
            .filter(
                knowledge_vector::Column::Dimensions
                    .eq(i32::try_from(vector.len()).unwrap_or(i32::MAX)),
            );
        if let Some(ids) = &filter.document_ids {
            query = query.filter(
                knowledge_vector::Column::DocumentId.is_in(ids.iter().map(DocumentId::as_uuid)),
            );
        }
        let mut best: Vec<VectorMatch> = Vec::new();
        let mut offset = 0;
        loop {
            let rows = query
                .clone()
                .order_by_asc(knowledge_vector::Column::ChunkId)
                .offset(offset)
                .limit(SCAN_PAGE_ROWS)
                .all(self.db.connection())
                .await
                .map_err(unexpected)?;
            let scanned = rows.len() as u64;
            let candidates = rows.into_iter().map(|row| VectorMatch {
                score: cosine(vector, &decode(&row.embedding)),
                chunk_id: ChunkId::from_uuid(row.chunk_id),
                document_id: DocumentId::from_uuid(row.document_id),
                chunk_index: u32::try_from(row.chunk_index).unwrap_or(0),
                text: row.text,
            });
            best = top_k(best.into_iter().chain(candidates), top, |m| m.score);
            if scanned < SCAN_PAGE_ROWS {
                break;
            }
            offset += scanned;
        }
        Ok(best)
    }

    async fn delete_document(
        &self,
        namespace: OrganizationId,
        document: DocumentId,
    ) -> Result<(), VectorStoreError> {
        knowledge_vector::Entity::delete_many()
            .filter(knowledge_vector::Column::OrganizationId.eq(namespace.as_uuid()))
            .filter(knowledge_vector::Column::DocumentId.eq(document.as_uuid()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_the_byte_encoding() {
        let vector = vec![0.0, -1.5, f32::MIN_POSITIVE, 3.25e7];
        assert_eq!(decode(&encode(&vector)), vector);
    }
}
