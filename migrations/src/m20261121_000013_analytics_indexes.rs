//! Indexes for analytics and for searching calls at scale (docs/performance.md has the plans
//! they give over a million calls).
//!
//! On both databases: an organisation's calls by agent and start, for the figures of one agent.
//! On PostgreSQL only:
//! - covering indexes, so the dashboard's sums over a period read only the index of `calls`
//!   (not its wide rows with the conversation) and of `call_analyses`;
//! - trigram (pg_trgm) GIN indexes on what the call search matches with `LIKE '%words%'`: the
//!   transcript lines, the customer's name (both lower-cased, as the search compares them) and
//!   the number. SQLite keeps scanning, which is fine at its scale.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::columns::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    OrganizationId,
    AgentId,
    StartedAt,
}

const AGENT_STARTED: &str = "ix_calls_organization_agent_started";

/// PostgreSQL's statements, in order; dropped in reverse by `down`.
const POSTGRES_UP: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_calls_organization_started_cover ON calls \
     (organization_id, started_at) INCLUDE (id, agent_id, status, talk_secs, ended_at)",
    "CREATE INDEX IF NOT EXISTS ix_call_analyses_call_cover ON call_analyses (call_id) \
     INCLUDE (status, sentiment, sentiment_score, category, resolution)",
    "CREATE INDEX IF NOT EXISTS ix_call_turns_text_trgm ON call_turns \
     USING gin (lower(text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_calls_customer_name_trgm ON calls \
     USING gin (lower(customer_name) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_calls_phone_number_trgm ON calls \
     USING gin (phone_number gin_trgm_ops)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS ix_calls_phone_number_trgm",
    "DROP INDEX IF EXISTS ix_calls_customer_name_trgm",
    "DROP INDEX IF EXISTS ix_call_turns_text_trgm",
    "DROP INDEX IF EXISTS ix_call_analyses_call_cover",
    "DROP INDEX IF EXISTS ix_calls_organization_started_cover",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                AGENT_STARTED,
                Calls::Table,
                [Calls::OrganizationId, Calls::AgentId, Calls::StartedAt],
            ))
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            let connection = manager.get_connection();
            for statement in POSTGRES_UP {
                connection.execute_unprepared(statement).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let connection = manager.get_connection();
            for statement in POSTGRES_DOWN {
                connection.execute_unprepared(statement).await?;
            }
        }
        manager
            .drop_index(
                Index::drop()
                    .name(AGENT_STARTED)
                    .table(Calls::Table)
                    .to_owned(),
            )
            .await
    }
}
