//! A call as stored: who, what, when, its status, its conversation and its transcript.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::analysis::{CallAnalysisState, Category, Resolution, Sentiment};
use crate::conversation::ConversationState;
use crate::ids::{AgentId, CallId, OrganizationId};

macro_rules! name_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// The stored and displayed name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses a stored or submitted name.
            ///
            /// # Errors
            /// A sentence listing the valid names.
            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "{other:?} is not one of {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

pub(super) use name_enum;

name_enum!(
    /// Where a call happens.
    CallChannel { Text => "text", Web => "web", Phone => "phone" }
);
name_enum!(
    /// Who called whom.
    CallDirection { Inbound => "inbound", Outbound => "outbound" }
);
name_enum!(
    /// Where a call is in its life: queued (placed or about to be), ringing, in progress, then one
    /// of the ends: completed, busy, no answer, failed, canceled.
    CallStatus {
        Queued => "queued",
        Ringing => "ringing",
        InProgress => "in_progress",
        Completed => "completed",
        Busy => "busy",
        NoAnswer => "no_answer",
        Failed => "failed",
        Canceled => "canceled",
    }
);

impl CallStatus {
    /// How far along a call is: an update never moves a call to an earlier stage, and an ended
    /// call stays ended.
    #[must_use]
    pub const fn stage(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Ringing => 1,
            Self::InProgress => 2,
            Self::Completed | Self::Busy | Self::NoAnswer | Self::Failed | Self::Canceled => 3,
        }
    }

    /// Whether the call is over.
    #[must_use]
    pub const fn is_final(self) -> bool {
        self.stage() == 3
    }

    /// Whether a report of `next` may move a call in this status: only forward, never out of an
    /// end.
    #[must_use]
    pub const fn may_become(self, next: Self) -> bool {
        !self.is_final() && next.stage() > self.stage()
    }
}
name_enum!(
    /// Who said a transcript line.
    Speaker { Agent => "agent", Customer => "customer" }
);

/// How long a turn took, in milliseconds from the caller's words (for voice calls, from the end
/// of the caller's speech).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnLatency {
    /// Until the first token of the reply.
    pub first_token_ms: Option<u64>,
    /// Until the caller had the answer: the whole reply on text calls; on voice calls the first
    /// frame of reply audio sent (else the moment the reply was decided).
    pub total_ms: u64,
    /// Voice calls: until the final transcript ended the caller's turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_ms: Option<u64>,
    /// Voice calls: until the first byte of synthesised speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_audio_ms: Option<u64>,
    /// Voice calls: until the first frame of reply audio was sent to the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_frame_ms: Option<u64>,
}

impl TurnLatency {
    /// How long the caller waited for the start of the answer: until the first frame of audio on
    /// voice calls, the first token on text calls, else the whole reply. Averages and
    /// percentiles of response time use this.
    #[must_use]
    pub fn response_ms(&self) -> u64 {
        self.first_frame_ms
            .or(self.first_token_ms)
            .unwrap_or(self.total_ms)
    }
}

/// One line of a transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallTurn {
    pub call_id: CallId,
    /// 0-based position in the transcript.
    pub index: u32,
    pub speaker: Speaker,
    pub text: String,
    pub at: DateTime<Utc>,
    /// For agent turns answering the caller.
    pub latency: Option<TurnLatency>,
}

/// A transcript line to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCallTurn {
    pub speaker: Speaker,
    pub text: String,
    pub at: DateTime<Utc>,
    pub latency: Option<TurnLatency>,
}

/// A call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub id: CallId,
    pub organization_id: OrganizationId,
    pub agent_id: Option<AgentId>,
    /// The agent's name when the call started, kept after the agent is renamed or deleted.
    pub agent_name: Option<String>,
    /// A built-in scenario's name or a custom scenario's id.
    pub scenario: Option<String>,
    pub channel: CallChannel,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub customer_name: Option<String>,
    pub phone_number: Option<String>,
    /// A client's own key for the conversation (seed 000's chat session id).
    pub session_key: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    /// What the engine needs to continue: the agent and scenario as they were at the start, and
    /// the dialogue so far.
    pub context: serde_json::Value,
    pub conversation: ConversationState,
    /// Bumped by every update, so two concurrent turns of one call cannot both apply.
    pub version: i64,
    /// Where the call's recording can be fetched.
    pub recording_url: Option<String>,
    /// The telephony provider's id of the call (Twilio's `CallSid`).
    pub provider_call_id: Option<String>,
    /// Seconds the call was connected, as the telephony provider counted them.
    pub talk_secs: Option<i64>,
    /// The client's `Idempotency-Key` of the request that created the call.
    pub idempotency_key: Option<String>,
    /// What a client logged with the call (for calls made elsewhere); `Null` otherwise.
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The post-call analysis, kept apart from the call: writing the call never changes it.
    #[serde(default)]
    pub analysis: CallAnalysisState,
}

impl Call {
    /// Whether the call still takes turns.
    #[must_use]
    pub fn is_active(&self) -> bool {
        !self.status.is_final()
    }

    /// Whole seconds the call lasted, once it has ended: the telephony provider's count of
    /// connected time when it gave one, else from start to end.
    #[must_use]
    pub fn duration_secs(&self) -> Option<i64> {
        self.talk_secs.or_else(|| {
            self.ended_at
                .map(|end| (end - self.started_at).num_seconds())
        })
    }

    /// Marks the call ended now; its analysis is due from then on (storing the ended call
    /// queues it).
    pub fn finish(&mut self, status: CallStatus, reason: &str, at: DateTime<Utc>) {
        self.status = status;
        self.end_reason = Some(reason.to_owned());
        self.ended_at = Some(at);
        if self.analysis == CallAnalysisState::NotQueued {
            self.analysis = CallAnalysisState::Pending;
        }
    }
}

/// Which calls a list shows; every field narrows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub direction: Option<CallDirection>,
    pub channel: Option<CallChannel>,
    pub agent_id: Option<AgentId>,
    /// Calls started at or after this instant.
    pub started_from: Option<DateTime<Utc>>,
    /// Calls started before this instant.
    pub started_before: Option<DateTime<Utc>>,
    /// Words found in the transcript, the customer's name or their number (case-insensitive).
    pub search: Option<String>,
    /// Calls whose completed analysis found this sentiment.
    pub sentiment: Option<Sentiment>,
    /// Calls whose completed analysis put them in this category.
    pub category: Option<Category>,
    /// Calls whose completed analysis found this resolution.
    pub resolution: Option<Resolution>,
}

/// The order of a list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallSort {
    #[default]
    Newest,
    Oldest,
}

impl CallSort {
    /// Parses `newest`/`-started_at` or `oldest`/`started_at`.
    ///
    /// # Errors
    /// A sentence naming the accepted values.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "newest" | "-started_at" => Ok(Self::Newest),
            "oldest" | "started_at" => Ok(Self::Oldest),
            other => Err(format!("{other:?} is not newest or oldest")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CallStatus;

    #[test]
    fn statuses_only_move_forward_and_ends_stay_ended() {
        use CallStatus::{
            Busy, Canceled, Completed, Failed, InProgress, NoAnswer, Queued, Ringing,
        };
        assert!(Queued.may_become(Ringing));
        assert!(Queued.may_become(InProgress));
        assert!(Ringing.may_become(Completed));
        assert!(InProgress.may_become(NoAnswer));
        assert!(!Ringing.may_become(Queued));
        assert!(!InProgress.may_become(Ringing));
        assert!(!InProgress.may_become(InProgress));
        for end in [Completed, Busy, NoAnswer, Failed, Canceled] {
            assert!(end.is_final());
            for next in [Queued, Ringing, InProgress, Completed, Failed] {
                assert!(!end.may_become(next), "{end:?} -> {next:?}");
            }
        }
    }
}
