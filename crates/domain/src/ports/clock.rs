//! The clock port: services ask it for "now" so tests can move time instead of waiting.

use chrono::{DateTime, SubsecRound, Utc};

/// Tells the current time.
pub trait Clock: Send + Sync {
    /// The current instant in UTC. Successive calls never go backwards for a given clock.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Microsecond precision: what PostgreSQL stores, so a time reads back as it was handed out.
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}
