//! Stored Twilio transcripts: an organisation's copies of Voice Intelligence transcripts, kept in
//! Twilio's format (the transcript resource and its sentences, verbatim), one per sid per
//! organisation, with the facts lists filter and order by beside them.

use sea_orm_migration::prelude::*;

use crate::columns::{
    index, nullable_string, nullable_timestamp, references, timestamp, unique_index, uuid_key,
    uuid_ref,
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
enum StoredTwilioTranscripts {
    Table,
    Id,
    OrganizationId,
    UserId,
    TranscriptSid,
    Status,
    DateCreated,
    DateUpdated,
    Duration,
    LanguageCode,
    SourceSid,
    ScenarioName,
    CallDirection,
    CallDate,
    Transcript,
    Sentences,
    SentenceCount,
    StoredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use StoredTwilioTranscripts as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(uuid_key(T::Id))
                    .col(uuid_ref(T::OrganizationId))
                    .col(uuid_ref(T::UserId))
                    .col(ColumnDef::new(T::TranscriptSid).string().not_null())
                    .col(nullable_string(T::Status))
                    .col(nullable_timestamp(T::DateCreated))
                    .col(nullable_timestamp(T::DateUpdated))
                    .col(ColumnDef::new(T::Duration).big_integer().null())
                    .col(nullable_string(T::LanguageCode))
                    .col(nullable_string(T::SourceSid))
                    .col(nullable_string(T::ScenarioName))
                    .col(nullable_string(T::CallDirection))
                    // The transcript's creation, else when it was stored: what lists order by.
                    .col(timestamp(T::CallDate))
                    .col(ColumnDef::new(T::Transcript).json_binary().not_null())
                    .col(ColumnDef::new(T::Sentences).json_binary().not_null())
                    .col(ColumnDef::new(T::SentenceCount).integer().not_null())
                    .col(timestamp(T::StoredAt))
                    .foreign_key(&mut references(
                        (T::Table, T::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references(
                        (T::Table, T::UserId),
                        (Users::Table, Users::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // One copy per sid per organisation: concurrent stores of a sid have one winner.
        manager
            .create_index(unique_index(
                "ux_stored_twilio_transcripts_organization_sid",
                T::Table,
                [T::OrganizationId, T::TranscriptSid],
            ))
            .await?;
        for (name, columns) in [
            (
                "ix_stored_twilio_transcripts_organization_stored",
                vec![T::OrganizationId, T::StoredAt],
            ),
            (
                "ix_stored_twilio_transcripts_organization_call_date",
                vec![T::OrganizationId, T::CallDate],
            ),
        ] {
            manager.create_index(index(name, T::Table, columns)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(StoredTwilioTranscripts::Table)
                    .to_owned(),
            )
            .await
    }
}
