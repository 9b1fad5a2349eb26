//! Connecting to the database, running migrations, and checking reachability.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};
use switchboard_migrations::Migrator;
use switchboard_migrations::MigratorTrait;

/// Which database engine a connection speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine's name as shown in health reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
        }
    }
}

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("DATABASE_URL must start with sqlite: or postgres:, got {0:?}")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("migrations failed: {0}")]
    Migrate(String),
    #[error("the database did not answer: {0}")]
    Unreachable(String),
}

/// A pooled connection to the application's database.
#[derive(Clone, Debug)]
pub struct Database {
    connection: DatabaseConnection,
    backend: Backend,
}

/// Most writers wait at most this long for SQLite's single write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Database {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) with a pool. SQLite runs
    /// in WAL mode with foreign keys on, so readers never block the writer.
    ///
    /// # Errors
    /// `UnsupportedUrl` for another scheme; `Connect` when the server or file cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StorageError::Connect(e.to_string()))?
                .create_if_missing(true)
                .foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(|e| StorageError::Connect(e.to_string()))?;
            Ok(Self {
                connection: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
                backend: Backend::Sqlite,
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StorageError::Connect(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(|e| StorageError::Connect(e.to_string()))?;
            Ok(Self {
                connection: SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
                backend: Backend::Postgres,
            })
        } else {
            Err(StorageError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    /// `Migrate` when a migration fails; what ran before it stays applied.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        Migrator::up(&self.connection, None)
            .await
            .map_err(|e| StorageError::Migrate(e.to_string()))
    }

    /// Runs a trivial query to prove the database answers.
    ///
    /// # Errors
    /// `Unreachable` with the driver's reason.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.connection
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| StorageError::Unreachable(e.to_string()))
    }

    /// Which engine this is.
    #[must_use]
    pub const fn backend(&self) -> Backend {
        self.backend
    }

    /// The sea-orm connection, for the adapters of this crate.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// Closes every pooled connection.
    ///
    /// # Errors
    /// When the pool fails to close cleanly.
    pub async fn close(self) -> Result<(), StorageError> {
        self.connection
            .close()
            .await
            .map_err(|e| StorageError::Unreachable(e.to_string()))
    }
}

/// The URL without its password, for error messages and logs.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password only fails for URLs that cannot have one, ruled out above.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/sb"),
            "postgres://app:***@db:5432/sb"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
