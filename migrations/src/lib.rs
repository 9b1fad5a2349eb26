//! Switchboard's schema, as sea-orm migrations. The same migrations run on SQLite and PostgreSQL,
//! at start-up and through `switchboard migrate`; they only ever move forward.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261121_000001_accounts;
mod m20261121_000002_agents;
mod m20261121_000003_knowledge;
mod m20261121_000004_onboarding;
mod m20261121_000005_calls;
mod m20261121_000006_call_extras;
mod m20261121_000007_voice_calls;
mod m20261121_000008_phone_calls;
mod m20261121_000009_call_analysis;
mod m20261121_000010_scheduled_calls;
mod m20261121_000011_twilio_transcripts;
mod m20261121_000012_calendar;
mod m20261121_000013_analytics_indexes;
mod m20261121_000014_webhooks;
mod m20261121_000015_call_analysis_columns;
mod m20261121_000016_call_reconciliation;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_accounts::Migration),
            Box::new(m20261121_000002_agents::Migration),
            Box::new(m20261121_000003_knowledge::Migration),
            Box::new(m20261121_000004_onboarding::Migration),
            Box::new(m20261121_000005_calls::Migration),
            Box::new(m20261121_000006_call_extras::Migration),
            Box::new(m20261121_000007_voice_calls::Migration),
            Box::new(m20261121_000008_phone_calls::Migration),
            Box::new(m20261121_000009_call_analysis::Migration),
            Box::new(m20261121_000010_scheduled_calls::Migration),
            Box::new(m20261121_000011_twilio_transcripts::Migration),
            Box::new(m20261121_000012_calendar::Migration),
            Box::new(m20261121_000013_analytics_indexes::Migration),
            Box::new(m20261121_000014_webhooks::Migration),
            Box::new(m20261121_000015_call_analysis_columns::Migration),
            Box::new(m20261121_000016_call_reconciliation::Migration),
        ]
    }
}
