//! The guided set-up: one row per organisation with each step's answer and completion time.

use sea_orm_migration::prelude::*;

use crate::columns::references;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Onboarding {
    Table,
    OrganizationId,
    Profile,
    AgentId,
    Personality,
    Channels,
    KnowledgeDocuments,
    CompanyCompletedAt,
    AgentCompletedAt,
    KnowledgeCompletedAt,
    VoiceCompletedAt,
    ChannelsCompletedAt,
    DeployedAt,
    CreatedAt,
    UpdatedAt,
}

fn moment(column: Onboarding) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .null()
        .take()
}

fn required_moment(column: Onboarding) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Onboarding::Table)
                    .col(
                        ColumnDef::new(Onboarding::OrganizationId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Onboarding::Profile).json_binary().null())
                    .col(ColumnDef::new(Onboarding::AgentId).uuid().null())
                    .col(ColumnDef::new(Onboarding::Personality).json_binary().null())
                    .col(ColumnDef::new(Onboarding::Channels).json_binary().null())
                    .col(
                        ColumnDef::new(Onboarding::KnowledgeDocuments)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(moment(Onboarding::CompanyCompletedAt))
                    .col(moment(Onboarding::AgentCompletedAt))
                    .col(moment(Onboarding::KnowledgeCompletedAt))
                    .col(moment(Onboarding::VoiceCompletedAt))
                    .col(moment(Onboarding::ChannelsCompletedAt))
                    .col(moment(Onboarding::DeployedAt))
                    .col(required_moment(Onboarding::CreatedAt))
                    .col(required_moment(Onboarding::UpdatedAt))
                    .foreign_key(&mut references(
                        (Onboarding::Table, Onboarding::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        (Onboarding::Table, Onboarding::AgentId),
                        (Agents::Table, Agents::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Onboarding::Table).to_owned())
            .await
    }
}
