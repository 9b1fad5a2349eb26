//! Live figures of an organisation's calls for dashboards: two counts the database answers from
//! its indexes, cheap enough to read whenever a call starts or ends.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::model::{CallFilter, CallSort};
use super::service::{CallError, CallService};
use crate::ids::OrganizationId;
use crate::page::PageRequest;

/// How many calls are live, and how many started today (in the organisation's time zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LiveCounts {
    pub active_calls: u64,
    pub calls_today: u64,
}

/// The start of `now`'s day in `zone`, as an instant.
fn start_of_day(now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    now.with_timezone(&zone)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.and_local_timezone(zone).earliest())
        .map_or(now - chrono::Duration::hours(24), |start| {
            start.with_timezone(&Utc)
        })
}

impl CallService {
    /// The organisation's live figures now.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn live_counts(&self, organization: OrganizationId) -> Result<LiveCounts, CallError> {
        let ports = self.ports();
        let zone = ports
            .accounts
            .find_organization(organization)
            .await?
            .and_then(|org| org.time_zone.parse::<Tz>().ok())
            .unwrap_or(Tz::UTC);
        let filter = CallFilter {
            started_from: Some(start_of_day(ports.clock.now(), zone)),
            ..CallFilter::default()
        };
        let one = PageRequest {
            page: 1,
            page_size: 1,
        };
        let calls_today = ports
            .calls
            .list(organization, &filter, CallSort::Newest, one)
            .await?
            .total;
        let active_calls = ports.calls.count_active(organization).await?;
        Ok(LiveCounts {
            active_calls,
            calls_today,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_day_starts_at_local_midnight() {
        let now = Utc.with_ymd_and_hms(2025, 3, 1, 3, 30, 0).unwrap();
        assert_eq!(
            start_of_day(now, Tz::UTC),
            Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()
        );
        // 03:30 UTC is still the evening before in New York (UTC-5).
        assert_eq!(
            start_of_day(now, Tz::America__New_York),
            Utc.with_ymd_and_hms(2025, 2, 28, 5, 0, 0).unwrap()
        );
    }
}
