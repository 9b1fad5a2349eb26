//! The filterable fields of a call's completed analysis beside the call: sentiment, its score,
//! category and resolution on `calls`, NULL until the analysis completes (written in the same
//! transaction that completes it). The dashboard's sums and the call list's analysis filters
//! then read `calls` alone, never joining `call_analyses` (docs/performance.md has the plans).
//!
//! On PostgreSQL the covering index of an organisation's calls by start carries these columns
//! too, so a period's sums are one index-only scan; the covering index of `call_analyses`,
//! which only served the join, goes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::columns::nullable_string;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    AnalysisSentiment,
    AnalysisSentimentScore,
    AnalysisCategory,
    AnalysisResolution,
}

/// Copies the fields of every completed analysis onto its call (both databases; SQLite has
/// `UPDATE ... FROM` since 3.33).
const BACKFILL: &str = "\
    UPDATE calls SET analysis_sentiment = a.sentiment, \
        analysis_sentiment_score = a.sentiment_score, \
        analysis_category = a.category, \
        analysis_resolution = a.resolution \
    FROM call_analyses a WHERE a.call_id = calls.id AND a.status = 'completed'";

const POSTGRES_UP: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS ix_calls_organization_started_analysis ON calls \
     (organization_id, started_at) INCLUDE (id, agent_id, status, talk_secs, ended_at, \
     analysis_sentiment, analysis_sentiment_score, analysis_category, analysis_resolution)",
    "DROP INDEX IF EXISTS ix_calls_organization_started_cover",
    "DROP INDEX IF EXISTS ix_call_analyses_call_cover",
];

const POSTGRES_DOWN: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS ix_call_analyses_call_cover ON call_analyses (call_id) \
     INCLUDE (status, sentiment, sentiment_score, category, resolution)",
    "CREATE INDEX IF NOT EXISTS ix_calls_organization_started_cover ON calls \
     (organization_id, started_at) INCLUDE (id, agent_id, status, talk_secs, ended_at)",
    "DROP INDEX IF EXISTS ix_calls_organization_started_analysis",
];

fn columns() -> [ColumnDef; 4] {
    [
        nullable_string(Calls::AnalysisSentiment),
        ColumnDef::new(Calls::AnalysisSentimentScore)
            .double()
            .null()
            .take(),
        nullable_string(Calls::AnalysisCategory),
        nullable_string(Calls::AnalysisResolution),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Calls::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        let connection = manager.get_connection();
        connection.execute_unprepared(BACKFILL).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
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
        for column in [
            Calls::AnalysisResolution,
            Calls::AnalysisCategory,
            Calls::AnalysisSentimentScore,
            Calls::AnalysisSentiment,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Calls::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
