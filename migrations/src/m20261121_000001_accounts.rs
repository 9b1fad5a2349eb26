//! Organisations, users, sessions and refresh tokens.

use sea_orm_migration::prelude::*;

use crate::columns::{
    index, nullable_timestamp, references, timestamp, unique_index, uuid_key, uuid_ref,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    TimeZone,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrganizationId,
    Email,
    PasswordHash,
    FullName,
    IsActive,
    IsAdmin,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    OrganizationId,
    CreatedAt,
    RevokedAt,
    RevokedReason,
    UserAgent,
    IpAddress,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    SessionId,
    TokenDigest,
    IssuedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(uuid_key(Organizations::Id))
                    .col(ColumnDef::new(Organizations::Name).string().not_null())
                    .col(
                        ColumnDef::new(Organizations::TimeZone)
                            .string()
                            .not_null()
                            .default("UTC"),
                    )
                    .col(timestamp(Organizations::CreatedAt))
                    .col(timestamp(Organizations::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid_key(Users::Id))
                    .col(uuid_ref(Users::OrganizationId))
                    .col(ColumnDef::new(Users::Email).string().not_null())
                    .col(ColumnDef::new(Users::PasswordHash).string().not_null())
                    .col(ColumnDef::new(Users::FullName).string().null())
                    .col(
                        ColumnDef::new(Users::IsActive)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(Users::IsAdmin)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(timestamp(Users::CreatedAt))
                    .col(timestamp(Users::UpdatedAt))
                    .foreign_key(&mut references(
                        (Users::Table, Users::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index("ux_users_email", Users::Table, [Users::Email]))
            .await?;
        manager
            .create_index(index(
                "ix_users_organization_id",
                Users::Table,
                [Users::OrganizationId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid_key(Sessions::Id))
                    .col(uuid_ref(Sessions::UserId))
                    .col(uuid_ref(Sessions::OrganizationId))
                    .col(timestamp(Sessions::CreatedAt))
                    .col(nullable_timestamp(Sessions::RevokedAt))
                    .col(ColumnDef::new(Sessions::RevokedReason).string().null())
                    .col(ColumnDef::new(Sessions::UserAgent).string().null())
                    .col(ColumnDef::new(Sessions::IpAddress).string().null())
                    .foreign_key(&mut references(
                        (Sessions::Table, Sessions::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_sessions_user_id",
                Sessions::Table,
                [Sessions::UserId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(uuid_key(RefreshTokens::Id))
                    .col(uuid_ref(RefreshTokens::SessionId))
                    .col(
                        ColumnDef::new(RefreshTokens::TokenDigest)
                            .string()
                            .not_null(),
                    )
                    .col(timestamp(RefreshTokens::IssuedAt))
                    .col(timestamp(RefreshTokens::ExpiresAt))
                    .col(nullable_timestamp(RefreshTokens::UsedAt))
                    .foreign_key(&mut references(
                        (RefreshTokens::Table, RefreshTokens::SessionId),
                        (Sessions::Table, Sessions::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "ux_refresh_tokens_digest",
                RefreshTokens::Table,
                [RefreshTokens::TokenDigest],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_refresh_tokens_session_id",
                RefreshTokens::Table,
                [RefreshTokens::SessionId],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RefreshTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
