//! Scheduled calls: outbound calls to place at a time, with their calling window, retry policy
//! and attempts, and the lease (`claimed_by`, `claimed_until`) a worker holds while placing one.
//! `current_call_id` repeats the call of the attempt under way, so the worker finds ended calls
//! with a join instead of reading every attempt list.

use sea_orm_migration::prelude::*;

use crate::columns::{
    index, nullable_string, nullable_timestamp, references, timestamp, uuid_key, uuid_ref,
};

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
enum ScheduledCalls {
    Table,
    Id,
    OrganizationId,
    UserId,
    CampaignId,
    AgentId,
    Scenario,
    PhoneNumber,
    CustomerName,
    ScheduledFor,
    DueAt,
    CallingWindow,
    MaxAttempts,
    RetryDelaySecs,
    Status,
    Attempts,
    CurrentCallId,
    ClaimedBy,
    ClaimedUntil,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ScheduledCalls::Table)
                    .col(uuid_key(ScheduledCalls::Id))
                    .col(uuid_ref(ScheduledCalls::OrganizationId))
                    .col(uuid_ref(ScheduledCalls::UserId))
                    .col(ColumnDef::new(ScheduledCalls::CampaignId).uuid().null())
                    // No foreign key: agents are only ever hidden, as for calls.
                    .col(ColumnDef::new(ScheduledCalls::AgentId).uuid().null())
                    .col(nullable_string(ScheduledCalls::Scenario))
                    .col(
                        ColumnDef::new(ScheduledCalls::PhoneNumber)
                            .string()
                            .not_null(),
                    )
                    .col(nullable_string(ScheduledCalls::CustomerName))
                    .col(timestamp(ScheduledCalls::ScheduledFor))
                    .col(timestamp(ScheduledCalls::DueAt))
                    .col(
                        ColumnDef::new(ScheduledCalls::CallingWindow)
                            .json_binary()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ScheduledCalls::MaxAttempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScheduledCalls::RetryDelaySecs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ScheduledCalls::Status).string().not_null())
                    .col(
                        ColumnDef::new(ScheduledCalls::Attempts)
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ScheduledCalls::CurrentCallId).uuid().null())
                    .col(nullable_string(ScheduledCalls::ClaimedBy))
                    .col(nullable_timestamp(ScheduledCalls::ClaimedUntil))
                    .col(
                        ColumnDef::new(ScheduledCalls::Version)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(ScheduledCalls::CreatedAt))
                    .col(timestamp(ScheduledCalls::UpdatedAt))
                    .foreign_key(&mut references(
                        (ScheduledCalls::Table, ScheduledCalls::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        (ScheduledCalls::Table, ScheduledCalls::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            // The worker's claim: due work by status and time.
            (
                "ix_scheduled_calls_status_due",
                vec![ScheduledCalls::Status, ScheduledCalls::DueAt],
            ),
            (
                "ix_scheduled_calls_organization_due",
                vec![ScheduledCalls::OrganizationId, ScheduledCalls::DueAt],
            ),
            (
                "ix_scheduled_calls_organization_campaign",
                vec![ScheduledCalls::OrganizationId, ScheduledCalls::CampaignId],
            ),
            (
                "ix_scheduled_calls_current_call",
                vec![ScheduledCalls::CurrentCallId],
            ),
        ] {
            manager
                .create_index(index(name, ScheduledCalls::Table, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ScheduledCalls::Table).to_owned())
            .await
    }
}
