//! Agents: who answers a call, how they sound, think and listen, and what they may do.

mod config;
mod events;
mod flow_check;
mod input;
mod service;
mod turn_taking;
mod voicemail;

pub use config::{
    AgentStats, AgentStatus, AgentTool, BuiltinTool, HttpTool, LlmConfig, LlmProvider, SttConfig,
    SttProvider, VoiceConfig, VoiceProvider,
};
pub use events::{AgentChange, AgentView, agent_event};
pub use input::{AgentInput, HttpToolInput, LlmInput, SttInput, ToolInput, VoiceInput};
pub use service::{AgentError, AgentService};
pub use turn_taking::{AgentTurnTaking, DEFAULT_BACKCHANNEL_WORDS, TurnTakingInput};
pub use voicemail::{AgentVoicemail, MAX_VOICEMAIL_CHARS, VoicemailInput};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, OrganizationId};

/// An agent as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agent {
    pub id: AgentId,
    pub organization_id: OrganizationId,
    pub config: AgentConfig,
    pub status: AgentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Everything a user configures on an agent, valid by construction (see [`AgentInput`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    pub name: String,
    pub description: String,
    pub system_prompt: String,
    /// A template: `{customer_name}`, `{agent_name}`, `{company}` ...
    pub first_message: Option<String>,
    /// BCP 47 language tag, e.g. `en` or `en-US`.
    pub language: String,
    pub voice: VoiceConfig,
    pub llm: LlmConfig,
    pub stt: SttConfig,
    /// The call flow graph as the client sent it (validated), or none for a free conversation.
    pub call_flow: Option<serde_json::Value>,
    pub knowledge_document_ids: Vec<uuid::Uuid>,
    pub tools: Vec<AgentTool>,
    /// Phrases that end the call when the caller or the agent says them.
    pub end_call_phrases: Vec<String>,
    pub max_call_duration_secs: u32,
    pub webhook_url: Option<String>,
    /// Turn-taking on voice calls; agents stored before it existed get the defaults.
    #[serde(default)]
    pub turn_taking: AgentTurnTaking,
    /// Answering machines on outbound calls; agents stored before it existed detect none.
    #[serde(default)]
    pub voicemail: AgentVoicemail,
    /// The fields each call's analysis extracts: a JSON schema of type `object` (validated).
    /// Agents stored before it existed have none.
    #[serde(default)]
    pub analysis_schema: Option<serde_json::Value>,
}

impl Agent {
    /// Whether the agent may take a new call.
    ///
    /// # Errors
    /// `AgentError::NotAcceptingCalls` when it is paused or inactive.
    pub fn ensure_accepts_calls(&self) -> Result<(), AgentError> {
        match self.status {
            AgentStatus::Active => Ok(()),
            status => Err(AgentError::NotAcceptingCalls {
                name: self.config.name.clone(),
                status,
            }),
        }
    }
}
