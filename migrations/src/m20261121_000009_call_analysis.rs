//! Post-call analysis: one row per ended call, holding both its analysis job (status, attempts,
//! when it is next due, who holds it) and, once done, the analysis itself. Kept apart from
//! `calls`, so a worker writing an analysis never races the call's own versioned writes, and
//! indexed for filtering an organisation's calls by sentiment, category and resolution.

use sea_orm_migration::prelude::*;

use crate::columns::{index, nullable_string, nullable_timestamp, timestamp, uuid_ref};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CallAnalyses {
    Table,
    CallId,
    OrganizationId,
    Status,
    Attempts,
    DueAt,
    ClaimToken,
    LastError,
    Summary,
    Sentiment,
    SentimentScore,
    Category,
    Resolution,
    KeyTopics,
    ActionItems,
    Extracted,
    Analyzer,
    CompletedAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CallAnalyses::Table)
                    .col(
                        ColumnDef::new(CallAnalyses::CallId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(uuid_ref(CallAnalyses::OrganizationId))
                    // pending, running, completed or failed.
                    .col(ColumnDef::new(CallAnalyses::Status).string().not_null())
                    .col(
                        ColumnDef::new(CallAnalyses::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    // Pending: when to try; running: when the claim's lease runs out.
                    .col(timestamp(CallAnalyses::DueAt))
                    .col(ColumnDef::new(CallAnalyses::ClaimToken).uuid().null())
                    .col(ColumnDef::new(CallAnalyses::LastError).text().null())
                    .col(ColumnDef::new(CallAnalyses::Summary).text().null())
                    .col(nullable_string(CallAnalyses::Sentiment))
                    .col(ColumnDef::new(CallAnalyses::SentimentScore).double().null())
                    .col(nullable_string(CallAnalyses::Category))
                    .col(nullable_string(CallAnalyses::Resolution))
                    .col(ColumnDef::new(CallAnalyses::KeyTopics).json_binary().null())
                    .col(
                        ColumnDef::new(CallAnalyses::ActionItems)
                            .json_binary()
                            .null(),
                    )
                    .col(ColumnDef::new(CallAnalyses::Extracted).json_binary().null())
                    .col(nullable_string(CallAnalyses::Analyzer))
                    .col(nullable_timestamp(CallAnalyses::CompletedAt))
                    .col(timestamp(CallAnalyses::CreatedAt))
                    .col(timestamp(CallAnalyses::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CallAnalyses::Table, CallAnalyses::CallId)
                            .to(Calls::Table, Calls::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            // What workers claim: due jobs by status and time.
            (
                "ix_call_analyses_status_due",
                vec![CallAnalyses::Status, CallAnalyses::DueAt],
            ),
            (
                "ix_call_analyses_organization_sentiment",
                vec![CallAnalyses::OrganizationId, CallAnalyses::Sentiment],
            ),
            (
                "ix_call_analyses_organization_category",
                vec![CallAnalyses::OrganizationId, CallAnalyses::Category],
            ),
            (
                "ix_call_analyses_organization_resolution",
                vec![CallAnalyses::OrganizationId, CallAnalyses::Resolution],
            ),
        ] {
            manager
                .create_index(index(name, CallAnalyses::Table, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CallAnalyses::Table).to_owned())
            .await
    }
}
