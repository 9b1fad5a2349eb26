//! Voice calls: the telephony provider's id of a call (status callbacks find the call by it), and
//! the steps of a voice turn's latency.

use sea_orm_migration::prelude::*;

use crate::columns::{index, nullable_string};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    ProviderCallId,
}

#[derive(DeriveIden)]
enum CallTurns {
    Table,
    TranscriptMs,
    FirstAudioMs,
    FirstFrameMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .add_column(nullable_string(Calls::ProviderCallId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_calls_provider_call_id",
                Calls::Table,
                [Calls::ProviderCallId],
            ))
            .await?;
        for column in [
            CallTurns::TranscriptMs,
            CallTurns::FirstAudioMs,
            CallTurns::FirstFrameMs,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CallTurns::Table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            CallTurns::FirstFrameMs,
            CallTurns::FirstAudioMs,
            CallTurns::TranscriptMs,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CallTurns::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_calls_provider_call_id")
                    .table(Calls::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .drop_column(Calls::ProviderCallId)
                    .to_owned(),
            )
            .await
    }
}
