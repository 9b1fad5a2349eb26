//! [`TranscriptService`]: storing Voice Intelligence transcripts (fetched once, de-duplicated per
//! organisation), reading the stored copies, and the enhanced view over them and the
//! organisation's own calls.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::{debug, instrument};

use super::{
    EnhancedTranscript, MAX_SCENARIO_NAME_CHARS, StoredTranscript, TranscriptFilter,
    TranscriptLabels, TranscriptSid,
};
use crate::ValidationErrors;
use crate::call::{Call, CallDirection};
use crate::ids::{CallId, OrganizationId, StoredTranscriptId, UserId};
use crate::page::{PageRequest, Paged};
use crate::ports::{
    CallRepository, Clock, RepositoryError, StoreOutcome, StoredTranscriptRepository,
    TranscriptEntry, TranscriptSource, TranscriptSourceError,
};

/// What a transcript operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// The sid is not `GT` and 32 hexadecimal digits.
    #[error("{0}")]
    InvalidSid(String),
    #[error("transcript not found")]
    NotFound,
    /// Fetching needs Twilio's account and auth token.
    #[error("Twilio transcripts are not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")]
    NotConfigured,
    #[error(transparent)]
    Source(TranscriptSourceError),
    #[error("invalid request")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RepositoryError> for TranscriptError {
    fn from(e: RepositoryError) -> Self {
        Self::Unexpected(e.0)
    }
}

impl From<TranscriptSourceError> for TranscriptError {
    fn from(e: TranscriptSourceError) -> Self {
        match e {
            TranscriptSourceError::NotFound => Self::NotFound,
            TranscriptSourceError::Unexpected(cause) => Self::Unexpected(cause),
            other => Self::Source(other),
        }
    }
}

/// How to label a transcript being stored; what is not given is taken from the organisation's
/// own call the transcript names, when there is one.
#[derive(Clone, Debug, Default)]
pub struct StoreRequest {
    pub scenario_name: Option<String>,
    pub call_direction: Option<String>,
}

/// A stored transcript and whether this request stored it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub transcript: StoredTranscript,
    /// `false` when the organisation had it already, and Twilio was not asked again.
    pub created: bool,
}

/// What the service works with.
#[derive(Clone)]
pub struct TranscriptPorts {
    pub stored: Arc<dyn StoredTranscriptRepository>,
    pub calls: Arc<dyn CallRepository>,
    /// Twilio Voice Intelligence, when configured.
    pub source: Option<Arc<dyn TranscriptSource>>,
    pub clock: Arc<dyn Clock>,
}

/// Transcripts of an organisation.
#[derive(Clone)]
pub struct TranscriptService {
    ports: TranscriptPorts,
}

/// A transcript sid from a path, as `InvalidSid` when malformed.
fn parse_sid(raw: &str) -> Result<TranscriptSid, TranscriptError> {
    TranscriptSid::parse(raw).map_err(TranscriptError::InvalidSid)
}

/// The labels a request gives, checked.
fn labels_of(request: StoreRequest) -> Result<TranscriptLabels, TranscriptError> {
    let mut errors = ValidationErrors::new();
    let scenario_name = request
        .scenario_name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    if scenario_name
        .as_ref()
        .is_some_and(|name| name.chars().count() > MAX_SCENARIO_NAME_CHARS)
    {
        errors.add(
            "scenario_name",
            format!("must be at most {MAX_SCENARIO_NAME_CHARS} characters"),
        );
    }
    let call_direction = request
        .call_direction
        .filter(|raw| !raw.trim().is_empty())
        .and_then(|raw| {
            CallDirection::parse(&raw)
                .map_err(|message| errors.add("call_direction", message))
                .ok()
        });
    if !errors.is_empty() {
        return Err(TranscriptError::Invalid(errors));
    }
    Ok(TranscriptLabels {
        scenario_name,
        call_direction,
    })
}

impl TranscriptService {
    /// Wires the service to its ports.
    #[must_use]
    pub fn new(ports: TranscriptPorts) -> Self {
        Self { ports }
    }

    /// Stores the organisation's copy of a Voice Intelligence transcript: answered from the
    /// database when it has one (Twilio is not asked again), else fetched whole (every sentence
    /// page) and stored. Concurrent stores of one sid keep one copy and all answer it.
    ///
    /// # Errors
    /// `InvalidSid`, `Invalid` labels, `NotConfigured` when a fetch is needed and Twilio is not
    /// set up, `NotFound` when Twilio does not know the sid, `Source` when Twilio refuses or
    /// fails.
    #[instrument(skip_all, fields(transcript.sid = %raw_sid))]
    pub async fn store(
        &self,
        organization: OrganizationId,
        user: UserId,
        raw_sid: &str,
        request: StoreRequest,
    ) -> Result<Stored, TranscriptError> {
        let sid = parse_sid(raw_sid)?;
        let labels = labels_of(request)?;
        if let Some(existing) = self.ports.stored.find(organization, &sid).await? {
            debug!("the transcript is stored already");
            return Ok(Stored {
                transcript: existing,
                created: false,
            });
        }
        let source = self
            .ports
            .source
            .as_ref()
            .ok_or(TranscriptError::NotConfigured)?;
        let fetched = source.fetch(&sid).await?;
        let labels = self
            .complete_labels(organization, labels, fetched.facts.source_sid.as_deref())
            .await?;
        let transcript = StoredTranscript {
            id: StoredTranscriptId::new(),
            organization_id: organization,
            user_id: user,
            sid,
            resource: fetched.resource,
            sentences: fetched.sentences,
            facts: fetched.facts,
            labels,
            stored_at: self.ports.clock.now(),
        };
        match self.ports.stored.store(&transcript).await? {
            StoreOutcome::Stored => {
                debug!(
                    transcript.sentences = transcript.sentences.len(),
                    "stored the transcript"
                );
                Ok(Stored {
                    transcript,
                    created: true,
                })
            }
            StoreOutcome::Existing(existing) => Ok(Stored {
                transcript: *existing,
                created: false,
            }),
        }
    }

    /// Fills what the request left out from the organisation's own call the transcript's
    /// channel names, when it names one.
    async fn complete_labels(
        &self,
        organization: OrganizationId,
        mut labels: TranscriptLabels,
        source_sid: Option<&str>,
    ) -> Result<TranscriptLabels, TranscriptError> {
        if labels.scenario_name.is_some() && labels.call_direction.is_some() {
            return Ok(labels);
        }
        let Some(source_sid) = source_sid else {
            return Ok(labels);
        };
        let call = self
            .ports
            .calls
            .find_by_provider_id(source_sid)
            .await?
            .filter(|call| call.organization_id == organization);
        if let Some(call) = call {
            labels.scenario_name = labels.scenario_name.or(call.scenario);
            labels.call_direction = labels.call_direction.or(Some(call.direction));
        }
        Ok(labels)
    }

    /// The organisation's stored copy of a transcript.
    ///
    /// # Errors
    /// `InvalidSid`, `NotFound`.
    pub async fn stored(
        &self,
        organization: OrganizationId,
        raw_sid: &str,
    ) -> Result<StoredTranscript, TranscriptError> {
        let sid = parse_sid(raw_sid)?;
        self.ports
            .stored
            .find(organization, &sid)
            .await?
            .ok_or(TranscriptError::NotFound)
    }

    /// A page of the organisation's stored copies, the most recently stored first.
    ///
    /// # Errors
    /// Only on storage failure.
    pub async fn list_stored(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<StoredTranscript>, TranscriptError> {
        Ok(self.ports.stored.list(organization, page).await?)
    }

    /// Enhanced transcripts of the organisation's own calls and stored copies that pass
    /// `filter`, newest first: `limit` of them after the first `skip`.
    ///
    /// # Errors
    /// Only on storage failure.
    #[instrument(skip_all)]
    pub async fn enhanced_list(
        &self,
        organization: OrganizationId,
        filter: &TranscriptFilter,
        skip: u64,
        limit: u64,
    ) -> Result<Vec<EnhancedTranscript>, TranscriptError> {
        let entries = self
            .ports
            .stored
            .index(organization, filter, skip, limit)
            .await?;
        let mut call_ids = Vec::new();
        let mut stored_ids = Vec::new();
        for entry in &entries {
            match entry {
                TranscriptEntry::Call(id) => call_ids.push(*id),
                TranscriptEntry::Stored(id) => stored_ids.push(*id),
            }
        }
        let mut stored: HashMap<StoredTranscriptId, StoredTranscript> = self
            .ports
            .stored
            .find_many(organization, &stored_ids)
            .await?
            .into_iter()
            .map(|transcript| (transcript.id, transcript))
            .collect();
        let mut calls = self.calls_with_turns(organization, &call_ids).await?;
        // In the index's order; an entry gone since the index was read is left out.
        Ok(entries
            .iter()
            .filter_map(|entry| match entry {
                TranscriptEntry::Call(id) => calls.remove(id),
                TranscriptEntry::Stored(id) => stored
                    .remove(id)
                    .map(|transcript| EnhancedTranscript::of_stored(&transcript)),
            })
            .collect())
    }

    /// The enhanced view of each of these calls, with their lines read in one query.
    async fn calls_with_turns(
        &self,
        organization: OrganizationId,
        ids: &[CallId],
    ) -> Result<HashMap<CallId, EnhancedTranscript>, TranscriptError> {
        let mut calls: Vec<Call> = Vec::with_capacity(ids.len());
        for id in ids {
            calls.extend(self.ports.calls.find(organization, *id).await?);
        }
        let mut turns: HashMap<CallId, Vec<_>> = HashMap::new();
        for turn in self.ports.calls.turns_of(ids).await? {
            turns.entry(turn.call_id).or_default().push(turn);
        }
        Ok(calls
            .into_iter()
            .map(|call| {
                let lines = turns.remove(&call.id).unwrap_or_default();
                (call.id, EnhancedTranscript::of_call(&call, &lines))
            })
            .collect())
    }

    /// The enhanced view of one transcript: a stored copy by its `GT...` sid, or an own call by
    /// its id or its telephony `CallSid`.
    ///
    /// # Errors
    /// `InvalidSid` for a malformed `GT...` sid; `NotFound`.
    #[instrument(skip_all, fields(transcript.sid = %raw_sid))]
    pub async fn enhanced(
        &self,
        organization: OrganizationId,
        raw_sid: &str,
    ) -> Result<EnhancedTranscript, TranscriptError> {
        if TranscriptSid::looks_like(raw_sid) {
            let transcript = self.stored(organization, raw_sid).await?;
            return Ok(EnhancedTranscript::of_stored(&transcript));
        }
        let raw = raw_sid.trim();
        let call = match raw.parse::<CallId>() {
            Ok(id) => self.ports.calls.find(organization, id).await?,
            Err(_) => self
                .ports
                .calls
                .find_by_provider_id(raw)
                .await?
                .filter(|call| call.organization_id == organization),
        }
        .ok_or(TranscriptError::NotFound)?;
        let turns = self.ports.calls.turns(call.id).await?;
        Ok(EnhancedTranscript::of_call(&call, &turns))
    }
}
