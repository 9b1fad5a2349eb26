//! Throw-away databases for tests: a SQLite file in a temporary folder, or a fresh PostgreSQL
//! database created for one test and dropped afterwards.
//!
//! PostgreSQL is found at `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! When it cannot be reached, tests using it are skipped with a message, except under `CI=true`,
//! where that is an error: CI must not pass by skipping.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use sea_orm::sqlx::{Connection, PgConnection, Row};

use crate::Database;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const NAME_PREFIX: &str = "sbtest_";
/// Databases of crashed runs older than this are dropped when the next run starts.
const LEFTOVER_AGE_SECS: i64 = 3600;

static SWEPT: AtomicBool = AtomicBool::new(false);

/// A migrated database that disappears when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    database: Database,
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Directory(
        #[expect(
            dead_code,
            reason = "held only so the folder lives as long as the file"
        )]
        tempfile::TempDir,
    ),
    Postgres {
        admin_url: String,
        name: String,
    },
}

fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestDatabase {
    /// A migrated SQLite database in a fresh temporary folder.
    ///
    /// # Errors
    /// When the folder or the database cannot be created.
    pub async fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let database = Database::connect(&url).await?;
        database.migrate().await?;
        Ok(Self {
            database,
            url,
            cleanup: Cleanup::Directory(dir),
        })
    }

    /// A migrated, empty PostgreSQL database of its own, or `None` (after saying so on stderr)
    /// when no PostgreSQL server answers outside CI.
    ///
    /// # Errors
    /// When the server answers but the database cannot be created, or under `CI=true` when the
    /// server cannot be reached.
    pub async fn postgres() -> anyhow::Result<Option<Self>> {
        let admin_url = admin_url();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(connection) => connection,
            Err(e) if !in_ci() => {
                eprintln!("skipped: PostgreSQL at {admin_url} is not reachable ({e})");
                return Ok(None);
            }
            Err(e) => anyhow::bail!("PostgreSQL at {admin_url} is not reachable under CI: {e}"),
        };
        if !SWEPT.swap(true, Ordering::SeqCst) {
            sweep_leftovers(&mut admin).await?;
        }
        let name = format!(
            "{NAME_PREFIX}{}_{}",
            Utc::now().timestamp(),
            uuid::Uuid::new_v4().simple()
        );
        sea_orm::sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let mut url = url::Url::parse(&admin_url)?;
        url.set_path(&name);
        let url = url.to_string();
        let cleanup = Cleanup::Postgres { admin_url, name };
        let database = Database::connect(&url).await?;
        database.migrate().await?;
        Ok(Some(Self {
            database,
            url,
            cleanup,
        }))
    }

    /// The connected, migrated database.
    #[must_use]
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The URL the database answers at, for a server under test.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Drops `sbtest_<unix seconds>_...` databases older than an hour: what crashed runs left behind.
/// Younger ones may belong to tests running right now in other processes.
async fn sweep_leftovers(admin: &mut PgConnection) -> anyhow::Result<()> {
    let rows =
        sea_orm::sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'sbtest\\_%'")
            .fetch_all(&mut *admin)
            .await?;
    let cutoff = Utc::now().timestamp() - LEFTOVER_AGE_SECS;
    for row in rows {
        let name: String = row.try_get(0)?;
        let created = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<i64>().ok());
        if created.is_some_and(|secs| secs < cutoff) {
            sea_orm::sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *admin)
                .await?;
        }
    }
    Ok(())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime, which must not be blocked on; a short-lived thread
        // with its own runtime drops the database (FORCE ends the pool's open connections).
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sea_orm::sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                anyhow::Ok(())
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database: {e}"),
            Err(_) => eprintln!("could not drop test database: the dropping thread panicked"),
        }
    }
}

/// Records `analysis` as the completed analysis of `call`, whatever its job's state: tests
/// that need exact sentiments and categories write them here instead of waiting for an
/// analyser. A worker holding the job then finds its claim gone and writes nothing.
///
/// # Errors
/// When the call has no analysis job (it has not ended) or on storage failure.
pub async fn record_analysis(
    database: &Database,
    call: switchboard_domain::ids::CallId,
    analysis: &switchboard_domain::call::CallAnalysis,
    at: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, QueryFilter, TransactionTrait};

    use crate::call_analyses::{completion, copy_to_call};
    use crate::entities::call_analysis::Column;

    let txn = database.connection().begin().await?;
    let updated = completion(analysis, at)
        .filter(Column::CallId.eq(call.as_uuid()))
        .exec(&txn)
        .await?;
    anyhow::ensure!(
        updated.rows_affected == 1,
        "call {call} has no analysis job to complete"
    );
    copy_to_call(&txn, call, analysis).await?;
    txn.commit().await?;
    Ok(())
}

/// The URL of the PostgreSQL database `name`, created when missing and kept between runs (for
/// benchmarks whose data takes minutes to seed), or `None` when no server answers.
///
/// # Errors
/// When the server answers but the database cannot be created.
pub async fn kept_postgres_database(name: &str) -> anyhow::Result<Option<String>> {
    anyhow::ensure!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database names here are plain identifiers"
    );
    let admin_url = admin_url();
    let Ok(mut admin) = PgConnection::connect(&admin_url).await else {
        eprintln!("skipped: PostgreSQL at {admin_url} is not reachable");
        return Ok(None);
    };
    let exists = sea_orm::sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut admin)
        .await?
        .is_some();
    if !exists {
        sea_orm::sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await?;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(name);
    Ok(Some(url.to_string()))
}

/// Runs SQL statements (seeding scripts); the rows the last one touched.
///
/// # Errors
/// When a statement fails.
pub async fn execute(database: &Database, sql: &str) -> anyhow::Result<u64> {
    use sea_orm::ConnectionTrait;
    Ok(database
        .connection()
        .execute_unprepared(sql)
        .await?
        .rows_affected())
}

/// The first column of every row of `sql`, as text (counts, `EXPLAIN` plans).
///
/// # Errors
/// When the query fails.
pub async fn query_text(database: &Database, sql: &str) -> anyhow::Result<Vec<String>> {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = database
        .connection()
        .query_all(Statement::from_string(
            database.connection().get_database_backend(),
            sql,
        ))
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get_by_index::<String>(0)?))
        .collect()
}

/// Declares, for each named `async fn(Database) -> anyhow::Result<()>` of a test file, one test
/// on a fresh SQLite database and one on a fresh PostgreSQL database (skipped when PostgreSQL
/// cannot be reached, except under `CI=true`): every repository test runs on both. The runtime
/// has two worker threads, so tasks that race in a test really run at once.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> ::anyhow::Result<()> {
                let db = $crate::testing::TestDatabase::sqlite().await?;
                super::$name(db.database().clone()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> ::anyhow::Result<()> {
                let Some(db) = $crate::testing::TestDatabase::postgres().await? else {
                    return Ok(());
                };
                super::$name(db.database().clone()).await
            }
        }
    )*};
}
