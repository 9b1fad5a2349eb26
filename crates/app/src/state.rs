//! What every handler can reach: the services, built once in `startup`.

use std::sync::Arc;

use switchboard_domain::agent::AgentService;
use switchboard_domain::auth::AuthService;
use switchboard_domain::calendar::CalendarService;
use switchboard_domain::call::CallService;
use switchboard_domain::events::EventPublisher;
use switchboard_domain::knowledge::KnowledgeService;
use switchboard_domain::onboarding::OnboardingService;
use switchboard_domain::phone_number::PhoneNumberService;
use switchboard_domain::ports::{RateLimiter, Telephony};
use switchboard_domain::scenario::ScenarioService;
use switchboard_domain::schedule::ScheduleService;
use switchboard_domain::transcript::TranscriptService;
use switchboard_domain::webhook::WebhookService;
use switchboard_storage::Database;

use crate::call_log_queue::CallLogQueue;
use crate::events::EventBus;
use crate::security::OAuthStates;
use crate::settings::Settings;
use crate::voice::live::LiveCalls;
use crate::voice::recordings::Recordings;
use crate::voice::speech::SpeechProviders;
use crate::voice::tokens::CallTokens;

/// Shared by all workers.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub database: Database,
    pub auth: AuthService,
    pub agents: AgentService,
    pub scenarios: ScenarioService,
    pub phone_numbers: PhoneNumberService,
    pub knowledge: KnowledgeService,
    pub calls: CallService,
    pub schedules: ScheduleService,
    pub onboarding: OnboardingService,
    /// Stored Twilio transcripts and the enhanced view of every transcript.
    pub transcripts: TranscriptService,
    pub limiter: Arc<dyn RateLimiter>,
    pub speech: SpeechProviders,
    /// Twilio, when `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` are set.
    pub telephony: Option<Arc<dyn Telephony>>,
    pub call_tokens: CallTokens,
    pub recordings: Recordings,
    pub live_calls: LiveCalls,
    /// Calls reported by webhooks, stored in the background.
    pub call_log_queue: CallLogQueue,
    /// Where the domain's events are told (live feeds, webhooks).
    pub events: Arc<dyn EventPublisher>,
    /// Organisations' calendars, when Google Calendar is configured.
    pub calendar: Option<CalendarService>,
    /// Signs the `state` of calendar consents.
    pub oauth_states: OAuthStates,
    /// The live feeds' source: this instance's events and, with Redis, every instance's.
    pub live_events: EventBus,
    /// Outbound webhook subscriptions and their delivery logs.
    pub webhooks: WebhookService,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("database", &self.database.backend())
            .finish_non_exhaustive()
    }
}
