//! Black-box tests: the real server on port 0, spoken to over HTTP like any client.

mod agents;
mod analysis;
mod auth;
mod call_logs;
mod calls;
mod conversations;
mod enhanced_transcripts;
mod errors;
mod google_calendar;
mod health;
mod knowledge;
mod live_events;
mod onboarding;
mod openapi;
mod outbound_calls;
mod phone_calls;
mod phone_numbers;
mod pinecone;
mod robustness;
mod scenarios;
mod scheduled_calls;
mod support;
mod twilio_transcripts;
mod vapi;
mod web_calls;
mod webhooks;
