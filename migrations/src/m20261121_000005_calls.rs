//! Calls and their transcripts.

use sea_orm_migration::prelude::*;

use crate::columns::{index, nullable_string, references, timestamp, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Calls {
    Table,
    Id,
    OrganizationId,
    AgentId,
    AgentName,
    Scenario,
    Channel,
    Direction,
    Status,
    CustomerName,
    PhoneNumber,
    SessionKey,
    StartedAt,
    EndedAt,
    EndReason,
    Context,
    Conversation,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CallTurns {
    Table,
    Id,
    CallId,
    TurnIndex,
    Speaker,
    Text,
    At,
    FirstTokenMs,
    TotalMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Calls::Table)
                    .col(ColumnDef::new(Calls::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Calls::OrganizationId).uuid().not_null())
                    // No foreign key: agents are only ever hidden, and a call outlives its agent.
                    .col(ColumnDef::new(Calls::AgentId).uuid().null())
                    .col(nullable_string(Calls::AgentName))
                    .col(nullable_string(Calls::Scenario))
                    .col(ColumnDef::new(Calls::Channel).string().not_null())
                    .col(ColumnDef::new(Calls::Direction).string().not_null())
                    .col(ColumnDef::new(Calls::Status).string().not_null())
                    .col(nullable_string(Calls::CustomerName))
                    .col(nullable_string(Calls::PhoneNumber))
                    .col(nullable_string(Calls::SessionKey))
                    .col(timestamp(Calls::StartedAt))
                    .col(
                        ColumnDef::new(Calls::EndedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(nullable_string(Calls::EndReason))
                    .col(ColumnDef::new(Calls::Context).json_binary().not_null())
                    .col(ColumnDef::new(Calls::Conversation).json_binary().not_null())
                    .col(
                        ColumnDef::new(Calls::Version)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(Calls::CreatedAt))
                    .col(timestamp(Calls::UpdatedAt))
                    .foreign_key(&mut references(
                        (Calls::Table, Calls::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "ix_calls_organization_started",
                vec![Calls::OrganizationId, Calls::StartedAt],
            ),
            (
                "ix_calls_organization_agent",
                vec![Calls::OrganizationId, Calls::AgentId],
            ),
            (
                "ix_calls_organization_session",
                vec![Calls::OrganizationId, Calls::SessionKey],
            ),
        ] {
            manager
                .create_index(index(name, Calls::Table, columns))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(CallTurns::Table)
                    .col(
                        ColumnDef::new(CallTurns::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CallTurns::CallId).uuid().not_null())
                    .col(ColumnDef::new(CallTurns::TurnIndex).integer().not_null())
                    .col(ColumnDef::new(CallTurns::Speaker).string().not_null())
                    .col(ColumnDef::new(CallTurns::Text).text().not_null())
                    .col(timestamp(CallTurns::At))
                    .col(ColumnDef::new(CallTurns::FirstTokenMs).big_integer().null())
                    .col(ColumnDef::new(CallTurns::TotalMs).big_integer().null())
                    .foreign_key(&mut references(
                        (CallTurns::Table, CallTurns::CallId),
                        (Calls::Table, Calls::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_call_turns_call_index",
                CallTurns::Table,
                [CallTurns::CallId, CallTurns::TurnIndex],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CallTurns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Calls::Table).to_owned())
            .await
    }
}
