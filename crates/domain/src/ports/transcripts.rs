//! Ports of stored transcripts: where Voice Intelligence transcripts are fetched from, and where
//! an organisation's copies (and the index over them and its own calls) are kept.

use async_trait::async_trait;

use super::RepositoryError;
use crate::ids::{CallId, OrganizationId, StoredTranscriptId};
use crate::page::{PageRequest, Paged};
use crate::transcript::{FetchedTranscript, StoredTranscript, TranscriptFilter, TranscriptSid};

/// Why a transcript could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptSourceError {
    /// The service knows no transcript with this sid (for these credentials).
    #[error("no transcript with this sid is known to Twilio")]
    NotFound,
    /// The service refused the request (credentials, permissions, a transcript too long to
    /// read in the allowed pages); sending it again would not help.
    #[error("Twilio refused to hand over the transcript: {0}")]
    Refused(String),
    /// The service could not be reached or failed, after retries.
    #[error("Twilio is unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Where transcripts come from (Twilio Voice Intelligence).
#[async_trait]
pub trait TranscriptSource: Send + Sync {
    /// The transcript with this sid and every one of its sentences, in order, each kept in the
    /// service's own format. Either all of it is returned or an error: never a part.
    ///
    /// # Errors
    /// `NotFound` when the service does not know the sid; `Refused` and `Unavailable` as their
    /// documentation says.
    async fn fetch(&self, sid: &TranscriptSid) -> Result<FetchedTranscript, TranscriptSourceError>;
}

/// What storing a transcript did.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreOutcome {
    /// It was stored now.
    Stored,
    /// The organisation had a copy already (perhaps stored a moment ago by a concurrent
    /// request); nothing was written, and this is that copy.
    Existing(Box<StoredTranscript>),
}

/// One entry of the index of an organisation's transcripts.
#[derive(Clone, Debug, PartialEq)]
pub enum TranscriptEntry {
    /// One of the organisation's own calls, with at least one transcript line.
    Call(CallId),
    /// A stored Voice Intelligence transcript.
    Stored(StoredTranscriptId),
}

/// Organisations' copies of Voice Intelligence transcripts.
#[async_trait]
pub trait StoredTranscriptRepository: Send + Sync {
    /// Stores the copy unless the organisation has one of the same sid. Concurrent stores of one
    /// sid have one winner; every other gets `Existing` with the winner's copy, never an error.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn store(&self, transcript: &StoredTranscript) -> Result<StoreOutcome, RepositoryError>;

    /// The organisation's copy of this sid.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find(
        &self,
        organization: OrganizationId,
        sid: &TranscriptSid,
    ) -> Result<Option<StoredTranscript>, RepositoryError>;

    /// The organisation's copies with these ids, in no particular order; unknown ids are left
    /// out.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn find_many(
        &self,
        organization: OrganizationId,
        ids: &[StoredTranscriptId],
    ) -> Result<Vec<StoredTranscript>, RepositoryError>;

    /// A page of the organisation's copies, the most recently stored first, with the total.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn list(
        &self,
        organization: OrganizationId,
        page: PageRequest,
    ) -> Result<Paged<StoredTranscript>, RepositoryError>;

    /// `limit` entries after the first `skip` of one list holding both the organisation's calls
    /// that have a transcript and its stored copies, that pass `filter`, newest first (a call by
    /// its start, a copy by the transcript's creation, else when it was stored). The database
    /// filters, orders and pages.
    ///
    /// # Errors
    /// Only on storage failure.
    async fn index(
        &self,
        organization: OrganizationId,
        filter: &TranscriptFilter,
        skip: u64,
        limit: u64,
    ) -> Result<Vec<TranscriptEntry>, RepositoryError>;
}
