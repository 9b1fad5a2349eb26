//! A stored copy of a Voice Intelligence transcript, and what the index of transcripts filters
//! by.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::TranscriptSid;
use crate::call::CallDirection;
use crate::ids::{OrganizationId, StoredTranscriptId, UserId};

/// The longest scenario name a stored transcript is labelled with.
pub const MAX_SCENARIO_NAME_CHARS: usize = 200;

/// What the adapter read out of the transcript resource, so lists can filter and order without
/// opening the JSON. Every field is optional: the service adds fields over time and some are
/// null until the transcript is done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranscriptFacts {
    /// `queued`, `in-progress`, `completed`, `new`, `failed`, `canceled` or `error`.
    pub status: Option<String>,
    pub date_created: Option<DateTime<Utc>>,
    pub date_updated: Option<DateTime<Utc>>,
    /// Seconds of transcribed media.
    pub duration_secs: Option<i64>,
    pub language_code: Option<String>,
    /// The call or recording the transcript's channel names (`CA...`, `RE...`), when it names
    /// one.
    pub source_sid: Option<String>,
}

/// A transcript and all its sentences, as fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchedTranscript {
    /// The transcript resource exactly as the service answered it.
    pub resource: Value,
    /// Every sentence object exactly as the service answered it, in order.
    pub sentences: Vec<Value>,
    pub facts: TranscriptFacts,
}

/// How a stored transcript is labelled for the index: given when it is stored, else taken from
/// the organisation's own call the transcript names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranscriptLabels {
    pub scenario_name: Option<String>,
    pub call_direction: Option<CallDirection>,
}

/// An organisation's copy of a Voice Intelligence transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTranscript {
    pub id: StoredTranscriptId,
    pub organization_id: OrganizationId,
    /// Who stored it.
    pub user_id: UserId,
    pub sid: TranscriptSid,
    /// The transcript resource, verbatim.
    pub resource: Value,
    /// Its sentences, verbatim and in order.
    pub sentences: Vec<Value>,
    pub facts: TranscriptFacts,
    pub labels: TranscriptLabels,
    pub stored_at: DateTime<Utc>,
}

impl StoredTranscript {
    /// When the conversation took place, as far as is known: the transcript's creation, else
    /// when it was stored. Lists order by it.
    #[must_use]
    pub fn call_date(&self) -> DateTime<Utc> {
        self.facts.date_created.unwrap_or(self.stored_at)
    }
}

/// Which transcripts the index shows; every field narrows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranscriptFilter {
    pub direction: Option<CallDirection>,
    /// A scenario's name (or a custom scenario's id), compared without regard to case.
    pub scenario_name: Option<String>,
}
