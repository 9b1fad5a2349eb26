//! Port traits: what the domain needs from the outside world, named by role. Adapters in other
//! crates implement them; each trait's documentation is the contract every adapter is held to.

mod agents;
mod analysis;
mod analytics;
mod calendar;
mod clock;
mod language_model;
mod onboarding;
mod rate_limit;
mod repositories;
mod schedule;
mod security;
mod speech;
mod telephony;
mod transcripts;
mod webhooks;

pub use agents::{
    AgentRepository, CallRepository, InsertScenarioError, PhoneNumberRepository, SaveCallOutcome,
    SavePhoneNumberError, ScenarioRepository,
};
pub use analysis::{AnalysisClaim, AnalyzeError, CallAnalysisRepository, CallAnalyzer};
pub use analytics::AnalyticsRepository;
pub use calendar::{
    BusyPeriod, Calendar, CalendarConnection, CalendarConnectionRepository, CalendarError,
    CalendarEvent, CalendarProvider, CalendarProviderError, ConnectionStatus, EventTime,
    GrantedTokens, NewCalendarEvent, OAuthTokens,
};
pub use clock::{Clock, SystemClock};
pub use language_model::{
    ChatEvent, ChatMessage, ChatRequest, ChatRole, ChatStream, FinishReason, LanguageModel,
    LlmError, ToolCall, ToolSpec,
};
pub use onboarding::OnboardingRepository;
pub use rate_limit::{Quota, RateDecision, RateLimiter};
pub use repositories::{
    AccountRepository, CreateAccountError, RepositoryError, RotateOutcome, SessionRepository,
};
pub use schedule::{SaveScheduleOutcome, ScheduleRepository};
pub use security::{AccessClaims, AccessTokenError, AccessTokens, PasswordHasher};
pub use speech::{
    AudioStream, SpeechError, SpeechRequest, SpeechToText, SttConfig, SttEvent, SttEvents, SttSink,
    SttStream, TextToSpeech,
};
pub use telephony::{
    Dial, MediaStreamTarget, PlacedCall, ProviderCallState, Telephony, TelephonyError,
};
pub use transcripts::{
    StoreOutcome, StoredTranscriptRepository, TranscriptEntry, TranscriptSource,
    TranscriptSourceError,
};
pub use webhooks::{
    DeliveryClaim, InsertWebhookError, SendOutcome, WebhookRepository, WebhookRequest,
    WebhookSender,
};
