//! Phone calls: the seconds a call was connected (as the telephony provider counts them), and
//! the client's idempotency key, unique per organisation, so a retried request finds the call it
//! made instead of dialling again.

use sea_orm_migration::prelude::*;

use crate::columns::{nullable_string, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    OrganizationId,
    TalkSecs,
    IdempotencyKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .add_column(ColumnDef::new(Calls::TalkSecs).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .add_column(nullable_string(Calls::IdempotencyKey))
                    .to_owned(),
            )
            .await?;
        // Calls without a key (NULL) are not compared by a unique index, on either database.
        manager
            .create_index(unique_index(
                "idx_calls_idempotency_key",
                Calls::Table,
                [Calls::OrganizationId, Calls::IdempotencyKey],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_calls_idempotency_key")
                    .table(Calls::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Calls::IdempotencyKey, Calls::TalkSecs] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Calls::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
