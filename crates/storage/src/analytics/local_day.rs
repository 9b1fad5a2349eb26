//! The local date a call started on, as SQL, per backend: PostgreSQL converts with
//! `AT TIME ZONE` (its own time-zone database) to a `date`, which groups by a four-byte value
//! (no text sort under a collation); SQLite has no time zones, so the call's instant
//! is placed among the window's day boundaries, computed in Rust by chrono-tz, with a CASE
//! that halves the candidate days at each step (about log2(days) comparisons per row).

use chrono::NaiveDate;
use sea_orm::QueryResult;
use switchboard_domain::analytics::{AnalyticsWindow, LocalDay};
use switchboard_domain::ports::RepositoryError;

use super::sql::Sql;
use crate::Backend;
use crate::accounts::unexpected;

/// Appends an expression giving `column`'s local date: a `date` on PostgreSQL, `YYYY-MM-DD` text
/// on SQLite ([`read_local_date`] reads either). Only rows within the window may be passed to it
/// (the caller's WHERE clause keeps the others out).
pub fn push_local_date(sql: &mut Sql, column: &str, window: &AnalyticsWindow) {
    match sql.backend() {
        Backend::Postgres => {
            sql.push("CAST(")
                .push(column)
                .push(" AT TIME ZONE ")
                .bind(window.time_zone())
                .push(" AS DATE)");
        }
        Backend::Sqlite => push_search(sql, column, window.days()),
    }
}

/// The local date in `column` of `row`, as [`push_local_date`] gave it (NULL as `None`).
pub fn read_local_date(
    backend: Backend,
    row: &QueryResult,
    column: &str,
) -> Result<Option<NaiveDate>, RepositoryError> {
    match backend {
        Backend::Postgres => row.try_get("", column).map_err(unexpected),
        Backend::Sqlite => {
            let text: Option<String> = row.try_get("", column).map_err(unexpected)?;
            text.map(|text| {
                NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                    .map_err(|e| RepositoryError(anyhow::anyhow!("local date {text:?}: {e}")))
            })
            .transpose()
        }
    }
}

fn push_search(sql: &mut Sql, column: &str, days: &[LocalDay]) {
    match days {
        [] => {
            sql.push("NULL");
        }
        [day] => {
            sql.push("'").push(&day.date.to_string()).push("'");
        }
        _ => {
            let (earlier, later) = days.split_at(days.len() / 2);
            let boundary = later.first().map(|d| d.start);
            sql.push("(CASE WHEN ")
                .push(column)
                .push(" < ")
                .bind(boundary)
                .push(" THEN ");
            push_search(sql, column, earlier);
            sql.push(" ELSE ");
            push_search(sql, column, later);
            sql.push(" END)");
        }
    }
}
