//! What a post-call analysis says (summary, sentiment, category, resolution, topics, follow-ups
//! and the fields the agent asked for) and where a call's analysis stands.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::call::model::name_enum;
use crate::call::{CallTurn, Speaker};
use crate::ids::CallId;

name_enum!(
    /// The customer's overall mood over the call.
    Sentiment { Positive => "positive", Neutral => "neutral", Negative => "negative", Mixed => "mixed" }
);
name_enum!(
    /// How the call ended for the customer's request.
    Resolution { Resolved => "resolved", Unresolved => "unresolved", Escalated => "escalated" }
);
name_enum!(
    /// Who wrote an analysis: the language model, or the offline lexicon analyser.
    AnalyzerKind { Llm => "llm", Local => "local" }
);
name_enum!(
    /// Where a finished call's analysis stands. A job being worked on is still `pending`.
    AnalysisStatus { Pending => "pending", Completed => "completed", Failed => "failed" }
);

/// The most characters a category may have.
const MAX_CATEGORY_CHARS: usize = 64;

/// What a call was about, as a short snake_case label (`billing`, `technical_support`): analysers
/// and filters both go through [`Category::parse`], so `Technical Support` finds
/// `technical_support`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(String);

impl Category {
    /// The category of calls nothing more specific fits.
    #[must_use]
    pub fn general() -> Self {
        Self("general_inquiry".to_owned())
    }

    /// Lower-cases the label and joins its words with `_`.
    ///
    /// # Errors
    /// A sentence when the label has no letters or digits, or more than 64 characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let words: Vec<String> = raw
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let label = words.join("_");
        if label.is_empty() {
            return Err("must contain a letter or digit".to_owned());
        }
        if label.chars().count() > MAX_CATEGORY_CHARS {
            return Err(format!("must be at most {MAX_CATEGORY_CHARS} characters"));
        }
        Ok(Self(label))
    }

    /// The label.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An analysis of one finished call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallAnalysis {
    /// What the customer wanted and what happened, in a few sentences.
    pub summary: String,
    pub sentiment: Sentiment,
    /// From -1 (very negative) to 1 (very positive).
    pub sentiment_score: f64,
    pub category: Category,
    pub resolution: Resolution,
    pub key_topics: Vec<String>,
    /// Follow-ups someone has to do.
    pub action_items: Vec<String>,
    /// The fields the agent's analysis schema asks for (an empty object without a schema).
    pub extracted: serde_json::Map<String, serde_json::Value>,
    pub analyzer: AnalyzerKind,
}

impl CallAnalysis {
    /// The analysis of a call in which nobody said anything: no analyser is asked.
    #[must_use]
    pub fn of_silence(schema: Option<&serde_json::Value>) -> Self {
        Self {
            summary: "No conversation took place.".to_owned(),
            sentiment: Sentiment::Neutral,
            sentiment_score: 0.0,
            category: Category("no_conversation".to_owned()),
            resolution: Resolution::Unresolved,
            key_topics: Vec::new(),
            action_items: Vec::new(),
            extracted: super::schema::empty_fields(schema),
            analyzer: AnalyzerKind::Local,
        }
    }
}

/// A call's analysis as stored with it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CallAnalysisState {
    /// The call has not ended, so there is nothing to analyse yet.
    #[default]
    NotQueued,
    /// The call has ended; its analysis is waiting for (or being done by) a worker.
    Pending,
    Completed {
        analysis: Box<CallAnalysis>,
        analyzed_at: DateTime<Utc>,
    },
    /// Every attempt failed; the call itself is intact.
    Failed,
}

impl CallAnalysisState {
    /// The status to show, `None` while the call is still going on.
    #[must_use]
    pub fn status(&self) -> Option<AnalysisStatus> {
        match self {
            Self::NotQueued => None,
            Self::Pending => Some(AnalysisStatus::Pending),
            Self::Completed { .. } => Some(AnalysisStatus::Completed),
            Self::Failed => Some(AnalysisStatus::Failed),
        }
    }

    /// The analysis, once there is one.
    #[must_use]
    pub fn analysis(&self) -> Option<&CallAnalysis> {
        match self {
            Self::Completed { analysis, .. } => Some(analysis),
            _ => None,
        }
    }
}

/// What an analyser is given: the transcript and what the agent wants extracted.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisRequest {
    pub call_id: CallId,
    pub transcript: Vec<CallTurn>,
    /// The agent's analysis schema when the call started (a JSON schema of type `object`).
    pub schema: Option<serde_json::Value>,
    /// The call's language (a BCP 47 tag); summaries are written in it.
    pub language: String,
    pub end_reason: Option<String>,
}

impl AnalysisRequest {
    /// The transcript as `Customer: ...` / `Agent: ...` lines.
    #[must_use]
    pub fn transcript_text(&self) -> String {
        self.transcript
            .iter()
            .map(|turn| {
                let who = match turn.speaker {
                    Speaker::Customer => "Customer",
                    Speaker::Agent => "Agent",
                };
                format!("{who}: {}", turn.text.trim())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn categories_are_snake_case_labels() {
        assert_eq!(
            Category::parse(" Technical Support ").unwrap().as_str(),
            "technical_support"
        );
        assert_eq!(
            Category::parse("billing-and_PAYMENTS").unwrap().as_str(),
            "billing_and_payments"
        );
        assert!(Category::parse(" -- ").is_err());
        assert!(Category::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn statuses_follow_the_state() {
        assert_eq!(CallAnalysisState::NotQueued.status(), None);
        assert_eq!(
            CallAnalysisState::Pending.status(),
            Some(AnalysisStatus::Pending)
        );
        assert!(CallAnalysisState::Failed.analysis().is_none());
        assert_eq!(Sentiment::parse("Mixed"), Ok(Sentiment::Mixed));
        assert!(Resolution::parse("maybe").is_err());
    }
}
