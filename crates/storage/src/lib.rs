//! sea-orm adapters for Switchboard's repository ports, on SQLite (the default) and PostgreSQL.
//!
//! Database rows convert to domain types here and nowhere else; driver errors become the ports'
//! error variants where the driver is called.

mod accounts;
mod agents;
mod analytics;
mod call_analyses;
mod calls;
mod database;
mod documents;
mod entities;
mod onboarding;
mod paging;
mod phone_numbers;
mod scenarios;
mod schedule;
mod sessions;
pub mod testing;
mod vector_store;

pub use accounts::SeaOrmAccounts;
pub use agents::SeaOrmAgents;
pub use analytics::SeaOrmAnalytics;
pub use call_analyses::SeaOrmCallAnalyses;
pub use calls::SeaOrmCalls;
pub use database::{Backend, Database, StorageError};
pub use documents::SeaOrmDocuments;
pub use onboarding::SeaOrmOnboarding;
pub use phone_numbers::SeaOrmPhoneNumbers;
pub use scenarios::SeaOrmScenarios;
pub use schedule::SeaOrmSchedule;
pub use sessions::SeaOrmSessions;
pub use vector_store::SeaOrmVectorStore;
