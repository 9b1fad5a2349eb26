//! The local date a call started on, as SQL, per backend: PostgreSQL converts with
//! `AT TIME ZONE` (its own time-zone database); SQLite has no time zones, so the call's instant
//! is placed among the window's day boundaries, computed in Rust by chrono-tz, with a CASE
//! that halves the candidate days at each step (about log2(days) comparisons per row).

use switchboard_domain::analytics::{AnalyticsWindow, LocalDay};

use super::sql::Sql;
use crate::Backend;

/// Appends an expression giving `column`'s local date as `YYYY-MM-DD` text. Only rows within
/// the window may be passed to it (the caller's WHERE clause keeps the others out).
pub fn push_local_date(sql: &mut Sql, column: &str, window: &AnalyticsWindow) {
    match sql.backend() {
        Backend::Postgres => {
            sql.push("to_char(")
                .push(column)
                .push(" AT TIME ZONE ")
                .bind(window.time_zone())
                .push(", 'YYYY-MM-DD')");
        }
        Backend::Sqlite => push_search(sql, column, window.days()),
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
