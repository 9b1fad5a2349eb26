//! sea-orm entities, one module per table. They stay inside this crate.

pub mod agent;
pub mod calendar_connection;
pub mod call;
pub mod call_analysis;
pub mod call_turn;
pub mod knowledge_document;
pub mod knowledge_vector;
pub mod onboarding;
pub mod organization;
pub mod phone_number;
pub mod refresh_token;
pub mod scenario;
pub mod scheduled_call;
pub mod session;
pub mod stored_twilio_transcript;
pub mod user;
pub mod webhook_delivery;
pub mod webhook_subscription;
