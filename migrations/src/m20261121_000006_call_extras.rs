//! Calls keep a recording's address and free-form metadata (what a client logged with them).

use sea_orm_migration::prelude::*;

use crate::columns::nullable_string;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    RecordingUrl,
    Metadata,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .add_column(nullable_string(Calls::RecordingUrl))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Calls::Table)
                    .add_column(ColumnDef::new(Calls::Metadata).json_binary().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Calls::Metadata, Calls::RecordingUrl] {
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
