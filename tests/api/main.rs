//! Black-box tests: the real server on port 0, spoken to over HTTP like any client.

mod agents;
mod analysis;
mod analytics;
mod auth;
mod call_logs;
mod calls;
mod conversations;
mod errors;
mod health;
mod knowledge;
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
mod vapi;
mod web_calls;
