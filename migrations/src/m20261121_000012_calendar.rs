//! Calendar connections: one per organisation, with the OAuth tokens that reach its calendar.
//! The token columns hold ciphertext (the storage adapter seals them), never the tokens.

use sea_orm_migration::prelude::*;

use crate::columns::{nullable_string, references, timestamp, uuid_key, uuid_ref};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CalendarConnections {
    Table,
    OrganizationId,
    UserId,
    Provider,
    AccessTokenSealed,
    RefreshTokenSealed,
    ExpiresAt,
    Scope,
    Status,
    CalendarId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CalendarConnections::Table)
                    .col(uuid_key(CalendarConnections::OrganizationId))
                    .col(uuid_ref(CalendarConnections::UserId))
                    .col(
                        ColumnDef::new(CalendarConnections::Provider)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CalendarConnections::AccessTokenSealed)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CalendarConnections::RefreshTokenSealed)
                            .text()
                            .null(),
                    )
                    .col(timestamp(CalendarConnections::ExpiresAt))
                    .col(ColumnDef::new(CalendarConnections::Scope).text().null())
                    .col(
                        ColumnDef::new(CalendarConnections::Status)
                            .string()
                            .not_null(),
                    )
                    .col(nullable_string(CalendarConnections::CalendarId))
                    .col(timestamp(CalendarConnections::CreatedAt))
                    .col(timestamp(CalendarConnections::UpdatedAt))
                    .foreign_key(&mut references(
                        (
                            CalendarConnections::Table,
                            CalendarConnections::OrganizationId,
                        ),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        (CalendarConnections::Table, CalendarConnections::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CalendarConnections::Table).to_owned())
            .await
    }
}
