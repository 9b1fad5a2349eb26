//! A clock that only moves when a test says so.

use std::sync::Mutex;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use switchboard_domain::ports::Clock;

/// Starts at the real time of its creation and moves only through [`ManualClock::advance`].
#[derive(Debug)]
pub struct ManualClock {
    // A std mutex: reads are instant and never await.
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at the current time.
    #[must_use]
    pub fn new() -> Self {
        Self {
            // Microseconds, as the system clock: what PostgreSQL keeps.
            now: Mutex::new(Utc::now().trunc_subsecs(6)),
        }
    }

    /// A clock standing at `at` (to the microsecond).
    #[must_use]
    pub fn at(at: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(at.trunc_subsecs(6)),
        }
    }

    /// The time it shows (as [`Clock::now`], without the trait in scope).
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        Clock::now(self)
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.now.lock().map_or_else(|e| *e.into_inner(), |now| *now)
    }
}
