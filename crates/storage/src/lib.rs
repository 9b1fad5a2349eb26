//! sea-orm adapters for Switchboard's repository ports, on SQLite (the default) and PostgreSQL.
//!
//! Database rows convert to domain types here and nowhere else; driver errors become the ports'
//! error variants where the driver is called.

mod accounts;
mod database;
mod entities;
mod sessions;
pub mod testing;

pub use accounts::SeaOrmAccounts;
pub use database::{Backend, Database, StorageError};
pub use sessions::SeaOrmSessions;
