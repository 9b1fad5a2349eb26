//! The knowledge base: documents, and the chunk vectors of the database-backed vector store.

use sea_orm_migration::prelude::*;

use crate::columns::{index, references};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum KnowledgeDocuments {
    Table,
    Id,
    OrganizationId,
    FileName,
    Kind,
    SizeBytes,
    CharCount,
    ChunkCount,
    Embedder,
    CreatedAt,
}

#[derive(DeriveIden)]
enum KnowledgeVectors {
    Table,
    ChunkId,
    OrganizationId,
    DocumentId,
    ChunkIndex,
    Text,
    Dimensions,
    Embedding,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KnowledgeDocuments::Table)
                    .col(
                        ColumnDef::new(KnowledgeDocuments::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeDocuments::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeDocuments::FileName)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(KnowledgeDocuments::Kind).string().not_null())
                    .col(
                        ColumnDef::new(KnowledgeDocuments::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeDocuments::CharCount)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeDocuments::ChunkCount)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeDocuments::Embedder)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeDocuments::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut references(
                        (
                            KnowledgeDocuments::Table,
                            KnowledgeDocuments::OrganizationId,
                        ),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_knowledge_documents_organization_created",
                KnowledgeDocuments::Table,
                [
                    KnowledgeDocuments::OrganizationId,
                    KnowledgeDocuments::CreatedAt,
                ],
            ))
            .await?;
        // No foreign key to documents: vectors are written before their document is recorded,
        // so an upload is never visible half-stored (see KnowledgeService::store).
        manager
            .create_table(
                Table::create()
                    .table(KnowledgeVectors::Table)
                    .col(
                        ColumnDef::new(KnowledgeVectors::ChunkId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeVectors::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeVectors::DocumentId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeVectors::ChunkIndex)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(KnowledgeVectors::Text).text().not_null())
                    .col(
                        ColumnDef::new(KnowledgeVectors::Dimensions)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KnowledgeVectors::Embedding)
                            .binary()
                            .not_null(),
                    )
                    .foreign_key(&mut references(
                        (KnowledgeVectors::Table, KnowledgeVectors::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_knowledge_vectors_organization_document",
                KnowledgeVectors::Table,
                [
                    KnowledgeVectors::OrganizationId,
                    KnowledgeVectors::DocumentId,
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KnowledgeVectors::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(KnowledgeDocuments::Table).to_owned())
            .await
    }
}
