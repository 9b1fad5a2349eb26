//! Twilio for Switchboard: [`TwilioClient`], the REST adapter of the `Telephony` port that
//! places and controls calls ([`rest`], configured by [`TwilioConfig`]); the Media Streams
//! WebSocket protocol a phone call's audio travels over ([`media`]); the TwiML that connects a
//! call to it ([`twiml`]); the `X-Twilio-Signature` check every Twilio webhook must pass
//! ([`signature`]); and [`TwilioIntelligence`], the Voice Intelligence adapter of the
//! `TranscriptSource` port ([`intelligence`]). Both REST clients share one `transport`
//! (Basic auth, retries, Twilio's error bodies).

mod config;
pub mod intelligence;
pub mod media;
pub mod rest;
pub mod signature;
mod transport;
pub mod twiml;

pub use config::{TwilioConfig, TwilioConfigError};
pub use intelligence::{IntelligenceConfig, TwilioIntelligence};
pub use rest::{CallDetails, MAX_TWIML_CHARS, TwilioClient, call_status};
// The secret type is shared by every provider adapter; it is named here too for this crate's
// users.
pub use switchboard_provider_http::ApiKey;
