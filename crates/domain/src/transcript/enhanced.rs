//! The enhanced view of a transcript: who took part (with speaking time, words and sentences),
//! the conversation line by line, and summary figures; built the same way from an own call's
//! transcript lines and from a stored Voice Intelligence transcript.
//!
//! Channels and roles: an own call's agent is channel 1 and its caller channel 0 (as seed 003
//! numbers them). In a Voice Intelligence transcript, `media_channel` 1 is the agent and every
//! other channel the customer: Switchboard's calls are recorded with the agent on the first
//! channel, and the seed's examples show channel 1 as the agent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoredTranscript;
use super::sentences::{Sentence, count_words};
use crate::call::{Call, CallDirection, CallTurn, Speaker};

/// The channel that carries the agent.
const AGENT_CHANNEL: u32 = 1;
/// The channel an own call's caller is given.
const CUSTOMER_CHANNEL: u32 = 0;
const AGENT_NAME: &str = "AI Agent";
const CUSTOMER_NAME: &str = "Customer";

/// What a participant is in the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    Agent,
    Customer,
}

/// Where a transcript comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptOrigin {
    /// One of Switchboard's own calls.
    Call,
    /// A stored Twilio Voice Intelligence transcript.
    Twilio,
}

/// A voice in the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Participant {
    pub channel: u32,
    pub role: ParticipantRole,
    pub name: String,
}

/// A participant and how much they said.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParticipantSummary {
    #[serde(flatten)]
    pub participant: Participant,
    /// Seconds, from the lines whose start and end are known.
    pub total_speaking_time: f64,
    pub word_count: u64,
    pub sentence_count: u64,
}

/// One line of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowLine {
    /// 1-based.
    pub sequence: u64,
    pub speaker: Participant,
    pub text: String,
    /// Seconds from the start of the conversation.
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub duration: Option<f64>,
    pub confidence: Option<f64>,
    pub word_count: u64,
}

/// Figures over the whole transcript.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TranscriptSummary {
    pub total_duration_seconds: Option<i64>,
    pub total_sentences: u64,
    pub total_words: u64,
    pub participant_count: u64,
    /// The mean of the lines' confidences, when any line has one.
    pub average_confidence: Option<f64>,
}

/// A transcript with participants, conversation flow and summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnhancedTranscript {
    /// The call's id, or the stored copy's.
    pub id: String,
    pub origin: TranscriptOrigin,
    /// The Voice Intelligence sid; for an own call its telephony `CallSid`, else its id.
    pub transcript_sid: String,
    pub call_date: DateTime<Utc>,
    /// Whole seconds, when known.
    pub duration: Option<i64>,
    pub call_direction: Option<CallDirection>,
    pub scenario_name: Option<String>,
    pub full_text: String,
    /// By channel.
    pub participants: Vec<ParticipantSummary>,
    pub flow: Vec<FlowLine>,
    pub summary: TranscriptSummary,
}

/// A line before figures are drawn from it.
struct Line {
    speaker: Participant,
    text: String,
    start_time: Option<f64>,
    end_time: Option<f64>,
    confidence: Option<f64>,
    word_count: u64,
}

/// What the transcript is about, apart from its lines.
struct Header {
    id: String,
    origin: TranscriptOrigin,
    transcript_sid: String,
    call_date: DateTime<Utc>,
    duration: Option<i64>,
    call_direction: Option<CallDirection>,
    scenario_name: Option<String>,
}

/// Seconds from `from` to `to`, to the millisecond.
fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

impl EnhancedTranscript {
    /// An own call's transcript. A line starts when it was recorded and lasts until the next
    /// one (the last until the call ended, when it has).
    #[must_use]
    pub fn of_call(call: &Call, turns: &[CallTurn]) -> Self {
        let agent = Participant {
            channel: AGENT_CHANNEL,
            role: ParticipantRole::Agent,
            name: call
                .agent_name
                .clone()
                .unwrap_or_else(|| AGENT_NAME.to_owned()),
        };
        let customer = Participant {
            channel: CUSTOMER_CHANNEL,
            role: ParticipantRole::Customer,
            name: call
                .customer_name
                .clone()
                .unwrap_or_else(|| CUSTOMER_NAME.to_owned()),
        };
        let starts: Vec<f64> = turns
            .iter()
            .map(|turn| seconds_between(call.started_at, turn.at))
            .collect();
        let call_end = call
            .ended_at
            .map(|end| seconds_between(call.started_at, end));
        let lines = turns
            .iter()
            .enumerate()
            .map(|(at, turn)| Line {
                speaker: match turn.speaker {
                    Speaker::Agent => agent.clone(),
                    Speaker::Customer => customer.clone(),
                },
                text: turn.text.clone(),
                start_time: starts.get(at).copied(),
                end_time: starts.get(at + 1).copied().or(call_end),
                confidence: None,
                word_count: count_words(&turn.text),
            })
            .collect();
        build(
            Header {
                id: call.id.to_string(),
                origin: TranscriptOrigin::Call,
                transcript_sid: call
                    .provider_call_id
                    .clone()
                    .unwrap_or_else(|| call.id.to_string()),
                call_date: call.started_at,
                duration: call.duration_secs(),
                call_direction: Some(call.direction),
                scenario_name: call.scenario.clone(),
            },
            lines,
        )
    }

    /// A stored Voice Intelligence transcript, from its sentences.
    #[must_use]
    pub fn of_stored(transcript: &StoredTranscript) -> Self {
        let lines = transcript
            .sentences
            .iter()
            .map(|value| {
                let sentence = Sentence::read(value);
                let speaker = if sentence.channel == AGENT_CHANNEL {
                    Participant {
                        channel: sentence.channel,
                        role: ParticipantRole::Agent,
                        name: AGENT_NAME.to_owned(),
                    }
                } else {
                    Participant {
                        channel: sentence.channel,
                        role: ParticipantRole::Customer,
                        name: CUSTOMER_NAME.to_owned(),
                    }
                };
                Line {
                    speaker,
                    text: sentence.text,
                    start_time: sentence.start_time,
                    end_time: sentence.end_time,
                    confidence: sentence.confidence,
                    word_count: sentence.word_count,
                }
            })
            .collect();
        build(
            Header {
                id: transcript.id.to_string(),
                origin: TranscriptOrigin::Twilio,
                transcript_sid: transcript.sid.to_string(),
                call_date: transcript.call_date(),
                duration: transcript.facts.duration_secs,
                call_direction: transcript.labels.call_direction,
                scenario_name: transcript.labels.scenario_name.clone(),
            },
            lines,
        )
    }

    /// `m:ss`, or `h:mm:ss` from an hour on, of the duration, when known.
    #[must_use]
    pub fn duration_formatted(&self) -> Option<String> {
        let total = self.duration?.max(0);
        let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
        Some(if hours > 0 {
            format!("{hours}:{minutes:02}:{seconds:02}")
        } else {
            format!("{minutes}:{seconds:02}")
        })
    }
}

fn build(header: Header, lines: Vec<Line>) -> EnhancedTranscript {
    let mut participants: BTreeMap<u32, ParticipantSummary> = BTreeMap::new();
    let mut confidences = Vec::new();
    let mut flow = Vec::with_capacity(lines.len());
    for (sequence, line) in (1..).zip(lines) {
        let duration = match (line.start_time, line.end_time) {
            (Some(start), Some(end)) if end >= start => Some(end - start),
            _ => None,
        };
        let summary =
            participants
                .entry(line.speaker.channel)
                .or_insert_with(|| ParticipantSummary {
                    participant: line.speaker.clone(),
                    total_speaking_time: 0.0,
                    word_count: 0,
                    sentence_count: 0,
                });
        summary.total_speaking_time += duration.unwrap_or(0.0);
        summary.word_count += line.word_count;
        summary.sentence_count += 1;
        confidences.extend(line.confidence);
        flow.push(FlowLine {
            sequence,
            speaker: line.speaker,
            text: line.text,
            start_time: line.start_time,
            end_time: line.end_time,
            duration,
            confidence: line.confidence,
            word_count: line.word_count,
        });
    }
    let full_text = flow
        .iter()
        .map(|line| line.text.trim())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let summary = TranscriptSummary {
        total_duration_seconds: header.duration,
        total_sentences: flow.len() as u64,
        total_words: flow.iter().map(|line| line.word_count).sum(),
        participant_count: participants.len() as u64,
        average_confidence: (!confidences.is_empty())
            .then(|| confidences.iter().sum::<f64>() / confidences.len() as f64),
    };
    EnhancedTranscript {
        id: header.id,
        origin: header.origin,
        transcript_sid: header.transcript_sid,
        call_date: header.call_date,
        duration: header.duration,
        call_direction: header.call_direction,
        scenario_name: header.scenario_name,
        full_text,
        participants: participants.into_values().collect(),
        flow,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::ids::{OrganizationId, StoredTranscriptId, UserId};
    use crate::transcript::{TranscriptFacts, TranscriptLabels, TranscriptSid};

    fn stored(sentences: Vec<serde_json::Value>) -> StoredTranscript {
        StoredTranscript {
            id: StoredTranscriptId::new(),
            organization_id: OrganizationId::new(),
            user_id: UserId::new(),
            sid: TranscriptSid::parse("GT0123456789abcdef0123456789abcdef")
                .unwrap_or_else(|e| panic!("{e}")),
            resource: json!({}),
            sentences,
            facts: TranscriptFacts {
                duration_secs: Some(185),
                ..TranscriptFacts::default()
            },
            labels: TranscriptLabels::default(),
            stored_at: Utc
                .with_ymd_and_hms(2024, 1, 15, 10, 30, 0)
                .single()
                .unwrap_or_default(),
        }
    }

    #[test]
    fn sentences_become_participants_flow_and_summary() {
        let transcript = EnhancedTranscript::of_stored(&stored(vec![
            json!({"media_channel": 1, "transcript": "Hello, this is Mike.", "start_time": "0.5", "end_time": "3.2", "confidence": "0.9"}),
            json!({"media_channel": 2, "transcript": "Hi Mike", "start_time": 3.5, "end_time": 4.5, "confidence": 0.7}),
            json!({"media_channel": 1, "transcript": "How are you?", "start_time": null, "end_time": null, "confidence": null}),
        ]));
        assert_eq!(
            transcript.full_text,
            "Hello, this is Mike. Hi Mike How are you?"
        );
        assert_eq!(transcript.participants.len(), 2);
        let agent = &transcript.participants[0];
        assert_eq!(agent.participant.role, ParticipantRole::Agent);
        assert_eq!((agent.word_count, agent.sentence_count), (7, 2));
        assert!((agent.total_speaking_time - 2.7).abs() < 1e-9);
        let customer = &transcript.participants[1];
        assert_eq!(
            (customer.participant.channel, customer.participant.role),
            (2, ParticipantRole::Customer)
        );
        assert_eq!(transcript.flow[1].sequence, 2);
        assert_eq!(transcript.flow[1].duration, Some(1.0));
        assert_eq!(transcript.flow[2].duration, None);
        assert_eq!(transcript.summary.total_words, 9);
        assert_eq!(transcript.summary.total_sentences, 3);
        let average = transcript.summary.average_confidence.unwrap_or_default();
        assert!((average - 0.8).abs() < 1e-9, "{average}");
        assert_eq!(transcript.duration_formatted().as_deref(), Some("3:05"));
    }

    #[test]
    fn an_empty_transcript_has_no_figures_to_average() {
        let transcript = EnhancedTranscript::of_stored(&stored(Vec::new()));
        assert_eq!(transcript.summary.participant_count, 0);
        assert_eq!(transcript.summary.average_confidence, None);
        assert_eq!(transcript.full_text, "");
    }
}
