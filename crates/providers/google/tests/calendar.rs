//! `GoogleCalendar`'s Calendar v3 half against testkit's `FakeGoogle`: listing events, free/busy,
//! inserting an event, a refused access token, and which failures are retried (reads) and which
//! never are (an insert, which would book twice).

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use switchboard_domain::ports::{
    BusyPeriod, CalendarProvider, CalendarProviderError, EventTime, NewCalendarEvent,
};
use switchboard_testkit::FakeGoogle;

use support::{MAX_RETRIES, adapter, connected};

type TestResult = anyhow::Result<()>;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 5, 6, hour, minute, 0)
        .single()
        .unwrap_or_default()
}

fn moment(event_time: &EventTime) -> Option<DateTime<Utc>> {
    match event_time {
        EventTime::At(at) => Some(at.with_timezone(&Utc)),
        EventTime::AllDay(_) => None,
    }
}

fn new_event(attendee: Option<&str>) -> NewCalendarEvent {
    NewCalendarEvent {
        summary: "Viewing at 12 Elm Street".into(),
        description: Some("Booked by phone".into()),
        start: at(15, 0),
        end: at(15, 30),
        attendee_email: attendee.map(ToOwned::to_owned),
        time_zone: "Europe/Berlin".into(),
    }
}

#[tokio::test]
async fn events_come_soonest_first_from_the_given_time_at_most_max() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    // Added out of order; one ended before `from`, one is still running at `from`.
    let late = fake.add_event("Late", at(17, 0), at(18, 0));
    fake.add_event("Over", at(8, 0), at(9, 0));
    let running = fake.add_event("Running", at(9, 30), at(10, 30));
    let next = fake.add_event("Next", at(11, 0), at(11, 30));
    fake.add_event("Later still", at(19, 0), at(20, 0));
    let from = at(10, 0);

    let events = google
        .list_events(&tokens.access_token, "primary", from, 3)
        .await?;

    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [running.as_str(), next.as_str(), late.as_str()]);
    let first = &events[0];
    assert_eq!(first.summary.as_deref(), Some("Running"));
    assert_eq!(moment(&first.start), Some(at(9, 30)));
    assert_eq!(moment(&first.end), Some(at(10, 30)));
    assert!(
        first
            .html_link
            .as_deref()
            .is_some_and(|l| l.contains(&running))
    );

    let requests = fake.requests();
    let list = requests
        .last()
        .ok_or_else(|| anyhow::anyhow!("no request"))?;
    assert_eq!(list.method, "GET");
    assert_eq!(list.path, "/calendar/v3/calendars/primary/events");
    assert_eq!(list.query.get("timeMin"), Some("2030-05-06T10:00:00Z"));
    assert_eq!(list.query.get("maxResults"), Some("3"));
    assert_eq!(list.query.get("singleEvents"), Some("true"));
    assert_eq!(list.query.get("orderBy"), Some("startTime"));
    assert_eq!(
        list.authorization.as_deref(),
        Some(format!("Bearer {}", tokens.access_token).as_str())
    );
    Ok(())
}

#[tokio::test]
async fn a_calendar_id_is_one_escaped_path_segment() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;

    google
        .list_events(&tokens.access_token, "team/x#holidays@group", at(0, 0), 1)
        .await?;

    let requests = fake.requests();
    let path = &requests
        .last()
        .ok_or_else(|| anyhow::anyhow!("no request"))?
        .path;
    assert!(
        path.starts_with("/calendar/v3/calendars/team%2Fx%23holidays"),
        "{path}"
    );
    assert!(path.ends_with("/events"), "{path}");
    Ok(())
}

#[tokio::test]
async fn free_busy_answers_the_busy_periods_within_the_range() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    fake.add_event("Morning", at(9, 0), at(10, 0));
    fake.add_event("Runs past the end", at(11, 30), at(13, 0));
    fake.add_event("Outside", at(14, 0), at(15, 0));

    let busy = google
        .free_busy(&tokens.access_token, "primary", at(9, 30), at(12, 0))
        .await?;

    assert_eq!(
        busy,
        [
            BusyPeriod {
                start: at(9, 30),
                end: at(10, 0)
            },
            BusyPeriod {
                start: at(11, 30),
                end: at(12, 0)
            },
        ]
    );
    let requests = fake.requests();
    let query = requests
        .last()
        .ok_or_else(|| anyhow::anyhow!("no request"))?;
    assert_eq!(query.path, "/calendar/v3/freeBusy");
    assert_eq!(query.body["timeMin"], "2030-05-06T09:30:00Z");
    assert_eq!(query.body["timeMax"], "2030-05-06T12:00:00Z");
    assert_eq!(query.body["items"], serde_json::json!([{"id": "primary"}]));
    Ok(())
}

#[tokio::test]
async fn an_inserted_event_appears_in_the_calendar() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;

    let created = google
        .insert_event(
            &tokens.access_token,
            "primary",
            &new_event(Some("caller@example.com")),
        )
        .await?;

    let events = fake.events();
    assert_eq!(events.len(), 1);
    let stored = &events[0];
    assert_eq!(stored.id, created.id);
    assert_eq!(stored.summary.as_deref(), Some("Viewing at 12 Elm Street"));
    assert_eq!(stored.description.as_deref(), Some("Booked by phone"));
    assert_eq!((stored.start, stored.end), (at(15, 0), at(15, 30)));
    assert_eq!(stored.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(stored.attendees, ["caller@example.com"]);

    assert_eq!(created.summary.as_deref(), Some("Viewing at 12 Elm Street"));
    assert_eq!(moment(&created.start), Some(at(15, 0)));
    assert_eq!(moment(&created.end), Some(at(15, 30)));
    assert_eq!(created.attendees, ["caller@example.com"]);

    let requests = fake.requests();
    let insert = requests
        .last()
        .ok_or_else(|| anyhow::anyhow!("no request"))?;
    assert_eq!(insert.method, "POST");
    assert_eq!(
        insert.query.get("sendUpdates"),
        Some("all"),
        "the attendee is invited"
    );

    // Listing finds it too.
    let listed = google
        .list_events(&tokens.access_token, "primary", at(0, 0), 10)
        .await?;
    assert_eq!(listed, [created]);
    Ok(())
}

#[tokio::test]
async fn an_event_without_an_attendee_sends_no_invitation() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;

    let created = google
        .insert_event(&tokens.access_token, "primary", &new_event(None))
        .await?;

    assert!(created.attendees.is_empty());
    let requests = fake.requests();
    let insert = requests
        .last()
        .ok_or_else(|| anyhow::anyhow!("no request"))?;
    assert_eq!(insert.query.get("sendUpdates"), Some("none"));
    assert!(insert.body.get("attendees").is_none());
    Ok(())
}

#[tokio::test]
async fn a_refused_access_token_is_unauthorized_and_books_nothing() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    fake.expire_access_tokens();
    let token = &tokens.access_token;

    let listed = google.list_events(token, "primary", at(0, 0), 5).await;
    let busy = google.free_busy(token, "primary", at(0, 0), at(1, 0)).await;
    let inserted = google
        .insert_event(token, "primary", &new_event(None))
        .await;

    assert!(
        matches!(listed, Err(CalendarProviderError::Unauthorized)),
        "{listed:?}"
    );
    assert!(
        matches!(busy, Err(CalendarProviderError::Unauthorized)),
        "{busy:?}"
    );
    assert!(
        matches!(inserted, Err(CalendarProviderError::Unauthorized)),
        "{inserted:?}"
    );
    assert!(fake.events().is_empty());
    let refused = fake.requests().iter().filter(|r| r.answered == 401).count();
    assert_eq!(refused, 3, "a 401 is not retried: only a refresh helps");
    Ok(())
}

#[tokio::test]
async fn failing_reads_are_retried() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    fake.add_event("Standup", at(9, 0), at(9, 15));

    fake.fail_next_api_requests(2, 503);
    let events = google
        .list_events(&tokens.access_token, "primary", at(0, 0), 5)
        .await?;
    assert_eq!(events.len(), 1);

    fake.fail_next_api_requests(1, 500);
    let busy = google
        .free_busy(&tokens.access_token, "primary", at(0, 0), at(23, 0))
        .await?;
    assert_eq!(busy.len(), 1);

    let answered: Vec<u16> = fake
        .requests()
        .iter()
        .filter(|r| r.path != "/token")
        .map(|r| r.answered)
        .collect();
    assert_eq!(answered, [503, 503, 200, 500, 200]);
    Ok(())
}

#[tokio::test]
async fn a_read_that_keeps_failing_is_unavailable_after_the_retries() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    fake.fail_next_api_requests(10, 503);

    let result = google
        .list_events(&tokens.access_token, "primary", at(0, 0), 5)
        .await;

    let Err(CalendarProviderError::Unavailable(message)) = &result else {
        panic!("expected unavailable: {result:?}");
    };
    assert!(message.contains("503"), "{message}");
    let sent = fake
        .requests()
        .iter()
        .filter(|r| r.path != "/token")
        .count();
    assert_eq!(sent, usize::try_from(MAX_RETRIES)? + 1);
    Ok(())
}

#[tokio::test]
async fn a_failed_insert_is_never_sent_twice() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    fake.fail_next_api_requests(1, 503);

    let result = google
        .insert_event(&tokens.access_token, "primary", &new_event(None))
        .await;

    assert!(
        matches!(result, Err(CalendarProviderError::Unavailable(_))),
        "{result:?}"
    );
    let inserts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path != "/token")
        .count();
    assert_eq!(inserts, 1, "Google may have booked it before failing");
    assert!(fake.events().is_empty());
    Ok(())
}

#[tokio::test]
async fn an_event_google_refuses_is_rejected_with_its_reason() -> TestResult {
    let fake = FakeGoogle::start().await?;
    let google = adapter(&fake)?;
    let tokens = connected(&fake, &google).await?;
    let mut backwards = new_event(None);
    backwards.end = backwards.start - Duration::minutes(30);

    let result = google
        .insert_event(&tokens.access_token, "primary", &backwards)
        .await;

    let Err(CalendarProviderError::Rejected(message)) = &result else {
        panic!("expected a rejection: {result:?}");
    };
    assert!(message.contains("time range is empty"), "{message}");
    assert!(fake.events().is_empty());
    Ok(())
}
