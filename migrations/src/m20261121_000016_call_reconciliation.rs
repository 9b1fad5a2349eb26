//! An index for the reconciler, which looks every minute for live phone calls not updated for a
//! while: by status, then last update, so it reads the few live calls rather than every call.

use sea_orm_migration::prelude::*;

use crate::columns::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    Status,
    UpdatedAt,
}

const STATUS_UPDATED: &str = "ix_calls_status_updated";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                STATUS_UPDATED,
                Calls::Table,
                [Calls::Status, Calls::UpdatedAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(STATUS_UPDATED)
                    .table(Calls::Table)
                    .to_owned(),
            )
            .await
    }
}
