//! What a client sends to schedule calls, and its parsing into checked values: the number(s),
//! the time, the window and the retry policy, each bad field named.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use super::model::RetryPolicy;
use super::window::CallingWindow;
use crate::phone_number::E164;
use crate::validation::ValidationErrors;

/// The most numbers one campaign may schedule.
pub const MAX_CAMPAIGN_NUMBERS: usize = 1000;
/// How far ahead a call may be scheduled.
pub const MAX_DAYS_AHEAD: i64 = 366;
const MAX_NAME_CHARS: usize = 200;

/// One number to call, with the name of whoever answers it.
#[derive(Clone, Debug, Default)]
pub struct Recipient {
    pub phone_number: String,
    pub customer_name: Option<String>,
}

/// A calling window as sent: `start` and `end` are required, `days` default to every day and
/// `time_zone` to the organisation's.
#[derive(Clone, Debug, Default)]
pub struct WindowRequest {
    pub time_zone: Option<String>,
    pub days: Option<Vec<String>>,
    pub start: Option<String>,
    pub end: Option<String>,
}

/// The settings of a scheduled call (or of every call of a campaign), as sent.
#[derive(Clone, Debug, Default)]
pub struct ScheduleRequest {
    /// The agent that talks; else `scenario`; else the organisation's default.
    pub agent_id: Option<String>,
    /// A built-in scenario's name or one of the user's custom scenario ids.
    pub scenario: Option<String>,
    /// RFC 3339 (`2026-01-15T14:00:00Z`); without an offset it is UTC. Unset or past: now.
    pub scheduled_time: Option<String>,
    pub window: Option<WindowRequest>,
    /// Attempts in all, 1 to 10 (default 1).
    pub max_attempts: Option<u32>,
    /// Minutes between attempts, 1 to 1440 (default 10).
    pub retry_delay_minutes: Option<u32>,
}

/// Parses the requested time: RFC 3339, or an ISO date and time without offset taken as UTC
/// (as clients that drop the `Z` send it). A time already past means now; more than a year
/// ahead is refused.
pub(super) fn parse_time(
    raw: Option<&str>,
    now: DateTime<Utc>,
    errors: &mut ValidationErrors,
) -> DateTime<Utc> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return now;
    };
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
            .map(|naive| naive.and_utc())
        });
    match parsed {
        None => {
            errors.add(
                "scheduled_time",
                format!("{raw:?} is not a date and time like 2026-01-15T14:00:00Z"),
            );
            now
        }
        Some(at) if at > now + Duration::days(MAX_DAYS_AHEAD) => {
            errors.add(
                "scheduled_time",
                format!("must be at most {MAX_DAYS_AHEAD} days ahead"),
            );
            now
        }
        Some(at) => at.max(now),
    }
}

/// Parses the window, defaulting its zone to `default_zone`.
pub(super) fn parse_window(
    request: Option<&WindowRequest>,
    default_zone: &str,
    errors: &mut ValidationErrors,
) -> Option<CallingWindow> {
    let request = request?;
    let mut missing = false;
    for (field, value) in [("start", &request.start), ("end", &request.end)] {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            errors.add(
                format!("window.{field}"),
                "is required for a calling window",
            );
            missing = true;
        }
    }
    if missing {
        return None;
    }
    let every_day: Vec<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| (*d).to_owned())
        .collect();
    CallingWindow::parse(
        request.time_zone.as_deref().unwrap_or(default_zone),
        request.days.as_deref().unwrap_or(&every_day),
        request.start.as_deref().unwrap_or_default(),
        request.end.as_deref().unwrap_or_default(),
    )
    .map_err(|bad| {
        for (field, message) in bad {
            errors.add(format!("window.{field}"), message);
        }
    })
    .ok()
}

/// Parses the retry policy.
pub(super) fn parse_retry(request: &ScheduleRequest, errors: &mut ValidationErrors) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    if let Some(max) = request.max_attempts {
        if (1..=RetryPolicy::MAX_ATTEMPTS).contains(&max) {
            policy.max_attempts = max;
        } else {
            errors.add(
                "max_attempts",
                format!("must be between 1 and {}", RetryPolicy::MAX_ATTEMPTS),
            );
        }
    }
    if let Some(minutes) = request.retry_delay_minutes {
        if RetryPolicy::DELAY_MINUTES.contains(&minutes) {
            policy.delay = Duration::minutes(i64::from(minutes));
        } else {
            errors.add(
                "retry_delay_minutes",
                format!(
                    "must be between {} and {}",
                    RetryPolicy::DELAY_MINUTES.start(),
                    RetryPolicy::DELAY_MINUTES.end()
                ),
            );
        }
    }
    policy
}

/// Parses one recipient, naming its fields under `prefix` (`phone_number`, or
/// `numbers[3].phone_number` in a campaign).
pub(super) fn parse_recipient(
    recipient: &Recipient,
    number_field: &str,
    name_field: &str,
    errors: &mut ValidationErrors,
) -> Option<(E164, Option<String>)> {
    let number = if recipient.phone_number.trim().is_empty() {
        errors.add(number_field, "required: an E.164 number like +14155550123");
        None
    } else {
        errors.check(number_field, E164::parse(&recipient.phone_number))
    };
    let name = recipient
        .customer_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(ToOwned::to_owned);
    if name
        .as_deref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
    {
        errors.add(
            name_field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        );
        return None;
    }
    number.map(|number| (number, name))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn times_with_or_without_offset_and_past_times_mean_now() {
        let now = utc("2026-06-10T08:00:00Z");
        let mut errors = ValidationErrors::new();
        assert_eq!(
            parse_time(Some("2026-06-11T10:00:00+02:00"), now, &mut errors),
            utc("2026-06-11T08:00:00Z")
        );
        assert_eq!(
            parse_time(Some("2026-06-11T10:00:00"), now, &mut errors),
            utc("2026-06-11T10:00:00Z")
        );
        assert_eq!(
            parse_time(Some("2024-01-15T14:00:00Z"), now, &mut errors),
            now
        );
        assert_eq!(parse_time(None, now, &mut errors), now);
        assert!(errors.is_empty());
        parse_time(Some("tomorrow"), now, &mut errors);
        parse_time(Some("2028-01-01T00:00:00Z"), now, &mut errors);
        assert_eq!(errors.errors().len(), 2);
        assert!(errors.errors().iter().all(|e| e.field == "scheduled_time"));
    }

    #[test]
    fn windows_need_hours_and_default_to_every_day_in_the_organisation_zone() {
        let mut errors = ValidationErrors::new();
        let window = parse_window(
            Some(&WindowRequest {
                start: Some("09:00".into()),
                end: Some("17:00".into()),
                ..WindowRequest::default()
            }),
            "Europe/Berlin",
            &mut errors,
        )
        .unwrap();
        assert_eq!(window.time_zone(), "Europe/Berlin");
        assert_eq!(window.day_names().len(), 7);
        assert!(parse_window(None, "UTC", &mut errors).is_none());
        assert!(errors.is_empty());
        assert!(parse_window(Some(&WindowRequest::default()), "UTC", &mut errors).is_none());
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["window.start", "window.end"]);
    }

    #[test]
    fn retry_bounds() {
        let mut errors = ValidationErrors::new();
        let policy = parse_retry(
            &ScheduleRequest {
                max_attempts: Some(3),
                retry_delay_minutes: Some(5),
                ..ScheduleRequest::default()
            },
            &mut errors,
        );
        assert_eq!(policy.max_attempts, 3);
        assert_eq!(policy.delay, Duration::minutes(5));
        parse_retry(
            &ScheduleRequest {
                max_attempts: Some(0),
                retry_delay_minutes: Some(2000),
                ..ScheduleRequest::default()
            },
            &mut errors,
        );
        let fields: Vec<&str> = errors.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["max_attempts", "retry_delay_minutes"]);
    }
}
