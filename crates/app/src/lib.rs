//! The Switchboard server: configuration, the HTTP and WebSocket API, and the wiring of adapters
//! to the domain's ports. Handlers parse, call one service, and map the result; the rules live in
//! `switchboard-domain`.

pub mod adapters;
pub mod call_log_queue;
pub mod cli;
pub mod error;
pub mod events;
pub mod http;
pub mod metrics;
pub mod providers;
pub mod rate_limit;
pub mod reconciler;
pub mod routes;
pub mod scheduler;
pub mod security;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod voice;
pub mod webhooks;
pub mod worker;

pub use settings::Settings;
pub use startup::{Application, Overrides};
