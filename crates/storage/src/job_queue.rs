//! What every durable job table shares (post-call analyses, webhook deliveries): claiming due
//! rows so that no two claimers, on any connection or instance, get the same one, and settling
//! a claim only while it is still held.

use std::time::Duration;

use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Select, TransactionTrait,
    UpdateMany,
};
use switchboard_domain::ports::RepositoryError;

use crate::accounts::unexpected;
use crate::{Backend, Database};

/// Errors are kept for operators, not whole pages of them.
const MAX_ERROR_CHARS: usize = 2000;

/// `error`, cut to what a job row keeps.
pub(crate) fn clipped(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

pub(crate) fn chrono_of(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The empty claim token, typed for `Expr::value`.
pub(crate) fn no_token() -> Option<uuid::Uuid> {
    None
}

/// Claims the rows `due` selects, as `(key, attempts)` pairs, each through the update
/// `claim(key, attempts)`, which must match the row only while it is as it was read (the same
/// attempt count, still due). Returns the pairs whose update took.
///
/// On PostgreSQL the rows stay locked (`FOR UPDATE SKIP LOCKED`) until the commit: other
/// claimers skip them instead of waiting, so N workers share the queue without ever taking the
/// same row. SQLite has no row locks; there the guard in `claim` is what keeps two claimers
/// apart: of two that read the same row, only the first UPDATE still finds it unchanged.
pub(crate) async fn claim_rows<E>(
    db: &Database,
    due: Select<E>,
    claim: impl Fn(uuid::Uuid, i32) -> UpdateMany<E>,
) -> Result<Vec<(uuid::Uuid, i32)>, RepositoryError>
where
    E: EntityTrait,
{
    let connection = db.connection();
    match db.backend() {
        Backend::Postgres => {
            let txn = connection.begin().await.map_err(unexpected)?;
            let rows: Vec<(uuid::Uuid, i32)> = due
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .into_tuple()
                .all(&txn)
                .await
                .map_err(unexpected)?;
            let claimed = claim_each(&txn, rows, &claim).await?;
            txn.commit().await.map_err(unexpected)?;
            Ok(claimed)
        }
        Backend::Sqlite => {
            let rows: Vec<(uuid::Uuid, i32)> =
                due.into_tuple().all(connection).await.map_err(unexpected)?;
            claim_each(connection, rows, &claim).await
        }
    }
}

async fn claim_each<E: EntityTrait>(
    connection: &impl ConnectionTrait,
    rows: Vec<(uuid::Uuid, i32)>,
    claim: &impl Fn(uuid::Uuid, i32) -> UpdateMany<E>,
) -> Result<Vec<(uuid::Uuid, i32)>, RepositoryError> {
    let mut claimed = Vec::with_capacity(rows.len());
    for (key, attempts) in rows {
        let updated = claim(key, attempts)
            .exec(connection)
            .await
            .map_err(unexpected)?;
        if updated.rows_affected == 1 {
            claimed.push((key, attempts));
        }
    }
    Ok(claimed)
}

/// The columns that say who holds a job: its key, its status, and the claim's token.
pub(crate) struct ClaimColumns<C> {
    pub key: C,
    pub status: C,
    pub token: C,
}

/// Applies `update` to the job `key` if `token` still holds it (its status is `held`, the same
/// token): a claim lost to a lease takeover writes nothing. Whether the write happened. Run on
/// a transaction when the settlement writes elsewhere too.
pub(crate) async fn settle<E>(
    connection: &impl ConnectionTrait,
    columns: &ClaimColumns<E::Column>,
    update: UpdateMany<E>,
    (key, held, token): (uuid::Uuid, &str, uuid::Uuid),
) -> Result<bool, RepositoryError>
where
    E: EntityTrait,
{
    let updated = update
        .filter(columns.key.eq(key))
        .filter(columns.status.eq(held))
        .filter(columns.token.eq(token))
        .exec(connection)
        .await
        .map_err(unexpected)?;
    Ok(updated.rows_affected == 1)
}
