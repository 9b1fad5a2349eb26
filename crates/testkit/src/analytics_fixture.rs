//! Calls written straight into a test server's database with the start times, turn latencies
//! and analyses a test controls, and the analytics fixture: eight calls over local days of
//! New York around the end of summer time, whose figures are worked out by hand below and
//! checked number by number by the storage and black-box tests.
//!
//! The fixture's "now" is Wednesday 4 November 2026, 10:00 in New York (15:00 UTC); summer
//! time ended on Sunday 1 November at 02:00 (06:00 UTC), so 1 November lasted 25 hours. Over
//! the 7 days 29 October to 4 November (from 04:00 UTC on the 29th to 05:00 UTC on the 5th):
//!
//! | call | UTC start | local day | agent | status | secs | analysis | response ms |
//! |---|---|---|---|---|---|---|---|
//! | 1 | 10-29 03:30 | 10-28 (outside) | Ava | completed | 60 | positive 0.8 billing resolved | 100 |
//! | 2 | 10-29 04:10 | 10-29 | Ava | completed | 120 | positive 0.6 billing resolved | 200, 400 |
//! | 3 | 11-01 05:30 | 11-01 (01:30 EDT) | Ben | failed | 30 | negative -0.5 technical_support unresolved | 900 |
//! | 4 | 11-02 04:30 | 11-01 (23:30 EST) | Ava | completed | 90 | neutral 0.0 billing escalated | 300 (frame), 500 (token), 700 (total) |
//! | 5 | 11-03 04:59 | 11-02 (23:59) | Ben | completed | 45 | mixed 0.1 technical_support resolved | 150 |
//! | 6 | 11-03 05:00:30 | 11-03 (00:00:30) | Ava | completed | 200 | positive 0.9 returns resolved | 250, 350, ..., 1150 (10 turns) |
//! | 7 | 11-04 14:00 | 11-04 | Ava | in progress | - | - | 600 |
//! | 8 | 11-04 13:00 | 11-04 | Ben | completed | 60 | negative -0.7 billing unresolved | - |
//!
//! Bucketing by UTC date instead would move calls 4, 5 and 6 each a day later.

use chrono::{DateTime, Duration, Utc};
use switchboard_domain::call::{
    AnalyzerKind, Call, CallAnalysis, CallAnalysisState, CallChannel, CallDirection, CallStatus,
    Category, NewCallTurn, Resolution, Sentiment, Speaker, TurnLatency,
};
use switchboard_domain::ids::{AgentId, CallId, OrganizationId};
use switchboard_domain::ports::CallRepository;
use switchboard_storage::{Database, SeaOrmCalls};

/// The fixture's "now": 10:00 in New York on 4 November 2026.
pub const FIXTURE_NOW: &str = "2026-11-04T15:00:00Z";
/// The organisation's zone in the fixture.
pub const FIXTURE_TIME_ZONE: &str = "America/New_York";

/// A call to store as it was: when, how long, its turns' latencies and its analysis.
#[derive(Clone, Debug)]
pub struct CallRecord {
    pub agent_id: Option<AgentId>,
    pub started_at: DateTime<Utc>,
    pub status: CallStatus,
    /// Seconds from start to end; `None` for a call still going on.
    pub duration_secs: Option<i64>,
    /// One customer line and one agent answer with this latency each.
    pub latencies: Vec<TurnLatency>,
    /// `(sentiment, score, category, resolution)` of its completed analysis.
    pub analysis: Option<(Sentiment, f64, &'static str, Resolution)>,
}

/// An instant from RFC 3339.
///
/// # Panics
/// On a malformed literal: a mistake in the test.
#[must_use]
#[expect(clippy::expect_used, reason = "fixture literals")]
pub fn instant(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

/// A latency measured to the first token only (a text reply).
#[must_use]
pub fn answered_in(ms: u64) -> TurnLatency {
    TurnLatency {
        first_token_ms: Some(ms),
        total_ms: ms + 40,
        ..TurnLatency::default()
    }
}

/// The eight calls of the table above; `ava` and `ben` are the organisation's agents.
#[must_use]
pub fn analytics_fixture(ava: AgentId, ben: AgentId) -> Vec<CallRecord> {
    let record =
        |agent, at: &str, status, secs, latencies: Vec<TurnLatency>, analysis| CallRecord {
            agent_id: Some(agent),
            started_at: instant(at),
            status,
            duration_secs: secs,
            latencies,
            analysis,
        };
    let many = |values: &[u64]| values.iter().copied().map(answered_in).collect::<Vec<_>>();
    use CallStatus::{Completed, Failed, InProgress};
    use Resolution::{Escalated, Resolved, Unresolved};
    use Sentiment::{Mixed, Negative, Neutral, Positive};
    vec![
        record(
            ava,
            "2026-10-29T03:30:00Z",
            Completed,
            Some(60),
            many(&[100]),
            Some((Positive, 0.8, "billing", Resolved)),
        ),
        record(
            ava,
            "2026-10-29T04:10:00Z",
            Completed,
            Some(120),
            many(&[200, 400]),
            Some((Positive, 0.6, "billing", Resolved)),
        ),
        record(
            ben,
            "2026-11-01T05:30:00Z",
            Failed,
            Some(30),
            many(&[900]),
            Some((Negative, -0.5, "technical_support", Unresolved)),
        ),
        record(
            ava,
            "2026-11-02T04:30:00Z",
            Completed,
            Some(90),
            vec![
                // A voice turn: the first frame counts, not the earlier first token.
                TurnLatency {
                    first_token_ms: Some(100),
                    total_ms: 900,
                    first_frame_ms: Some(300),
                    ..TurnLatency::default()
                },
                answered_in(500),
                // Nothing but the whole reply was measured.
                TurnLatency {
                    total_ms: 700,
                    ..TurnLatency::default()
                },
            ],
            Some((Neutral, 0.0, "billing", Escalated)),
        ),
        record(
            ben,
            "2026-11-03T04:59:00Z",
            Completed,
            Some(45),
            many(&[150]),
            Some((Mixed, 0.1, "technical_support", Resolved)),
        ),
        record(
            ava,
            "2026-11-03T05:00:30Z",
            Completed,
            Some(200),
            many(&[650, 250, 1150, 350, 850, 450, 950, 550, 1050, 750]),
            Some((Positive, 0.9, "returns", Resolved)),
        ),
        record(
            ava,
            "2026-11-04T14:00:00Z",
            InProgress,
            None,
            many(&[600]),
            None,
        ),
        record(
            ben,
            "2026-11-04T13:00:00Z",
            Completed,
            Some(60),
            Vec::new(),
            Some((Negative, -0.7, "billing", Unresolved)),
        ),
    ]
}

/// Stores `records` as calls of `organization` through the storage adapters (transcripts
/// included), with their analyses completed; the ids in order.
///
/// # Errors
/// On storage failure.
pub async fn store_calls(
    database: &Database,
    organization: OrganizationId,
    records: &[CallRecord],
) -> anyhow::Result<Vec<CallId>> {
    let calls = SeaOrmCalls::new(database.clone());
    let mut ids = Vec::with_capacity(records.len());
    for record in records {
        let ended_at = record
            .duration_secs
            .map(|secs| record.started_at + Duration::seconds(secs));
        let call = Call {
            id: CallId::new(),
            organization_id: organization,
            agent_id: record.agent_id,
            agent_name: None,
            scenario: None,
            channel: CallChannel::Text,
            direction: CallDirection::Inbound,
            status: record.status,
            customer_name: None,
            phone_number: None,
            session_key: None,
            started_at: record.started_at,
            ended_at,
            end_reason: ended_at.map(|_| "hangup".to_owned()),
            context: serde_json::json!({}),
            conversation: Default::default(),
            version: 0,
            recording_url: None,
            provider_call_id: None,
            talk_secs: None,
            idempotency_key: None,
            metadata: serde_json::Value::Null,
            created_at: record.started_at,
            updated_at: ended_at.unwrap_or(record.started_at),
            analysis: CallAnalysisState::NotQueued,
        };
        let mut turns = Vec::new();
        for (i, latency) in record.latencies.iter().enumerate() {
            let at = record.started_at + Duration::seconds(i64::try_from(i).unwrap_or(0) * 2);
            turns.push(NewCallTurn {
                speaker: Speaker::Customer,
                text: format!("Question {i}"),
                at,
                latency: None,
            });
            turns.push(NewCallTurn {
                speaker: Speaker::Agent,
                text: format!("Answer {i}"),
                at: at + Duration::seconds(1),
                latency: Some(*latency),
            });
        }
        calls.insert(&call, &turns).await?;
        if let Some((sentiment, score, category, resolution)) = record.analysis {
            let analysis = CallAnalysis {
                summary: "As recorded.".to_owned(),
                sentiment,
                sentiment_score: score,
                category: Category::parse(category).map_err(anyhow::Error::msg)?,
                resolution,
                key_topics: Vec::new(),
                action_items: Vec::new(),
                extracted: serde_json::Map::new(),
                analyzer: AnalyzerKind::Local,
            };
            switchboard_storage::testing::record_analysis(
                database,
                call.id,
                &analysis,
                call.updated_at,
            )
            .await?;
        }
        ids.push(call.id);
    }
    Ok(ids)
}
