//! `DocumentRepository` on sea-orm.

use async_trait::async_trait;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use switchboard_domain::ids::OrganizationId;
use switchboard_domain::knowledge::{Document, DocumentId, DocumentKind, DocumentRepository};
use switchboard_domain::page::{PageRequest, Paged};
use switchboard_domain::ports::RepositoryError;

use crate::Database;
use crate::accounts::unexpected;
use crate::entities::knowledge_document;
use crate::paging::fetch_page;

/// Knowledge documents in the application database.
#[derive(Clone, Debug)]
pub struct SeaOrmDocuments {
    db: Database,
}

impl SeaOrmDocuments {
    /// An adapter over `db`.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn document_from_row(row: knowledge_document::Model) -> Result<Document, RepositoryError> {
    let kind = DocumentKind::from_name(&row.kind).ok_or_else(|| {
        anyhow::anyhow!(
            "stored kind {:?} of document {} is unknown",
            row.kind,
            row.id
        )
    })?;
    Ok(Document {
        id: DocumentId::from_uuid(row.id),
        organization_id: OrganizationId::from_uuid(row.organization_id),
        file_name: row.file_name,
        kind,
        size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
        char_count: u64::try_from(row.char_count).unwrap_or(0),
        chunk_count: u32::try_from(row.chunk_count).unwrap_or(0),
        embedder: row.embedder,
        created_at: row.created_at,
    })
}

#[async_trait]
impl DocumentRepository for SeaOrmDocuments {
    async fn insert(&self, document: &Document) -> Result<(), RepositoryError> {
        knowledge_document::Entity::insert(knowledge_document::ActiveModel {
            id: Set(document.id.as_uuid()),
            organization_id: Set(document.organization_id.as_uuid()),
            file_name: Set(document.file_name.clone()),
            kind: Set(document.kind.as_str().to_owned()),
            size_bytes: Set(i64::try_from(document.size_bytes).unwrap_or(i64::MAX)),
            char_count: Set(i64::try_from(document.char_count).unwrap_or(i64::MAX)),
            chunk_count: Set(i32::try_from(document.chunk_count).unwrap_or(i32::MAX)),
            embedder: Set(document.embedder.clone()),
            created_at: Set(document.created_at),
        })
        .exec_without_returning(self.db.connection())
        .await
        .map_err(unexpected)?;
        Ok(())
    }

    async fn find(
        &self,
        organization: OrganizationId,
        id: DocumentId,
    ) -> Result<Option<Document>, RepositoryError> {
        knowledge_document::Entity::find_by_id(id.as_uuid())
            .filter(knowledge_document::Column::OrganizationId.eq(organization.as_uuid()))
            .one(self.db.connection())
            .await
            .map_err(unexpected)?
            .map(document_from_row)
            .transpose()
    }

    async fn find_many(
        &self,
        organization: OrganizationId,
        ids: &[DocumentId],
    ) -> Result<Vec<Document>, RepositoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        knowledge_document::Entity::find()
            .filter(knowledge_document::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(knowledge_document::Column::Id.is_in(ids.iter().map(DocumentId::as_uuid)))
            .all(self.db.connection())
            .await
            .map_err(unexpected)?
            .into_iter()
            .map(document_from_row)
            .collect()
    }

    async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<Document>, RepositoryError> {
        let query = knowledge_document::Entity::find()
            .filter(knowledge_document::Column::OrganizationId.eq(organization.as_uuid()));
        let (rows, total) = fetch_page(
            query
                .order_by_desc(knowledge_document::Column::CreatedAt)
                .order_by_desc(knowledge_document::Column::Id),
            page,
            self.db.connection(),
        )
        .await?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(document_from_row)
                .collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn delete(
        &self,
        organization: OrganizationId,
        id: DocumentId,
    ) -> Result<bool, RepositoryError> {
        let result = knowledge_document::Entity::delete_many()
            .filter(knowledge_document::Column::Id.eq(id.as_uuid()))
            .filter(knowledge_document::Column::OrganizationId.eq(organization.as_uuid()))
            .exec(self.db.connection())
            .await
            .map_err(unexpected)?;
        Ok(result.rows_affected == 1)
    }
}
