//! Calling windows: the local hours and weekdays in which a scheduled call may ring, in an IANA
//! time zone, and the next instant a window is open, across daylight-saving changes.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How many local days ahead `next_open` looks: a week of every weekday, and a second week for
/// a window the clocks jumped over on the day it should have opened.
const LOOKAHEAD_DAYS: i64 = 15;
/// The longest daylight-saving jump there is, in minutes (Lord Howe moves 30 minutes, most zones
/// 60); searched minute by minute for the moment clocks land after a gap.
const LONGEST_GAP_MINUTES: i64 = 24 * 60;

const DAY_NAMES: [(Weekday, &str, &str); 7] = [
    (Weekday::Mon, "mon", "monday"),
    (Weekday::Tue, "tue", "tuesday"),
    (Weekday::Wed, "wed", "wednesday"),
    (Weekday::Thu, "thu", "thursday"),
    (Weekday::Fri, "fri", "friday"),
    (Weekday::Sat, "sat", "saturday"),
    (Weekday::Sun, "sun", "sunday"),
];

/// When calls may ring: on `days`, from `start` (inclusive) to `end` (exclusive) on the wall
/// clock of `time_zone`. Built only through [`CallingWindow::parse`], so `start < end` and at
/// least one day hold for every window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowRecord", into = "WindowRecord")]
pub struct CallingWindow {
    time_zone: Tz,
    /// Monday first, each day once.
    days: Vec<Weekday>,
    start: NaiveTime,
    end: NaiveTime,
}

/// A window's stored and displayed form: names and `HH:MM` times.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WindowRecord {
    time_zone: String,
    days: Vec<String>,
    start: String,
    end: String,
}

impl TryFrom<WindowRecord> for CallingWindow {
    type Error = String;

    fn try_from(record: WindowRecord) -> Result<Self, Self::Error> {
        Self::parse(&record.time_zone, &record.days, &record.start, &record.end).map_err(|errors| {
            errors
                .into_iter()
                .map(|(field, message)| format!("{field}: {message}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl From<CallingWindow> for WindowRecord {
    fn from(window: CallingWindow) -> Self {
        Self {
            time_zone: window.time_zone.name().to_owned(),
            days: window.day_names().iter().map(|d| (*d).to_owned()).collect(),
            start: window.start.format("%H:%M").to_string(),
            end: window.end.format("%H:%M").to_string(),
        }
    }
}

fn parse_time(raw: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map_err(|_| format!("{raw:?} is not a time of day like 09:00 (24-hour HH:MM)"))
}

fn parse_day(raw: &str) -> Result<Weekday, String> {
    let name = raw.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .find(|(_, short, long)| name == *short || name == *long)
        .map(|(day, _, _)| *day)
        .ok_or_else(|| format!("{raw:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"))
}

fn parse_zone(raw: &str) -> Result<Tz, String> {
    let name = raw.trim();
    name.parse::<Tz>()
        .ok()
        .or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .copied()
                .find(|tz| tz.name().eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| format!("{name:?} is not an IANA time zone such as America/New_York"))
}

impl CallingWindow {
    /// Parses a window: an IANA zone name (any case), weekday names (`mon` or `monday`, any
    /// case, repeats ignored), and `HH:MM` start and end on the 24-hour clock.
    ///
    /// # Errors
    /// Each bad part as `(field, sentence)`, the fields named `time_zone`, `days`, `start`,
    /// `end`: an unknown zone, no days or an unknown day, a malformed time, or a start that is
    /// not before the end (windows across midnight are two windows' worth of rules this type
    /// does not model).
    pub fn parse(
        time_zone: &str,
        days: &[String],
        start: &str,
        end: &str,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let zone = parse_zone(time_zone)
            .map_err(|e| errors.push(("time_zone", e)))
            .ok();
        let mut weekdays = Vec::new();
        if days.is_empty() {
            errors.push(("days", "name at least one weekday".to_owned()));
        }
        for day in days {
            match parse_day(day) {
                Ok(day) if !weekdays.contains(&day) => weekdays.push(day),
                Ok(_) => {}
                Err(e) => errors.push(("days", e)),
            }
        }
        weekdays.sort_by_key(Weekday::num_days_from_monday);
        let start = parse_time(start)
            .map_err(|e| errors.push(("start", e)))
            .ok();
        let end = parse_time(end).map_err(|e| errors.push(("end", e))).ok();
        if let (Some(start), Some(end)) = (start, end)
            && start >= end
        {
            errors.push(("end", "must be later in the day than start".to_owned()));
        }
        match (zone, start, end) {
            (Some(time_zone), Some(start), Some(end)) if errors.is_empty() => Ok(Self {
                time_zone,
                days: weekdays,
                start,
                end,
            }),
            _ => Err(errors),
        }
    }

    /// The IANA name of the window's zone.
    #[must_use]
    pub fn time_zone(&self) -> &'static str {
        self.time_zone.name()
    }

    /// The window's weekdays as three-letter names, Monday first.
    #[must_use]
    pub fn day_names(&self) -> Vec<&'static str> {
        self.days
            .iter()
            .filter_map(|day| DAY_NAMES.iter().find(|(d, _, _)| d == day))
            .map(|(_, short, _)| *short)
            .collect()
    }

    /// The local time the window opens.
    #[must_use]
    pub const fn start(&self) -> NaiveTime {
        self.start
    }

    /// The local time the window closes (the first minute outside it).
    #[must_use]
    pub const fn end(&self) -> NaiveTime {
        self.end
    }

    /// Whether a call may ring at `at`: the wall clock of the zone then shows an allowed
    /// weekday and a time in `[start, end)`.
    #[must_use]
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.time_zone);
        let time = local.time();
        self.days.contains(&local.weekday()) && self.start <= time && time < self.end
    }

    /// `after` itself when the window is open then, else the first later instant it opens.
    ///
    /// Daylight saving: a start the clocks skip (02:30 on the night they jump from 02:00 to
    /// 03:00) opens when they land (03:00); a start they pass twice (the night they go back)
    /// opens at the first pass, or the second when `after` lies between the two. A window that
    /// would reopen only because clocks went back across its end, without passing its start,
    /// is found at its next regular opening: late, never outside the window.
    #[must_use]
    pub fn next_open(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_open(after) {
            return after;
        }
        let today = after.with_timezone(&self.time_zone).date_naive();
        // From the day before: where clocks go back across midnight, a local date can begin
        // before the previous one has ended.
        (-1..=LOOKAHEAD_DAYS)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .filter(|date| self.days.contains(&date.weekday()))
            .flat_map(|date| self.openings(date))
            .filter(|at| *at > after && self.is_open(*at))
            .min()
            // Unreachable for a parsed window: every week has an allowed day, and at most one
            // of its openings can fall in a gap. Ringing now is the least surprising fallback.
            .unwrap_or(after)
    }

    /// The instants the wall clock shows `start` on `date`: one, two when clocks go back over
    /// it, or the moment they land when they jump over it.
    fn openings(&self, date: NaiveDate) -> Vec<DateTime<Utc>> {
        let naive = date.and_time(self.start);
        match self.time_zone.from_local_datetime(&naive) {
            LocalResult::Single(at) => vec![at.with_timezone(&Utc)],
            LocalResult::Ambiguous(first, second) => {
                vec![first.with_timezone(&Utc), second.with_timezone(&Utc)]
            }
            LocalResult::None => (1..=LONGEST_GAP_MINUTES)
                .find_map(|minutes| {
                    self.time_zone
                        .from_local_datetime(&(naive + Duration::minutes(minutes)))
                        .earliest()
                })
                .map(|at| at.with_timezone(&Utc))
                .into_iter()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn window(zone: &str, days: &[&str], start: &str, end: &str) -> CallingWindow {
        let days: Vec<String> = days.iter().map(|d| (*d).to_owned()).collect();
        CallingWindow::parse(zone, &days, start, end).unwrap()
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    const WEEKDAYS: [&str; 5] = ["mon", "tue", "wed", "thu", "fri"];

    #[test]
    fn an_open_window_answers_the_instant_itself() {
        let w = window("Europe/Berlin", &WEEKDAYS, "09:00", "17:00");
        // Wednesday 2026-06-10, 10:15 in Berlin (UTC+2).
        let at = utc("2026-06-10T08:15:00Z");
        assert!(w.is_open(at));
        assert_eq!(w.next_open(at), at);
    }

    #[test]
    fn before_the_start_waits_for_it_and_the_end_is_exclusive() {
        let w = window("Europe/Berlin", &WEEKDAYS, "09:00", "17:00");
        assert_eq!(
            w.next_open(utc("2026-06-10T05:00:00Z")),
            utc("2026-06-10T07:00:00Z")
        );
        // 17:00 sharp is closed: Thursday 09:00.
        let closing = utc("2026-06-10T15:00:00Z");
        assert!(!w.is_open(closing));
        assert!(w.is_open(closing - Duration::seconds(1)));
        assert_eq!(w.next_open(closing), utc("2026-06-11T07:00:00Z"));
    }

    #[test]
    fn friday_evening_waits_for_monday_and_only_listed_days_open() {
        let w = window("America/New_York", &WEEKDAYS, "09:00", "17:00");
        // Friday 2026-06-12 18:00 EDT.
        let friday_evening = utc("2026-06-12T22:00:00Z");
        assert_eq!(w.next_open(friday_evening), utc("2026-06-15T13:00:00Z"));
        let weekends = window("America/New_York", &["Saturday", "SUN"], "10:00", "12:00");
        assert_eq!(weekends.day_names(), ["sat", "sun"]);
        assert_eq!(
            weekends.next_open(friday_evening),
            utc("2026-06-13T14:00:00Z")
        );
        // Sunday noon is over: the next Saturday.
        assert_eq!(
            weekends.next_open(utc("2026-06-14T16:00:00Z")),
            utc("2026-06-20T14:00:00Z")
        );
    }

    #[test]
    fn the_local_day_decides_not_the_utc_day() {
        // Monday 2026-06-15 01:00 UTC is still Sunday evening in New York.
        let w = window("America/New_York", &["sun"], "20:00", "22:00");
        assert!(w.is_open(utc("2026-06-15T01:00:00Z")));
        // Monday 2026-06-15 22:30 UTC is Tuesday morning in Tokyo.
        let tokyo = window("Asia/Tokyo", &["tue"], "07:00", "08:00");
        assert!(tokyo.is_open(utc("2026-06-15T22:30:00Z")));
    }

    #[test]
    fn the_same_local_hours_move_in_utc_across_daylight_saving() {
        // New York springs forward on Sunday 2026-03-08.
        let w = window("America/New_York", &WEEKDAYS, "09:00", "17:00");
        // Friday 18:00 EST -> Monday 09:00 EDT, which is 13:00 UTC, not 14:00.
        assert_eq!(
            w.next_open(utc("2026-03-06T23:00:00Z")),
            utc("2026-03-09T13:00:00Z")
        );
        // And back on Sunday 2026-11-01: Friday 18:00 EDT -> Monday 09:00 EST = 14:00 UTC.
        assert_eq!(
            w.next_open(utc("2026-10-30T22:00:00Z")),
            utc("2026-11-02T14:00:00Z")
        );
    }

    #[test]
    fn a_start_the_clocks_skip_opens_when_they_land() {
        // On 2026-03-08 New York goes from 01:59:59 EST to 03:00 EDT (07:00 UTC).
        let w = window("America/New_York", &["sun"], "02:30", "04:00");
        let midnight = utc("2026-03-08T05:00:00Z");
        assert_eq!(w.next_open(midnight), utc("2026-03-08T07:00:00Z"));
        // A window wholly inside the gap never opens that day: the next Sunday.
        let lost = window("America/New_York", &["sun"], "02:00", "02:30");
        assert_eq!(lost.next_open(midnight), utc("2026-03-15T06:00:00Z"));
    }

    #[test]
    fn a_start_the_clocks_pass_twice_opens_at_each_pass() {
        // On 2026-11-01 New York goes from 01:59:59 EDT back to 01:00 EST (06:00 UTC).
        let w = window("America/New_York", &["sun"], "01:00", "01:30");
        let midnight = utc("2026-11-01T04:00:00Z");
        // The first 01:00 is EDT.
        assert_eq!(w.next_open(midnight), utc("2026-11-01T05:00:00Z"));
        // At 01:45 EDT the window has closed; it opens again at 01:00 EST.
        let between = utc("2026-11-01T05:45:00Z");
        assert!(!w.is_open(between));
        assert_eq!(w.next_open(between), utc("2026-11-01T06:00:00Z"));
        // After the second pass: next Sunday.
        assert_eq!(
            w.next_open(utc("2026-11-01T06:30:00Z")),
            utc("2026-11-08T06:00:00Z")
        );
    }

    #[test]
    fn next_open_is_the_first_open_minute_around_a_change() {
        // Two weeks around London's spring change (2026-03-29, 01:00 GMT -> 02:00 BST, inside
        // this window): asked at any whole minute, next_open is exactly the first whole minute
        // at which the window is open.
        let w = window("Europe/London", &["sat", "sun", "mon"], "00:30", "02:15");
        let from = utc("2026-03-23T00:00:00Z");
        let minutes = 14 * 24 * 60;
        let open: Vec<bool> = (0..minutes)
            .map(|m| w.is_open(from + Duration::minutes(m)))
            .collect();
        let mut first_open_from = vec![None; open.len() + 1];
        for m in (0..open.len()).rev() {
            first_open_from[m] = if open[m] {
                Some(m)
            } else {
                first_open_from[m + 1]
            };
        }
        for m in (0..open.len()).step_by(7) {
            let at = from + Duration::minutes(m as i64);
            if let Some(first) = first_open_from[m] {
                assert_eq!(
                    w.next_open(at),
                    from + Duration::minutes(first as i64),
                    "asked at {at}"
                );
            }
        }
        assert!(open.iter().any(|o| *o) && !open.iter().all(|o| *o));
    }

    #[test]
    fn bad_windows_name_every_bad_part() {
        let days = |d: &[&str]| d.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>();
        let fields = |r: Result<CallingWindow, Vec<(&'static str, String)>>| {
            r.unwrap_err()
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fields(CallingWindow::parse(
                "Mars/Olympus",
                &days(&["mon"]),
                "9am",
                "17:00"
            )),
            ["time_zone", "start"]
        );
        assert_eq!(
            fields(CallingWindow::parse("UTC", &[], "09:00", "17:00")),
            ["days"]
        );
        assert_eq!(
            fields(CallingWindow::parse(
                "UTC",
                &days(&["mon", "funday"]),
                "09:00",
                "25:00"
            )),
            ["days", "end"]
        );
        assert_eq!(
            fields(CallingWindow::parse(
                "UTC",
                &days(&["mon"]),
                "17:00",
                "09:00"
            )),
            ["end"]
        );
        assert_eq!(
            fields(CallingWindow::parse(
                "UTC",
                &days(&["mon"]),
                "09:00",
                "09:00"
            )),
            ["end"]
        );
    }

    #[test]
    fn windows_round_trip_through_json() {
        let w = window("america/new_york", &["fri", "mon", "mon"], "09:00", "17:30");
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "time_zone": "America/New_York",
                "days": ["mon", "fri"],
                "start": "09:00",
                "end": "17:30",
            })
        );
        assert_eq!(serde_json::from_value::<CallingWindow>(json).unwrap(), w);
        assert!(
            serde_json::from_value::<CallingWindow>(serde_json::json!({
                "time_zone": "UTC", "days": [], "start": "09:00", "end": "10:00"
            }))
            .is_err()
        );
    }
}
