//! The Google adapter of Switchboard's `CalendarProvider` port: [`GoogleCalendar`] builds the
//! OAuth 2 consent URL (offline access, forced consent, the calendar scope), trades codes and
//! refresh tokens at the token endpoint, and speaks Calendar v3 (`events.list`,
//! `events.insert`, `freebusy.query`).
//!
//! Idempotent requests (listing, free/busy, refreshing) are retried on 429, 5xx and connection
//! failures; exchanging a code (single use) and inserting an event (it would book twice) are
//! not. Google's JSON stays inside this crate; the client secret and tokens stay out of every
//! message and debug output.

mod calendar;
mod config;
mod oauth;
mod transport;

pub use calendar::GoogleCalendar;
pub use config::{CALENDAR_SCOPE, GoogleConfig, GoogleConfigError};
// The key type is shared by every provider adapter; it is named here too for this crate's users.
pub use switchboard_provider_http::ApiKey;
