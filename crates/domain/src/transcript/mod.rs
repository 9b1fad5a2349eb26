//! Transcripts beyond a call's own lines: copies of Twilio Voice Intelligence transcripts kept
//! in Twilio's format (fetched once, then served from the database), and the enhanced view of
//! any transcript (participants, conversation flow, summary figures) over both those copies and
//! Switchboard's own calls.

mod enhanced;
mod sentences;
mod service;
mod sid;
mod stored;

pub use enhanced::{
    EnhancedTranscript, FlowLine, Participant, ParticipantRole, ParticipantSummary,
    TranscriptOrigin, TranscriptSummary,
};
pub use sentences::Sentence;
pub use service::{StoreRequest, Stored, TranscriptError, TranscriptPorts, TranscriptService};
pub use sid::TranscriptSid;
pub use stored::{
    FetchedTranscript, MAX_SCENARIO_NAME_CHARS, StoredTranscript, TranscriptFacts,
    TranscriptFilter, TranscriptLabels,
};
