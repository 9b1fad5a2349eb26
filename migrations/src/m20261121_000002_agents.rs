//! Agents, custom scenarios and phone numbers.

use sea_orm_migration::prelude::*;

use crate::columns::timestamp;

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
                    .foreign_key(
                        ForeignKey::create()
                            .from(Agents::Table, Agents::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_agents_organization_created")
                    .table(Agents::Table)
                    .col(Agents::OrganizationId)
                    .col(Agents::CreatedAt)
                    .to_owned(),
            )
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
                    .foreign_key(
                        ForeignKey::create()
                            .from(Scenarios::Table, Scenarios::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_scenarios_scenario_id")
                    .table(Scenarios::Table)
                    .col(Scenarios::ScenarioId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_scenarios_owner")
                    .table(Scenarios::Table)
                    .col(Scenarios::OwnerId)
                    .to_owned(),
            )
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
                    .foreign_key(
                        ForeignKey::create()
                            .from(PhoneNumbers::Table, PhoneNumbers::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PhoneNumbers::Table, PhoneNumbers::AssignedAgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_phone_numbers_number")
                    .table(PhoneNumbers::Table)
                    .col(PhoneNumbers::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_phone_numbers_organization")
                    .table(PhoneNumbers::Table)
                    .col(PhoneNumbers::OrganizationId)
                    .to_owned(),
            )
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
