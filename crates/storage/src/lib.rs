//! sea-orm adapters for Switchboard's repository ports, on SQLite (the default) and PostgreSQL.
//!
//! Database rows convert to domain types here and nowhere else; driver errors become the ports'
//! error variants where the driver is called.

mod accounts;
mod agents;
mod analytics;
mod calendar_connections;
mod call_analyses;
mod calls;
mod database;
mod documents;
mod entities;
mod job_queue;
mod onboarding;
mod paging;
mod phone_numbers;
mod scenarios;
mod schedule;
mod sealing;
mod sessions;
pub mod testing;
mod transcripts;
mod vector_store;
mod webhooks;

pub use accounts::SeaOrmAccounts;
pub use agents::SeaOrmAgents;
pub use analytics::SeaOrmAnalytics;
pub use calendar_connections::SeaOrmCalendarConnections;
pub use call_analyses::SeaOrmCallAnalyses;
pub use calls::SeaOrmCalls;
pub use database::{Backend, Database, StorageError};
pub use documents::SeaOrmDocuments;
pub use onboarding::SeaOrmOnboarding;
pub use phone_numbers::SeaOrmPhoneNumbers;
pub use scenarios::SeaOrmScenarios;
pub use schedule::SeaOrmSchedule;
pub use sealing::{SealError, TokenSealer};
pub use sessions::SeaOrmSessions;
pub use transcripts::SeaOrmTranscripts;
pub use vector_store::SeaOrmVectorStore;
pub use webhooks::SeaOrmWebhooks;
