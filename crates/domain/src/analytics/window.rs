//! The organisation's local days an analytics query covers, with the UTC instants each begins
//! and ends at, so a day that is 23 or 25 hours long (a daylight-saving change) is bucketed
//! right on every database.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The most days an analytics query may cover.
pub const MAX_DAYS: u32 = 90;

/// One local day: its date in the organisation's zone and the UTC instants of its first moment
/// and of the next day's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalDay {
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Consecutive local days, oldest first; never empty. A window is made ending with today; its
/// parts may end earlier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyticsWindow {
    time_zone: Tz,
    days: Vec<LocalDay>,
}

/// Why a window could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("must be between 1 and {MAX_DAYS}")]
    DaysOutOfRange,
    #[error("{0:?} is not an IANA time zone")]
    UnknownTimeZone(String),
}

/// The first instant of `date` in `zone`. Where a zone skips midnight (a daylight-saving change
/// at 00:00, as in Chile or Lebanon), the day begins at the first local time that exists.
fn first_instant(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    // Offsets change by at most a few hours; quarter-hour steps reach every zone's first minute.
    (0..=16)
        .map(|quarter| midnight + chrono::Duration::minutes(15 * quarter))
        .find_map(|local| zone.from_local_datetime(&local).earliest())
        .map_or_else(|| midnight.and_utc(), |at| at.with_timezone(&Utc))
}

impl AnalyticsWindow {
    /// The `days` local days of `time_zone` that end with the one `now` falls on.
    ///
    /// # Errors
    /// `DaysOutOfRange` outside 1..=[`MAX_DAYS`]; `UnknownTimeZone` for a name chrono-tz does
    /// not know (organisations' zones are checked when set, so this is a stored-data error).
    pub fn ending_at(now: DateTime<Utc>, time_zone: &str, days: u32) -> Result<Self, WindowError> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(WindowError::DaysOutOfRange);
        }
        let zone: Tz = time_zone
            .parse()
            .map_err(|_| WindowError::UnknownTimeZone(time_zone.to_owned()))?;
        let today = now.with_timezone(&zone).date_naive();
        let first = today
            .checked_sub_days(Days::new(u64::from(days - 1)))
            .unwrap_or(today);
        let days = first
            .iter_days()
            .take_while(|date| *date <= today)
            .map(|date| LocalDay {
                date,
                start: first_instant(zone, date),
                end: first_instant(zone, date.succ_opt().unwrap_or(date)),
            })
            .collect();
        Ok(Self {
            time_zone: zone,
            days,
        })
    }

    /// The last `days` days of this window (all of it when it is shorter).
    #[must_use]
    pub fn last(&self, days: u32) -> Self {
        let skip = self.days.len().saturating_sub(days.max(1) as usize);
        Self {
            time_zone: self.time_zone,
            days: self.days[skip..].to_vec(),
        }
    }

    /// The window cut into consecutive parts of at most `days` days each, oldest first; their
    /// days together are this window's.
    #[must_use]
    pub fn parts(&self, days: usize) -> Vec<Self> {
        self.days
            .chunks(days.max(1))
            .map(|days| Self {
                time_zone: self.time_zone,
                days: days.to_vec(),
            })
            .collect()
    }

    /// The zone's IANA name.
    #[must_use]
    pub fn time_zone(&self) -> &'static str {
        self.time_zone.name()
    }

    /// The days, oldest first.
    #[must_use]
    pub fn days(&self) -> &[LocalDay] {
        &self.days
    }

    /// The first instant covered.
    #[must_use]
    pub fn start(&self) -> DateTime<Utc> {
        self.days
            .first()
            .map_or(DateTime::<Utc>::MIN_UTC, |d| d.start)
    }

    /// The first instant after the window (the start of tomorrow).
    #[must_use]
    pub fn end(&self) -> DateTime<Utc> {
        self.days.last().map_or(DateTime::<Utc>::MIN_UTC, |d| d.end)
    }

    /// The last day: today.
    #[must_use]
    pub fn today(&self) -> NaiveDate {
        self.days.last().map_or(NaiveDate::MIN, |d| d.date)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn days_follow_the_zone_across_daylight_saving_changes() {
        // 10:00 in New York on Wednesday 4 November 2026; summer time ended on Sunday the 1st.
        let window =
            AnalyticsWindow::ending_at(at("2026-11-04T15:00:00Z"), "America/New_York", 7).unwrap();
        let days = window.days();
        assert_eq!(days.len(), 7);
        assert_eq!(days[0].date.to_string(), "2026-10-29");
        assert_eq!(days[0].start, at("2026-10-29T04:00:00Z"));
        let change = days
            .iter()
            .find(|d| d.date.to_string() == "2026-11-01")
            .unwrap();
        assert_eq!(change.start, at("2026-11-01T04:00:00Z"));
        assert_eq!(change.end, at("2026-11-02T05:00:00Z"), "a 25-hour day");
        assert_eq!(window.today().to_string(), "2026-11-04");
        assert_eq!(window.end(), at("2026-11-05T05:00:00Z"));
    }

    #[test]
    fn a_zone_skipping_midnight_starts_the_day_at_its_first_minute() {
        // Santiago moved its clocks from 00:00 to 01:00 on 6 September 2026.
        let window =
            AnalyticsWindow::ending_at(at("2026-09-06T12:00:00Z"), "America/Santiago", 1).unwrap();
        assert_eq!(window.start(), at("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn days_are_bounded() {
        let now = at("2026-11-04T15:00:00Z");
        assert_eq!(
            AnalyticsWindow::ending_at(now, "UTC", 0),
            Err(WindowError::DaysOutOfRange)
        );
        assert_eq!(
            AnalyticsWindow::ending_at(now, "UTC", 91),
            Err(WindowError::DaysOutOfRange)
        );
        assert_eq!(
            AnalyticsWindow::ending_at(now, "UTC", 90)
                .unwrap()
                .days()
                .len(),
            90
        );
        assert!(AnalyticsWindow::ending_at(now, "Mars/Olympus", 7).is_err());
    }

    #[test]
    fn parts_cover_the_window_in_order_without_overlap() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 15, 0, 0).unwrap();
        let window = AnalyticsWindow::ending_at(now, "America/New_York", 90).unwrap();
        let parts = window.parts(31);
        assert_eq!(
            parts.iter().map(|p| p.days().len()).collect::<Vec<_>>(),
            [31, 31, 28]
        );
        assert_eq!(parts[0].start(), window.start());
        assert_eq!(parts[2].end(), window.end());
        assert!(
            parts
                .windows(2)
                .all(|pair| pair[0].end() == pair[1].start())
        );
        let days: Vec<_> = parts.iter().flat_map(|p| p.days().to_vec()).collect();
        assert_eq!(days, window.days());
        assert_eq!(window.parts(100).len(), 1);
    }
}
