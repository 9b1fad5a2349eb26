//! The calendar side of a conversation: what a calendar-aware call knows of the calendar (its
//! upcoming events, put in the system prompt), and the `check_availability` and
//! `book_appointment` tools, run through the [`Calendar`] port.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::agent::BuiltinTool;
use crate::ids::OrganizationId;
use crate::ports::{Calendar, CalendarEvent, EventTime, NewCalendarEvent};

/// Upcoming events a calendar-aware call carries in its prompt.
pub const EVENTS_IN_PROMPT: u32 = 5;
/// How long an appointment lasts when the model names no end.
const DEFAULT_APPOINTMENT_MINUTES: i64 = 30;
/// The longest appointment or availability range a tool accepts.
const MAX_RANGE_DAYS: i64 = 31;
/// Characters of an event's title shown in the prompt.
const TITLE_CHARS: usize = 60;

/// What a calendar-aware call knows of the organisation's calendar, taken when it started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarContext {
    /// The next few events, soonest first.
    pub upcoming: Vec<CalendarEvent>,
}

/// The specification the model sees for a calendar tool.
pub(super) fn spec(tool: BuiltinTool) -> Option<(&'static str, Value)> {
    match tool {
        BuiltinTool::CheckAvailability => Some((
            "Check when the calendar is busy between two times, before proposing or booking an \
             appointment. Times are ISO 8601 (2025-06-03T15:00); without an offset they are in \
             the organisation's time zone.",
            json!({
                "type": "object",
                "properties": {
                    "start": {"type": "string", "description": "Start of the range, ISO 8601"},
                    "end": {"type": "string", "description": "End of the range, ISO 8601"}
                },
                "required": ["start", "end"]
            }),
        )),
        BuiltinTool::BookAppointment => Some((
            "Book an appointment in the calendar once the caller agreed to a time. Times are ISO \
             8601 (2025-06-03T15:00); without an offset they are in the organisation's time \
             zone. Give an end or a duration (default 30 minutes).",
            json!({
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "Title of the appointment"},
                    "start": {"type": "string", "description": "When it starts, ISO 8601"},
                    "end": {"type": "string", "description": "When it ends, ISO 8601"},
                    "duration_minutes": {"type": "integer", "minimum": 5, "maximum": 480},
                    "attendee_email": {"type": "string", "description": "The caller's e-mail, to invite them"},
                    "description": {"type": "string", "description": "Notes for the appointment"}
                },
                "required": ["summary", "start"]
            }),
        )),
        _ => None,
    }
}

/// The calendar part of the system prompt.
pub(super) fn prompt_section(context: &CalendarContext, time_zone: &str) -> String {
    let mut text = String::from(
        "\nYou can check the calendar's availability and book appointments with your tools. \
         Check availability before you propose a time, and book only a time the caller agreed \
         to. Never tell the caller what other events are about.\n",
    );
    if context.upcoming.is_empty() {
        text.push_str("The calendar has no upcoming events.\n");
        return text;
    }
    text.push_str("Upcoming events in the calendar (busy times):\n");
    let zone = zone(time_zone);
    for event in &context.upcoming {
        let title: String = event
            .summary
            .as_deref()
            .unwrap_or("busy")
            .chars()
            .take(TITLE_CHARS)
            .collect();
        let _ = writeln!(
            text,
            "- {} to {}: {title}",
            event_time(&event.start, zone),
            event_time(&event.end, zone)
        );
    }
    text
}

fn zone(time_zone: &str) -> Tz {
    time_zone.parse().unwrap_or(Tz::UTC)
}

fn event_time(time: &EventTime, zone: Tz) -> String {
    match time {
        EventTime::At(at) => local(at.with_timezone(&Utc), zone),
        EventTime::AllDay(day) => format!("{} (all day)", day.format("%a %-d %b %Y")),
    }
}

fn local(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%a %-d %b %Y %H:%M")
        .to_string()
}

/// An ISO 8601 time from the model: with an offset as given, without one in `zone`.
fn parse_time(raw: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
    .ok_or_else(|| format!("{raw:?} is not an ISO 8601 time such as 2025-06-03T15:00"))?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| format!("{raw} does not exist in {zone}"))
}

fn argument<'a>(arguments: &'a Value, name: &str) -> Option<&'a str> {
    arguments[name]
        .as_str()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn required<'a>(arguments: &'a Value, name: &str) -> Result<&'a str, String> {
    argument(arguments, name).ok_or_else(|| format!("{name} is required"))
}

fn check_range(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), String> {
    if end <= start {
        return Err("the end must come after the start".into());
    }
    if end - start > Duration::days(MAX_RANGE_DAYS) {
        return Err(format!("the range may span at most {MAX_RANGE_DAYS} days"));
    }
    Ok(())
}

/// Runs a calendar tool and returns what the model is told; failures are told too, so the
/// model can say so or try again.
pub(super) async fn run(
    calendar: &dyn Calendar,
    organization: OrganizationId,
    time_zone: &str,
    tool: BuiltinTool,
    arguments: &Value,
) -> String {
    let zone = zone(time_zone);
    let result = match tool {
        BuiltinTool::CheckAvailability => {
            check_availability(calendar, organization, zone, arguments).await
        }
        BuiltinTool::BookAppointment => {
            book_appointment(calendar, organization, zone, arguments).await
        }
        _ => Err(format!("{} is not a calendar tool", tool.as_str())),
    };
    result.unwrap_or_else(|e| format!("error: {e}"))
}

async fn check_availability(
    calendar: &dyn Calendar,
    organization: OrganizationId,
    zone: Tz,
    arguments: &Value,
) -> Result<String, String> {
    let start = parse_time(required(arguments, "start")?, zone)?;
    let end = parse_time(required(arguments, "end")?, zone)?;
    check_range(start, end)?;
    let busy = calendar
        .busy(organization, start, end)
        .await
        .map_err(|e| e.to_string())?;
    let range = format!(
        "between {} and {} ({zone})",
        local(start, zone),
        local(end, zone)
    );
    if busy.is_empty() {
        return Ok(format!("The calendar is free {range}."));
    }
    let periods = busy
        .iter()
        .map(|p| format!("{} to {}", local(p.start, zone), local(p.end, zone)))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(format!(
        "The calendar is busy {range} at: {periods}. Every other time in that range is free."
    ))
}

async fn book_appointment(
    calendar: &dyn Calendar,
    organization: OrganizationId,
    zone: Tz,
    arguments: &Value,
) -> Result<String, String> {
    let summary = required(arguments, "summary")?;
    let start = parse_time(required(arguments, "start")?, zone)?;
    let end = match (
        argument(arguments, "end"),
        arguments["duration_minutes"].as_i64(),
    ) {
        (Some(end), _) => parse_time(end, zone)?,
        (None, Some(minutes)) if (5..=480).contains(&minutes) => start + Duration::minutes(minutes),
        (None, Some(_)) => return Err("duration_minutes must be 5 to 480".into()),
        (None, None) => start + Duration::minutes(DEFAULT_APPOINTMENT_MINUTES),
    };
    check_range(start, end)?;
    let attendee_email = argument(arguments, "attendee_email").map(ToOwned::to_owned);
    if let Some(email) = &attendee_email
        && crate::account::EmailAddress::parse(email).is_err()
    {
        return Err(format!("{email:?} is not an e-mail address"));
    }
    let event = NewCalendarEvent {
        summary: summary.chars().take(200).collect(),
        description: argument(arguments, "description").map(|d| d.chars().take(2000).collect()),
        start,
        end,
        attendee_email,
        time_zone: zone.name().to_owned(),
    };
    calendar
        .create_event(organization, &event)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "Booked \"{summary}\" from {} to {} ({zone}).",
        local(start, zone),
        local(end, zone)
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn times_without_an_offset_are_read_in_the_organisations_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let expected = Utc.with_ymd_and_hms(2031, 3, 4, 14, 0, 0).single().unwrap();
        assert_eq!(parse_time("2031-03-04T15:00", paris), Ok(expected));
        assert_eq!(parse_time("2031-03-04 15:00:00", paris), Ok(expected));
        assert_eq!(parse_time("2031-03-04T14:00:00Z", paris), Ok(expected));
        assert_eq!(parse_time("2031-03-04T16:00:00+02:00", paris), Ok(expected));
        assert!(parse_time("tomorrow at three", paris).is_err());
        // 02:30 does not exist in Paris on the night clocks go forward.
        assert!(parse_time("2031-03-30T02:30", paris).is_err());
    }

    #[test]
    fn ranges_must_be_forward_and_bounded() {
        let start = Utc.with_ymd_and_hms(2031, 3, 4, 14, 0, 0).single().unwrap();
        assert!(check_range(start, start + Duration::hours(1)).is_ok());
        assert!(check_range(start, start).is_err());
        assert!(check_range(start, start + Duration::days(MAX_RANGE_DAYS + 1)).is_err());
    }

    #[test]
    fn the_prompt_lists_upcoming_events_in_local_time() {
        let start = DateTime::parse_from_rfc3339("2031-03-04T14:00:00Z").unwrap();
        let end = DateTime::parse_from_rfc3339("2031-03-04T15:00:00Z").unwrap();
        let context = CalendarContext {
            upcoming: vec![CalendarEvent {
                id: "e1".into(),
                summary: Some("Board review".into()),
                description: None,
                location: None,
                start: EventTime::At(start),
                end: EventTime::At(end),
                attendees: Vec::new(),
                html_link: None,
            }],
        };
        let section = prompt_section(&context, "Europe/Paris");
        assert!(
            section.contains("- Tue 4 Mar 2031 15:00 to Tue 4 Mar 2031 16:00: Board review"),
            "{section}"
        );
        assert!(prompt_section(&CalendarContext::default(), "UTC").contains("no upcoming"));
    }
}
