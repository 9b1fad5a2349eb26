//! Agents, custom scenarios and phone numbers.

use sea_orm_migration::prelude::*;

use crate::columns::{index, references, timestamp, unique_index};

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
enum Agents {
    Table,
    Id,
    OrganizationId,
    Name,
    Status,
    Config,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Scenarios {
    Table,
    Id,
    ScenarioId,
    OrganizationId,
    OwnerId,
    Persona,
    Prompt,
    VoiceType,
    Temperature,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PhoneNumbers {
    Table,
    Id,
    OrganizationId,
    Number,
    AssignedAgentId,
    Status,
    Label,
    CallsReceived,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Agents::Table)
                    .col(ColumnDef::new(Agents::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Agents::OrganizationId).uuid().not_null())
                    .col(ColumnDef::new(Agents::Name).string().not_null())
                    .col(ColumnDef::new(Agents::Status).string().not_null())
                    .col(ColumnDef::new(Agents::Config).json_binary().not_null())
                    .col(timestamp(Agents::CreatedAt))
                    .col(timestamp(Agents::UpdatedAt))
                    .col(
                        ColumnDef::new(Agents::DeletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut references(
                        (Agents::Table, Agents::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_agents_organization_created",
                Agents::Table,
                [Agents::OrganizationId, Agents::CreatedAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Scenarios::Table)
                    .col(
                        ColumnDef::new(Scenarios::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Scenarios::ScenarioId).string().not_null())
                    .col(ColumnDef::new(Scenarios::OrganizationId).uuid().not_null())
                    .col(ColumnDef::new(Scenarios::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Scenarios::Persona).text().not_null())
                    .col(ColumnDef::new(Scenarios::Prompt).text().not_null())
                    .col(ColumnDef::new(Scenarios::VoiceType).string().not_null())
                    .col(ColumnDef::new(Scenarios::Temperature).double().not_null())
                    .col(timestamp(Scenarios::CreatedAt))
                    .col(timestamp(Scenarios::UpdatedAt))
                    .foreign_key(&mut references(
                        (Scenarios::Table, Scenarios::OwnerId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_scenarios_scenario_id",
                Scenarios::Table,
                [Scenarios::ScenarioId],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_scenarios_owner",
                Scenarios::Table,
                [Scenarios::OwnerId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PhoneNumbers::Table)
                    .col(
                        ColumnDef::new(PhoneNumbers::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PhoneNumbers::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PhoneNumbers::Number).string().not_null())
                    .col(ColumnDef::new(PhoneNumbers::AssignedAgentId).uuid().null())
                    .col(ColumnDef::new(PhoneNumbers::Status).string().not_null())
                    .col(ColumnDef::new(PhoneNumbers::Label).string().null())
                    .col(
                        ColumnDef::new(PhoneNumbers::CallsReceived)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(PhoneNumbers::CreatedAt))
                    .col(timestamp(PhoneNumbers::UpdatedAt))
                    .foreign_key(&mut references(
                        (PhoneNumbers::Table, PhoneNumbers::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        (PhoneNumbers::Table, PhoneNumbers::AssignedAgentId),
                        (Agents::Table, Agents::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_phone_numbers_number",
                PhoneNumbers::Table,
                [PhoneNumbers::Number],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_phone_numbers_organization",
                PhoneNumbers::Table,
                [PhoneNumbers::OrganizationId],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PhoneNumbers::Table.into_iden(),
            Scenarios::Table.into_iden(),
            Agents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
