//! The parts of an agent's configuration: voice, language model, speech recognition, tools.

use serde::{Deserialize, Serialize};

/// Whether an agent takes calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Active,
    /// Temporarily takes no new calls; resume makes it active again.
    Paused,
    /// Switched off.
    Inactive,
}

impl AgentStatus {
    /// The stored and displayed name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Inactive => "inactive",
        }
    }

    /// Parses a stored or submitted name.
    ///
    /// # Errors
    /// A sentence listing the valid names.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(Self::Active),
            "paused" => Ok(Self::Paused),
            "inactive" => Ok(Self::Inactive),
            other => Err(format!("{other:?} is not one of active, paused, inactive")),
        }
    }
}

macro_rules! provider_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every accepted name.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The provider's name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses a provider name.
            ///
            /// # Errors
            /// A sentence listing the known providers.
            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "unknown provider {other:?}; use one of {}",
                        Self::NAMES.join(", ")
                    )),
                }
            }
        }
    };
}

provider_enum!(
    /// Who speaks the agent's replies.
    VoiceProvider { Elevenlabs => "elevenlabs", Openai => "openai" }
);
provider_enum!(
    /// Who writes the agent's replies: any server speaking the OpenAI chat API.
    LlmProvider { Openai => "openai" }
);
provider_enum!(
    /// Who transcribes the caller.
    SttProvider { Deepgram => "deepgram", Whisper => "whisper" }
);

/// How the agent sounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoiceConfig {
    pub provider: VoiceProvider,
    pub voice_id: String,
    /// 1.0 is the voice's natural pace.
    pub speed: f64,
}

/// How the agent thinks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlmConfig {
    pub provider: LlmProvider,
    pub model: String,
    pub temperature: f64,
    pub max_tokens: u32,
}

/// How the agent listens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SttConfig {
    pub provider: SttProvider,
    pub model: String,
    pub language: String,
}

/// Tools every agent may be given without configuring an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinTool {
    SearchKnowledgeBase,
    EndCall,
    TransferCall,
    /// When the organisation's calendar is busy (needs a connected calendar).
    CheckAvailability,
    /// Books an event in the organisation's calendar (needs a connected calendar).
    BookAppointment,
}

impl BuiltinTool {
    /// Every built-in tool's name.
    pub const NAMES: &'static [&'static str] = &[
        "search_knowledge_base",
        "end_call",
        "transfer_call",
        "check_availability",
        "book_appointment",
    ];

    /// The tool's name as the model sees it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SearchKnowledgeBase => "search_knowledge_base",
            Self::EndCall => "end_call",
            Self::TransferCall => "transfer_call",
            Self::CheckAvailability => "check_availability",
            Self::BookAppointment => "book_appointment",
        }
    }

    /// Whether the tool works on the organisation's calendar, and so is offered only while one
    /// is connected.
    #[must_use]
    pub const fn needs_calendar(self) -> bool {
        matches!(self, Self::CheckAvailability | Self::BookAppointment)
    }

    /// Parses a built-in tool's name.
    ///
    /// # Errors
    /// A sentence listing the built-in tools.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "search_knowledge_base" => Ok(Self::SearchKnowledgeBase),
            "end_call" => Ok(Self::EndCall),
            "transfer_call" => Ok(Self::TransferCall),
            "check_availability" => Ok(Self::CheckAvailability),
            "book_appointment" => Ok(Self::BookAppointment),
            other => Err(format!(
                "unknown built-in tool {other:?}; use one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// A tool the agent calls over HTTP: the model's arguments are POSTed as JSON to `url`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpTool {
    pub name: String,
    pub description: String,
    pub url: String,
    /// A JSON schema of type `object` describing the arguments.
    pub parameters: serde_json::Value,
    pub timeout_ms: u32,
}

/// A tool the agent may call during a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentTool {
    Builtin { name: BuiltinTool },
    Http(HttpTool),
}

impl AgentTool {
    /// The name the model calls the tool by.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Builtin { name } => name.as_str(),
            Self::Http(tool) => &tool.name,
        }
    }
}

/// Figures computed from an agent's calls; zeros until it has any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentStats {
    pub calls_handled: u64,
    /// Mean turn latency in milliseconds.
    pub avg_latency: f64,
    /// Median turn latency in milliseconds (nearest rank; 0 without measured turns).
    pub p50_latency: u64,
    /// 90th percentile of turn latency in milliseconds (nearest rank; 0 without measured turns).
    pub p90_latency: u64,
    /// Share of calls resolved, 0..=1.
    pub success_rate: f64,
}
